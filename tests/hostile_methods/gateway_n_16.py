"""Attack: buy 16 completions with one budget unit by asking for `n=16`.

Expected: the gateway refuses the request (400, "`n` must be 1") without spending the budget or
calling the upstream; a plain call afterwards still gets its one answer."""

import json
import os

import httpx


def run(task):
    transport = httpx.HTTPTransport(uds=os.environ["CWMB_LLM_SOCKET"])
    headers = {"authorization": "Bearer " + os.environ["CWMB_LLM_TOKEN"]}
    body = {"model": os.environ["CWMB_MODEL"], "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(transport=transport, base_url="http://gateway", headers=headers) as http:
        many = http.post("/v1/chat/completions", json={**body, "n": 16})
        one = http.post("/v1/chat/completions", json=body)
    outcome = {
        "n16_status": many.status_code,
        "n16_error": many.json().get("error", {}).get("message"),
        "n16_choices": len(many.json().get("choices", [])),
        "plain_status": one.status_code,
    }
    return "class Environment:\n    pass\n# outcome: " + json.dumps(outcome) + "\n"
