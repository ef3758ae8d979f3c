"""Smoke checks of the project image (`make image` builds it; CWMB_IMAGE picks another tag)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

pytestmark = pytest.mark.docker

IMAGE = os.environ.get("CWMB_IMAGE", "cwmb:latest")
UID = 10001

# The confinement every benchmark job gets (DESIGN.md, Isolation).
JOB_OPTIONS: dict[str, Any] = {
    "network_mode": "none",
    "read_only": True,
    "tmpfs": {"/tmp": ""},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}

# Run as root inside the container (still without capabilities) to look at the whole filesystem.
INSPECT_FILESYSTEM = r"""
import json, os
names = {".netrc", ".pypirc", "pip.conf", "pip.ini", ".git-credentials", ".env", "id_rsa",
         "id_ed25519", "credentials", "config.json", "uv.toml", "heldout.npz", "train.npz"}
dirs = {"pip", "uv", "wheelhouse", "trajectories", ".ssh", ".aws", ".docker"}
found = []
for top, subdirs, files in os.walk("/"):
    if top in ("/proc", "/sys", "/dev"):
        subdirs[:] = []
        continue
    for d in subdirs:
        if d in dirs and "site-packages" not in top:
            found.append(os.path.join(top, d))
    for f in files:
        path = os.path.join(top, f)
        if f in names and "site-packages" not in top:
            found.append(path)
        elif f.endswith(".whl") and "python-wheels" not in top and "ensurepip" not in top:
            found.append(path)
        elif os.path.isfile(path) and not os.path.islink(path) and os.stat(path).st_mode & 0o6000:
            found.append("setuid/setgid: " + path)
print(json.dumps(sorted(found)))
"""


@pytest.fixture(scope="module")
def client() -> Any:
    import docker

    c = docker.from_env()
    yield c
    c.close()


@pytest.fixture(scope="module")
def image(client: Any) -> Any:
    import docker.errors

    try:
        return client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {IMAGE} not found: build it with `make image`", pytrace=False)


def run(client: Any, *command: str, **options: Any) -> str:
    """Stdout of `command` in a fresh container under the job confinement. The container is
    removed in every case (`run(remove=True)` leaves it behind when it fails to start)."""
    container = client.containers.create(IMAGE, list(command), **{**JOB_OPTIONS, **options})
    try:
        container.start()
        status = container.wait(timeout=120)["StatusCode"]
        out = container.logs(stdout=True, stderr=False).decode().strip()
        err = container.logs(stdout=False, stderr=True).decode().strip()
    finally:
        container.remove(force=True)
    assert status == 0, f"{command[0]} exited with {status}: {err[-2000:]}"
    return str(out)


def test_image_config(image: Any) -> None:
    config = image.attrs["Config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["WorkingDir"] == "/opt/cwmb"
    secretish = ("KEY", "TOKEN", "SECRET", "PASSWORD")
    leaked = [e for e in config.get("Env") or [] if any(s in e.split("=")[0] for s in secretish)]
    assert leaked == []


def test_runs_as_unprivileged_user(client: Any, image: Any) -> None:
    assert run(client, "id", "-u") == str(UID)
    assert run(client, "id", "-g") == str(UID)
    # The capability sets of the job's process are empty.
    status = run(client, "grep", "^Cap", "/proc/self/status")
    assert all(line.split()[1] == "0000000000000000" for line in status.splitlines()), status


def test_runtime_works_under_job_confinement(client: Any, image: Any) -> None:
    script = (
        "import json, cwmb, numpy, gymnasium, mujoco;"
        "env = gymnasium.make('CartPole-v1'); obs, _ = env.reset(seed=0);"
        "model = mujoco.MjModel.from_xml_string('<mujoco/>');"
        "print(json.dumps({'cwmb': cwmb.__version__, 'gymnasium': gymnasium.__version__,"
        " 'mujoco': mujoco.__version__, 'obs': len(obs), 'nq': model.nq}))"
    )
    info = json.loads(run(client, "python", "-c", script))
    assert info["gymnasium"] == "1.4.0"
    assert info["mujoco"] == "4.0.0"
    assert info["obs"] == 4
    assert info["nq"] == 0


def test_cwmb_command(client: Any, image: Any) -> None:
    assert run(client, "cwmb", "--help").startswith("usage: cwmb")


def test_root_filesystem_is_read_only(client: Any, image: Any) -> None:
    # As root (still without capabilities) so that only the read-only mount can refuse.
    script = (
        "import errno, os\n"
        "for path in ('/opt/cwmb/x', '/opt/venv/x', '/x'):\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError as exc:\n"
        "        print(path, errno.errorcode[exc.errno])\n"
        "    else:\n"
        "        print(path, 'written')\n"
        "open('/tmp/ok', 'w').write('ok')\n"
    )
    lines = run(client, "python", "-c", script, user="0").splitlines()
    assert lines == ["/opt/cwmb/x EROFS", "/opt/venv/x EROFS", "/x EROFS"]


def test_no_caches_secrets_datasets_or_setuid(client: Any, image: Any) -> None:
    found = json.loads(run(client, "python", "-c", INSPECT_FILESYSTEM, user="0"))
    assert found == []
