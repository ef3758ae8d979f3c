"""Attack: escape as a daemon (double fork + setsid, signals ignored) that outlives the session
and keeps a marker file fresh in /tmp. Answers honestly (zeros)."""

import os
import signal
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        os.closerange(0, 1024)
        while True:
            try:
                with open("/tmp/cwmb-hostile-daemon", "w") as handle:
                    handle.write(str(time.time()))
            except OSError:
                pass
            time.sleep(0.05)
    os._exit(0)
os.wait()


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], 0.0, False
