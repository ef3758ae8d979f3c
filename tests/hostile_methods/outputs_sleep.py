"""Attack: never finish.
Expected: `--job-timeout` stops the job; it fails with "exceeded its time limit"."""

import time


def run(task):
    time.sleep(3600)
    return ""
