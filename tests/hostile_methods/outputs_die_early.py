"""Attack (or accident): the job dies before writing any output.
Expected: the job fails ("exited with status 3"), the bench exits 0 and `cwmb report` builds."""

import os


def run(task):
    os._exit(3)
