"""Attack: ignore every catchable signal (TERM, ALRM, INT, HUP, XCPU), then loop forever."""

import signal

for name in ("SIGTERM", "SIGALRM", "SIGINT", "SIGHUP", "SIGXCPU", "SIGUSR1"):
    signal.signal(getattr(signal, name), signal.SIG_IGN)


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        signal.alarm(0)
        while True:
            pass
