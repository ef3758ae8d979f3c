"""Attack: replace the gateway's socket with one of the job's own (to read what others send,
or answer for the gateway), or drop files beside it, from inside the job. The job may run under
the uid that owns the socket folder on the host.

Expected: the socket folder is mounted read-only, so every change fails (EROFS/EACCES), while
connecting to the socket still works and the job's call is answered."""

import json
import os
import socket

WAYS = {
    "unlink": lambda path: os.unlink(path),
    "rename": lambda path: os.rename(path, path + ".old"),
    "create": lambda path: open(os.path.join(os.path.dirname(path), "planted"), "w").close(),
    "chmod_folder": lambda path: os.chmod(os.path.dirname(path), 0o777),
    "bind_beside": lambda path: socket.socket(socket.AF_UNIX).bind(path + ".mine"),
}


def run(task):
    path = os.environ["CWMB_LLM_SOCKET"]
    outcome = {"uid": os.getuid(), "folder_owner": os.stat(os.path.dirname(path)).st_uid}
    for name, attempt in WAYS.items():
        try:
            attempt(path)
            outcome[name] = "done"
        except OSError as exc:
            outcome[name] = exc.strerror
    outcome["call"] = task.llm.complete([{"role": "user", "content": "still there?"}])
    return "class Environment:\n    pass\n# outcome: " + json.dumps(outcome) + "\n"
