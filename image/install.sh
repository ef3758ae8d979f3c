#!/bin/sh
# Runs inside the build stages of the Dockerfile (root, /src holds pyproject.toml and uv.lock).
#   install.sh deps     bootstrap uv, create /opt/venv and install the locked runtime dependencies
#   install.sh project  install cwmb, runners and analysis from /src into /opt/project
# With WHEELHOUSE set, pip and uv read only that directory (no index, no network).
set -eu

VENV=/opt/venv
UV=/opt/uv/bin/uv
export UV_NO_CACHE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# uv has no environment variable for --no-index, hence $OFFLINE on its command lines.
OFFLINE=
if [ -n "${WHEELHOUSE:-}" ]; then
    export PIP_NO_INDEX=1 PIP_FIND_LINKS="$WHEELHOUSE" UV_FIND_LINKS="$WHEELHOUSE" UV_OFFLINE=1
    OFFLINE=--no-index
fi

case "$1" in
deps)
    # uv comes from PyPI (or the wheelhouse) like everything else: no container registry needed.
    python3 -m venv /opt/uv
    /opt/uv/bin/pip install --quiet "uv==${UV_VERSION:?}"
    "$UV" export --quiet --project /src --frozen --no-dev --no-emit-project \
        --format requirements-txt --output-file /tmp/requirements.txt
    "$UV" venv --quiet --python "$(command -v python3)" "$VENV"
    # The export carries the lock's sha256 for every file, so uv verifies each wheel.
    "$UV" pip install --quiet $OFFLINE --python "$VENV/bin/python" --require-hashes --only-binary :all: \
        --compile-bytecode -r /tmp/requirements.txt
    ;;
project)
    # Not editable: the image holds one installed copy. The build backend (setuptools) comes
    # from the index or the wheelhouse. Installed under /opt/project with the layout of /opt/venv
    # and compiled as if it lived there, so tracebacks name the final paths.
    "$UV" pip install --quiet $OFFLINE --python "$VENV/bin/python" --prefix /opt/project \
        --no-deps /src
    "$VENV/bin/python" -m compileall -q -d "$VENV" /opt/project
    ;;
*)
    echo "usage: install.sh deps|project" >&2
    exit 2
    ;;
esac
