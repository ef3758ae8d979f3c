"""Attack: reach the network: public addresses, DNS, a TCP port on the host's loopback, the
Docker socket. The reward is the number of attempts that got through."""

import socket

ATTEMPTS = [
    ("tcp", ("1.1.1.1", 443)),
    ("tcp", ("8.8.8.8", 53)),
    ("tcp", ("127.0.0.1", 47931)),  # the test listens here on the host
    ("tcp", ("::1", 47931)),
    ("unix", "/var/run/docker.sock"),
    ("unix", "/run/docker.sock"),
    ("dns", "pypi.org"),
]


def attempt(kind, target):
    try:
        if kind == "dns":
            socket.getaddrinfo(target, 443)
            return 1
        family = socket.AF_UNIX if kind == "unix" else (
            socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        )
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(target)
            return 1
    except OSError:
        return 0


REACHED = float(sum(attempt(kind, target) for kind, target in ATTEMPTS))


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], REACHED, False
