"""Attack: write 1 GiB to stdout, which a host that buffers a job's output keeps in memory.
Expected: the host keeps only the output's tail; the bench's memory stays bounded, the job counts."""

import os

CHUNK = b"flood " * (1 << 17)  # 768 KiB


def run(task):
    from runners.null import PROGRAM

    written = 0
    while written < 1 << 30:
        written += os.write(1, CHUNK)
    return PROGRAM
