"""Attack: write 3 GB into the job's output folder.
Expected: the host's watchdog stops the job once the folder is over its quota; the job fails with
"output over quota" and its scratch folder is removed."""

from pathlib import Path

CHUNK = b"\1" * (8 << 20)


def run(task):
    out = Path(task.trace.path).parent
    with (out / "filler.bin").open("wb") as handle:
        for _ in range(3 * 1024 // 8):
            handle.write(CHUNK)
            handle.flush()
    return ""
