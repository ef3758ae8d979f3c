"""The two description tiers.

The standard tier (`description.md`) must carry only what the environment's Gymnasium docstring
says (that is what the paper's prompts were); the detailed tier (`description_detailed.md`) may
add the simulator's equations and constants. The check compares the numbers of each standard text
with the numbers of the docstring of the installed Gymnasium, plus a short, justified allow-list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cwmb import registry
from cwmb.errors import CwmbError

gymnasium = pytest.importorskip("gymnasium")

ENV_IDS = registry.env_ids()

# A number standing alone: not part of a name such as `float32`, `v4` or `hip_4`.
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d*|\.\d+|\d+)(?:[eE]([-+]?\d+))?(?![\w])")

# Numbers a standard text may state although the installed docstring lacks them, with the reason.
ALLOWED: dict[str, dict[float, str]] = {
    "Blackjack-v1": {},
    "CliffWalking-v1": {},
    "Taxi-v4": {},
    "CartPole-v1": {},
    "MountainCar-v0": {},
    "Acrobot-v1": {},
    "Pendulum-v1": {},
    "Reacher-v4": {
        # v4 observes the z part of fingertip - target (11 values); the v5 text documents 10.
        11.0: "v4 observation size and its index 10 (Gymnasium 0.29.1 docstring of v4)",
        10.0: "index 10 of the v4 observation (Gymnasium 0.29.1 docstring of v4)",
    },
    "Pusher-v5": {
        # The v5 docstring misstates the size as 17; its own table lists 23 values (0 to 22).
        23.0: "the real observation size, as in the 0.29.1 docstring",
    },
    "InvertedPendulum-v4": {
        # v5 gives the noise only as `reset_noise_scale`; its default 0.01 is in its table.
    },
    "InvertedDoublePendulum-v4": {
        # v4 observes three constraint forces (11 values); v5 dropped them (9 values).
        11.0: "v4 observation size (Gymnasium 0.29.1 docstring of v4)",
        10.0: "index of the last v4 constraint force (0.29.1 docstring)",
    },
    "HalfCheetah-v4": {},
    "Hopper-v4": {},
    "Swimmer-v4": {},
    "Walker2d-v4": {},
    "Ant-v4": {
        # v5 observes contact forces by default (105 values); v4 does not.
        27.0: "v4 observation size without contact forces (0.29.1 docstring)",
    },
    "Humanoid-v4": {
        # v4 keeps the worldbody and the root's degrees of freedom that v5 excludes.
        376.0: "v4 observation size (0.29.1 docstring; v5 documents 348)",
        140.0: "v4 cinert size, 14 bodies * 10 (0.29.1 docstring)",
        84.0: "v4 cvel and cfrc_ext sizes, 14 bodies * 6 (0.29.1 docstring)",
    },
    "HumanoidStandup-v4": {
        376.0: "v4 observation size (0.29.1 docstring; v5 documents 348)",
        140.0: "v4 cinert size, 14 bodies * 10 (0.29.1 docstring)",
        84.0: "v4 cvel and cfrc_ext sizes, 14 bodies * 6 (0.29.1 docstring)",
        0.105: "v4 starting height of the torso (0.29.1 docstring)",
        0.5: "v4 impact-cost weight as the 0.29.1 docstring writes it (0.5 * 0.000001)",
        0.000001: "the other factor of that weight (v5 writes the product, 5 * 10^-7)",
    },
}

# Words that belong to a simulator's internals; a standard text may use one only where the
# docstring itself does.
SIMULATOR_TERMS = (
    "euler",
    "runge",
    "rk4",
    "integrat",
    "gravity",
    "mass",
    "gear",
    "damping",
    "stiffness",
    "friction",
    "armature",
    "timestep",
    "sin(",
    "cos(",
    "<-",
)


def numbers(text: str) -> set[float]:
    """Every number in `text`, as an absolute value (a sign is a matter of wording)."""
    found = set()
    text = re.sub(r"(?<=\d)x(?=\d)", " x ", text).replace("..", " .. ")  # 4x12, [1..10]
    for match in _NUMBER.finditer(text):
        value = float(match.group(1))
        if match.group(2) is not None:
            value *= 10.0 ** int(match.group(2))
        found.add(round(value, 10))
    return found


def docstring(spec: registry.EnvSpec) -> str:
    """The class docstring of the environment in the installed Gymnasium, read from its source.

    The MuJoCo -v4 classes of Gymnasium 1.x carry no docstring; their -v5 successor documents the
    same robot, so its text stands in, without the version history (which describes v5 changes)."""
    module, cls = gymnasium.spec(spec.gym_id).entry_point.split(":")
    substitute = module.startswith("gymnasium.envs.mujoco.") and module.endswith("_v4")
    if substitute:
        module = module[: -len("_v4")] + "_v5"
    path = Path(gymnasium.__file__).parent.joinpath(*module.split(".")[1:]).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    text = next(
        ast.get_docstring(node) or ""
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == cls
    )
    if substitute:
        text = text.split("## Version History")[0]
    assert text.strip(), f"no docstring found for {spec.gym_id} in {path}"
    return text


def unexplained_numbers(env_id: str, text: str) -> set[float]:
    spec = registry.get(env_id)
    allowed = numbers(docstring(spec)) | set(ALLOWED[env_id])
    return numbers(text) - allowed


def simulator_terms(env_id: str, text: str) -> set[str]:
    doc = docstring(registry.get(env_id)).lower()
    lowered = text.lower()
    return {term for term in SIMULATOR_TERMS if term in lowered and term not in doc}


def test_every_environment_has_both_tiers_and_an_allow_list() -> None:
    assert len(ENV_IDS) == 18
    assert set(ALLOWED) == set(ENV_IDS)
    for env_id in ENV_IDS:
        spec = registry.get(env_id)
        assert spec.description_path.name == "description.md"
        assert spec.description("detailed") != spec.description("standard")
        assert spec.description() == spec.description("standard")


def test_the_number_check_sees_numbers() -> None:
    assert numbers("x in [-2.4, 2.4], 12°, .418 rad, 1e-3, 5e-3") == {
        2.4,
        12.0,
        0.418,
        0.001,
        0.005,
    }
    assert numbers("float32, Taxi-v4, hip_4, obs[2]") == {2.0}
    assert numbers("a 4x12 grid, cells [3, 1..10]") == {4.0, 12.0, 3.0, 1.0, 10.0}


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_standard_text_has_no_number_the_docstring_lacks(env_id: str) -> None:
    text = registry.get(env_id).description("standard")
    assert unexplained_numbers(env_id, text) == set()


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_detailed_text_fails_the_number_check(env_id: str) -> None:
    """The check has teeth: pasting the detailed text as the standard one would be caught."""
    text = registry.get(env_id).description("detailed")
    assert unexplained_numbers(env_id, text), f"{env_id}: the detailed text passes the check"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_standard_text_has_no_simulator_internals(env_id: str) -> None:
    text = registry.get(env_id).description("standard")
    assert simulator_terms(env_id, text) == set()
    assert "```python" not in text.split("## Interface")[0]  # no code of the dynamics


def test_cartpole_standard_text_leaves_out_the_equations_of_motion() -> None:
    standard = registry.get("CartPole-v1").description("standard")
    detailed = registry.get("CartPole-v1").description("detailed")
    for constant in (9.8, 0.1, 0.5, 0.02, 10.0, 1.1):
        assert constant not in numbers(standard)
        assert constant in numbers(detailed)
    assert simulator_terms("CartPole-v1", standard) == set()
    assert {"mass", "euler"} <= simulator_terms("CartPole-v1", detailed)


def test_mujoco_standard_texts_give_no_model_parameters() -> None:
    standard = registry.get("HalfCheetah-v4").description("standard").lower()
    detailed = registry.get("HalfCheetah-v4").description("detailed").lower()
    for word in ("gear", "damping", "stiffness"):
        assert word not in standard
        assert word in detailed


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_standard_text_states_the_contract(env_id: str) -> None:
    text = registry.get(env_id).description("standard")
    for heading in ("## Action space", "## Observation space", "## Reward", "## Starting state"):
        assert heading in text
    assert "## Episode end" in text
    interface = text.split("## Interface", 1)[1]
    assert "set_state(self, state)" in interface and "step(self, action)" in interface
    assert interface == registry.get(env_id).description("detailed").split("## Interface", 1)[1]


def test_an_unknown_tier_is_a_clear_error() -> None:
    with pytest.raises(CwmbError, match="standard, detailed"):
        registry.get("CartPole-v1").description("simple")
