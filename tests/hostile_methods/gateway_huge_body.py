"""Attack: stream a 1.5 GB request body at the gateway to exhaust the host's memory.

Expected: the gateway refuses the body with 413 once it passes the cap (1 MiB by default), having
read only about that much; the job learns it from the status or a closed connection."""

import json
import os

import httpx

TOTAL = 1_500_000_000
CHUNK = b"x" * (1 << 20)


def run(task):
    sent = 0

    def body():
        nonlocal sent
        yield b'{"model": "m", "messages": [{"role": "user", "content": "'
        while sent < TOTAL:
            sent += len(CHUNK)
            yield CHUNK
        yield b'"}]}'

    transport = httpx.HTTPTransport(uds=os.environ["CWMB_LLM_SOCKET"])
    headers = {"authorization": "Bearer " + os.environ["CWMB_LLM_TOKEN"]}
    with httpx.Client(transport=transport, base_url="http://gateway", headers=headers) as http:
        try:
            status = http.post("/v1/chat/completions", content=body()).status_code
        except httpx.HTTPError as exc:  # the gateway hung up mid-upload
            status = type(exc).__name__
    outcome = {"status": status, "sent_bytes": sent}
    return "class Environment:\n    pass\n# outcome: " + json.dumps(outcome) + "\n"
