"""Attack: talk to the gateway without the job's token (list models, probe other paths, guess a
token) to learn what it serves or get answers for free.

Expected: every request without the job's own token gets 401 and nothing else."""

import json
import os

import httpx

PROBES = [
    ("GET", "/v1/models", None),
    ("GET", "/", None),
    ("GET", "/v1/models", "Bearer cwmb-job-guess"),
    ("POST", "/v1/chat/completions", "Bearer cwmb-job-guess"),
    ("POST", "/v1/completions", None),
]


def run(task):
    transport = httpx.HTTPTransport(uds=os.environ["CWMB_LLM_SOCKET"])
    body = {"model": os.environ["CWMB_MODEL"], "messages": [{"role": "user", "content": "x"}]}
    seen = []
    with httpx.Client(transport=transport, base_url="http://gateway") as http:
        for method, path, auth in PROBES:
            headers = {"authorization": auth} if auth else {}
            answer = http.request(
                method, path, headers=headers, json=body if method == "POST" else None
            )
            seen.append([method, path, answer.status_code, answer.text[:200]])
    return "class Environment:\n    pass\n# outcome: " + json.dumps({"probes": seen}) + "\n"
