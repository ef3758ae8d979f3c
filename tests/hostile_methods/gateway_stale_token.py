"""Attack: keep spending a job's budget after the job has ended. Seed 0 leaves a detached helper
behind that keeps calling the gateway with seed 0's token for a while; seed 1 just waits, so the
bench (and its gateway) is still running when the helper tries.

Expected: the token dies with its job (and so does its socket): no call of the helper is ever
answered (and where the launcher kills everything a job started, the helper is gone anyway)."""

import subprocess
import sys
import time

HELPER = """
import json, os, time, httpx
answers = []
for _ in range(30):
    time.sleep(0.5)
    try:
        transport = httpx.HTTPTransport(uds=os.environ["CWMB_LLM_SOCKET"])
        with httpx.Client(transport=transport, base_url="http://gateway") as http:
            answers.append(http.post("/v1/chat/completions", json={
                "model": os.environ["CWMB_MODEL"], "messages": [{"role": "user", "content": "late"}]},
                headers={"authorization": "Bearer " + os.environ["CWMB_LLM_TOKEN"]}).status_code)
    except Exception as exc:
        answers.append(type(exc).__name__)
    with open("late.json", "w") as fh:  # in the job's folder, for whoever looks afterwards
        json.dump(answers, fh)
"""


def run(task):
    if task.seed == 0:
        subprocess.Popen(
            [sys.executable, "-c", HELPER],
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    else:
        time.sleep(15)
    return "class Environment:\n    pass\n"
