"""Attack: seed 0 opens thousands of connections to the gateway and holds them, to make other
jobs' calls fail and to use up the host's file descriptors; seed 1 is the victim, calling the
gateway once a second meanwhile.

Expected: the flooding job only ever blocks itself (its connections past the per-job cap are
closed at once); every call of the victim is answered. Both report their times, so a test can
check that the victim's calls fell inside the flood."""

import json
import os
import socket
import time

CONNECTIONS = 5000
HOLD_S = 25.0


def flood():
    held, refused = [], 0
    for _ in range(CONNECTIONS):
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(2)
        try:
            sock.connect(os.environ["CWMB_LLM_SOCKET"])
            held.append(sock)
        except OSError:
            refused += 1
            sock.close()
    start = time.time()
    time.sleep(HOLD_S)
    for sock in held:
        sock.close()
    return {"opened": len(held), "refused": refused, "held_from": start, "held_to": time.time()}


def call_meanwhile(task):
    calls = []
    deadline = time.time() + HOLD_S + 10
    while time.time() < deadline and task.llm.left:
        try:
            task.llm.complete([{"role": "user", "content": f"call {len(calls)}"}])
            calls.append([time.time(), "ok"])
        except Exception as exc:  # the outcome to report, whatever it is
            calls.append([time.time(), repr(exc)[:200]])
        time.sleep(1.0)
    return {"calls": calls}


def run(task):
    outcome = flood() if task.seed == 0 else call_meanwhile(task)
    return "class Environment:\n    pass\n# outcome: " + json.dumps(outcome) + "\n"
