#!/usr/bin/env bash
# Build the project image on a machine that reaches package registries but no container registry.
#
#   1. base image: Debian bookworm (minbase + python3.11) made with debootstrap from the Debian
#      mirror apt uses, then `docker import`; cached under a tag derived from its recipe.
#   2. wheelhouse: the locked runtime wheels, downloaded on the host into image/wheelhouse/;
#      skipped when uv.lock and the tool pins have not changed.
#   3. `docker build` of the normal Dockerfile with BASE_IMAGE=<that base> and
#      WHEELHOUSE=/wheelhouse, with networking off: nothing inside the build reaches the network.
# Tags: cwmb:latest (or $CWMB_IMAGE) and cwmb:<first 12 hex digits of the image id>.
#
# Environment:
#   CWMB_IMAGE                 image name:tag            (default cwmb:latest)
#   CWMB_DEBIAN_MIRROR         Debian mirror             (default: the one apt uses, else deb.debian.org)
#   CWMB_DEBIAN_SECURITY       Debian security mirror    (default http://deb.debian.org/debian-security)
#   CWMB_REBUILD_BASE=1        rebuild the base image even when its tag exists (fresh security fixes)
#   CWMB_PYTHON                host Python 3.11 used to run pip download (default: found by uv)
#
# This folder is called image/, not docker/: a top-level docker/ folder would shadow the `docker`
# package for mypy (it resolves imports from the working directory first).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# One build at a time: concurrent runs would swap the wheelhouse under each other.
exec 9>"${TMPDIR:-/tmp}/cwmb-build-image.lock"
if ! flock -n 9; then
    echo "build-image: waiting for another build to finish" >&2
    flock 9
fi

# uv from PATH, else the copy `make setup` bootstraps into .tools/.
UV=${UV:-$(command -v uv || echo "$ROOT/.tools/bin/uv")}

IMAGE=${CWMB_IMAGE:-cwmb:latest}
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv
SECURITY_MIRROR=${CWMB_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
WHEELHOUSE=image/wheelhouse
# Tools that must be identical on both build paths (the Dockerfile has the same uv default).
UV_VERSION=0.13.9
SETUPTOOLS_VERSION=84.2.1
PIP_VERSION=26.3
# Wheels must run on bookworm (glibc 2.36) with CPython 3.11 on x86_64, whatever the host is.
PLATFORMS=(manylinux2014_x86_64 manylinux2010_x86_64 manylinux1_x86_64)
for minor in $(seq 17 36); do PLATFORMS+=("manylinux_2_${minor}_x86_64"); done

say() { echo "build-image: $*"; }
die() { echo "build-image: error: $*" >&2; exit 1; }

# Temporary directories removed (and /proc unmounted inside them) however the script ends.
SCRATCH=()
cleanup() {
    local d
    for d in "${SCRATCH[@]}"; do
        umount "$d/rootfs/proc" 2>/dev/null || true
        rm -rf "$d"
    done
}
trap cleanup EXIT

scratch_dir() {  # scratch_dir VAR TEMPLATE: make a temporary directory, remember it, store it in VAR
    local d
    d=$(mktemp -d "$2")
    SCRATCH+=("$d")
    printf -v "$1" '%s' "$d"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Run "$@" and report how long it took.
timed() {
    local label=$1 start
    shift
    start=$(now_ms)
    "$@"
    local ms=$(($(now_ms) - start))
    say "$label took $((ms / 1000)).$(((ms % 1000) / 100)) s"
}

sha12() { sha256sum | cut -c1-12; }

# The first URI that apt uses for "$SUITE" main (deb822 or one-line format).
detect_mirror() {
    local uri
    uri=$(awk -v suite="$SUITE" '
        /^[[:space:]]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
        $1 == "URIs:" { u = $2 }
        $1 == "Suites:" { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
        $1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2; exit }
        END { if (u != "" && s) print u }
    ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n1)
    echo "${uri:-http://deb.debian.org/debian}"
}

ensure_tools() {
    docker info >/dev/null 2>&1 || die "no Docker engine answers (run .ci/docker-engine.sh)"
    [ -x "$UV" ] || command -v "$UV" >/dev/null || die "uv is missing (run make setup)"
    if ! command -v debootstrap >/dev/null; then
        [ "$(id -u)" -eq 0 ] || die "debootstrap is missing and installing it needs root"
        say "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap \
            || { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
                 apt-get install -y -q --no-install-recommends debootstrap; }
    fi
}

# debootstrap a minimal bookworm with python3, bring it up to date with the point and security
# updates, strip what a container does not need and import it as a one-layer image.
make_base() {
    local tag=$1 mirror=$2 dir
    [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
    scratch_dir dir /var/tmp/cwmb-base.XXXXXX
    say "debootstrap $SUITE (minbase + $BASE_PACKAGES) from $mirror"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$dir/rootfs" "$mirror" \
        >"$dir/debootstrap.log" 2>&1 || { tail -n 20 "$dir/debootstrap.log" >&2; die "debootstrap failed"; }
    local r=$dir/rootfs
    cat >"$r/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod +x "$r/usr/sbin/policy-rc.d"
    mount -t proc proc "$r/proc"
    chroot "$r" apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get -y -q -o Dpkg::Options::=--force-confold \
        upgrade >"$dir/upgrade.log" 2>&1 || { tail -n 20 "$dir/upgrade.log" >&2; die "apt upgrade failed"; }
    chroot "$r" apt-get clean
    umount "$r/proc"
    rm -f "$r/usr/sbin/policy-rc.d"
    # Docker supplies resolv.conf/hostname at run time; the host's copies must not leak in.
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/log/* "$r"/tmp/* \
        "$r"/var/tmp/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/root/.cache
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
    : >"$r/etc/resolv.conf"
    : >"$r/etc/machine-id"
    echo localhost >"$r/etc/hostname"
    chroot "$r" python3 -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 11)'
    tar --numeric-owner -C "$r" -c . |
        docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
            --message "debootstrap $SUITE minbase + $BASE_PACKAGES" - "$tag" >/dev/null
}

# Sets BASE to the tag of the base image, building it unless cached.
base_image() {
    local mirror key tag
    mirror=${CWMB_DEBIAN_MIRROR:-$(detect_mirror)}
    # The tag changes whenever the recipe does; the mirror is only where the bytes come from.
    key=$( { declare -f make_base; echo "$SUITE $BASE_PACKAGES"; } | sha12)
    tag="cwmb-base:$SUITE-$key"
    if [ "${CWMB_REBUILD_BASE:-0}" != 1 ] && docker image inspect "$tag" >/dev/null 2>&1; then
        say "base image $tag cached"
    else
        timed "base image $tag" make_base "$tag" "$mirror"
    fi
    BASE=$tag
}

# pip download DEST ARGS...: wheels for the image's platform, fetched by a pinned pip run with a
# host Python 3.11 (environment markers in the requirements are evaluated by that interpreter).
pip_download() {
    local dest=$1 p platform_args=()
    shift
    for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
    "$UV" run --quiet --no-project --isolated --python "${CWMB_PYTHON:-3.11}" --with "pip==$PIP_VERSION" \
        python -m pip download -qq --disable-pip-version-check --only-binary :all: \
        --implementation cp --python-version 3.11 "${platform_args[@]}" --dest "$dest" "$@"
}

# Download every locked wheel (plus uv and setuptools for the build) into the wheelhouse.
download_wheels() {
    local reqs=$1 tmp
    scratch_dir tmp "$WHEELHOUSE.tmp.XXXXXX"
    # The export pins every file's sha256: pip refuses anything that differs from the lock.
    pip_download "$tmp" --require-hashes --no-deps -r "$reqs"
    pip_download "$tmp" --no-deps "uv==$UV_VERSION" "setuptools==$SETUPTOOLS_VERSION"
    find "$WHEELHOUSE" -maxdepth 1 -name '*.whl' -delete
    mv "$tmp"/*.whl "$WHEELHOUSE"/
}

wheelhouse() {
    local dir reqs stamp want
    scratch_dir dir /tmp/cwmb-reqs.XXXXXX
    reqs=$dir/requirements.txt
    "$UV" export --quiet --frozen --no-dev --no-emit-project --no-header --format requirements-txt \
        --output-file "$reqs"
    want=$( { cat "$reqs"; echo "$UV_VERSION $SETUPTOOLS_VERSION ${PLATFORMS[*]}"; } | sha12)
    stamp=$WHEELHOUSE/.stamp
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        [ -n "$(find "$WHEELHOUSE" -maxdepth 1 -name '*.whl' -print -quit)" ]; then
        say "wheelhouse up to date ($(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels)"
        return
    fi
    rm -f "$stamp"
    timed "wheel download" download_wheels "$reqs"
    echo "$want" >"$stamp"
    say "wheelhouse: $(find "$WHEELHOUSE" -name '*.whl' | wc -l) wheels, $(du -sh "$WHEELHOUSE" | cut -f1)"
}

build() {
    local base=$1 id
    # --network none proves the build is offline; the classic builder needs no BuildKit plugin.
    # (The client's notice that the classic builder is deprecated is dropped from stderr.)
    DOCKER_BUILDKIT=0 docker build --network none --force-rm --quiet \
        --build-arg "BASE_IMAGE=$base" --build-arg WHEELHOUSE=/wheelhouse \
        --build-arg "UV_VERSION=$UV_VERSION" -t "$IMAGE" . \
        >/dev/null 2> >(grep -v -e '^DEPRECATED: The legacy builder' -e 'BuildKit is currently disabled' \
            -e 'environment-variable\.$' -e '^$' >&2)
    id=$(docker image inspect --format '{{.Id}}' "$IMAGE")
    id=${id#sha256:}
    local repo=${IMAGE%:*} tag
    docker tag "$IMAGE" "$repo:${id:0:12}"
    # Untag digests of earlier builds (their layers stay while a container still uses them).
    for tag in $(docker image ls --format '{{.Tag}}' "$repo"); do
        if [[ $tag =~ ^[0-9a-f]{12}$ && $tag != "${id:0:12}" ]]; then
            docker rmi "$repo:$tag" >/dev/null 2>&1 || true
        fi
    done
    say "built $IMAGE = $repo:${id:0:12} ($(docker image inspect --format '{{.Size}}' "$IMAGE" | numfmt --to=iec))"
}

main() {
    local start
    start=$(now_ms)
    ensure_tools
    base_image
    timed "wheelhouse" wheelhouse
    timed "docker build" build "$BASE"
    local ms=$(($(now_ms) - start))
    say "done in $((ms / 1000)).$(((ms % 1000) / 100)) s"
}

main "$@"
