#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine, installing and starting one if needed.
#
# Meant for CI machines like ours: Debian 12 (bookworm), root, no init system to manage
# services, and no container registry (only the Debian mirror). Idempotent: when an engine
# already answers it only prints its version.
#
# Environment:
#   CWMB_DOCKERD_LOG      dockerd's log file            (default /var/log/cwmb-dockerd.log)
#   CWMB_DOCKERD_TIMEOUT  seconds to wait for the engine (default 60)
#   CWMB_DOCKERD_ARGS     extra dockerd arguments       (default none)
set -euo pipefail

LOG=${CWMB_DOCKERD_LOG:-/var/log/cwmb-dockerd.log}
TIMEOUT=${CWMB_DOCKERD_TIMEOUT:-60}

say() { echo "docker-engine: $*"; }
die() { echo "docker-engine: error: $*" >&2; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }

print_version() {
    docker version --format 'engine {{.Server.Version}} (API {{.Server.APIVersion}}), client {{.Client.Version}}'
    docker info --format 'storage driver {{.Driver}}, cgroup {{.CgroupDriver}} v{{.CgroupVersion}}'
}

install_engine() {
    [ "$(id -u)" -eq 0 ] || die "installing Docker needs root"
    command -v apt-get >/dev/null || die "no apt-get: install a Docker engine by hand"
    say "installing docker.io from the Debian archive"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # Without recommends: apparmor/needrestart only get in the way on a CI machine.
    apt-get install -y -q --no-install-recommends docker.io
}

# dockerd needs cgroups; a bare machine may boot without them mounted.
ensure_cgroups() {
    if [ -e /sys/fs/cgroup/cgroup.controllers ] || [ -d /sys/fs/cgroup/memory ]; then
        return
    fi
    say "no cgroup hierarchy mounted; mounting cgroup2 at /sys/fs/cgroup"
    mkdir -p /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup || die "cannot mount cgroup2 (see 'dmesg')"
}

# Start dockerd detached from this shell (it must outlive the CI step) and wait for it.
start_engine() {
    local pid waited=0
    mkdir -p "$(dirname "$LOG")"
    echo "=== $(date -u +%FT%TZ) dockerd $*" >>"$LOG"
    # shellcheck disable=SC2086  # CWMB_DOCKERD_ARGS is a list of words on purpose
    setsid dockerd ${CWMB_DOCKERD_ARGS:-} "$@" >>"$LOG" 2>&1 </dev/null &
    pid=$!
    while ! engine_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "dockerd exited during start-up; last lines of $LOG:" >&2
            tail -n 15 "$LOG" >&2
            return 1
        fi
        if [ "$waited" -ge $((TIMEOUT * 2)) ]; then
            tail -n 15 "$LOG" >&2
            die "dockerd (pid $pid) did not answer within ${TIMEOUT}s; log: $LOG"
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    say "dockerd pid $pid answers after ~$((waited / 2))s (log: $LOG)"
}

main() {
    if engine_answers; then
        say "an engine already answers"
        print_version
        return
    fi
    command -v dockerd >/dev/null || install_engine
    command -v dockerd >/dev/null || die "dockerd still missing after installing docker.io"
    command -v docker >/dev/null || die "no docker client found"
    [ "$(id -u)" -eq 0 ] || die "starting dockerd needs root"
    ensure_cgroups
    if ! start_engine; then
        # Some kernels lack the netfilter pieces the default bridge needs. Benchmark jobs and the
        # image build use no network, so an engine without the bridge still serves them.
        say "retrying without iptables and the default bridge (containers get --network none only)"
        start_engine --iptables=false --bridge=none ||
            die "dockerd does not start; see $LOG"
    fi
    print_version
}

main "$@"
