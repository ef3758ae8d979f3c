"""Attack: search the whole disk for held-out data (heldout.npz, trajectories/, MANIFEST.json)
and for any .npz file. Reports what it found: next state = [held-out files, trajectory
folders, npz files, files scanned]."""

import os
import time

HELDOUT = TRAJ = NPZ = SCANNED = 0
deadline = time.monotonic() + 2.0
for top in ("/", "/work", "/home", "/root", "/opt", "/data", "/srv", "/mnt"):
    for folder, dirs, files in os.walk(top):
        if time.monotonic() > deadline:
            break
        dirs[:] = [d for d in dirs if not folder == "/" or d not in ("proc", "sys", "dev")]
        SCANNED += len(files)
        TRAJ += "trajectories" in dirs
        HELDOUT += "heldout.npz" in files
        NPZ += sum(name.endswith(".npz") for name in files)
for guess in ("/work/main/trajectories", "/opt/cwmb/trajectories", "trajectories", "../trajectories"):
    TRAJ += os.path.isdir(guess)


class Environment:
    def set_state(self, state):
        self.state = state

    def step(self, action):
        return [float(HELDOUT), float(TRAJ), float(NPZ), float(SCANNED)], 0.0, False
