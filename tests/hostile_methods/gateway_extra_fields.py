"""Attack: send fields the budget does not account for (`logprobs`, `tools`, a huge
`max_tokens`) and hope the gateway forwards them upstream.

Expected: every field outside the allow-list is refused with 400 naming it; a huge `max_tokens`
alone is served, clamped to the run's setting before it reaches the upstream."""

import json
import os

import httpx

FIELDS = {"logprobs": True, "top_logprobs": 20, "tools": [], "logit_bias": {"1": 100}}


def run(task):
    transport = httpx.HTTPTransport(uds=os.environ["CWMB_LLM_SOCKET"])
    headers = {"authorization": "Bearer " + os.environ["CWMB_LLM_TOKEN"]}
    body = {"model": os.environ["CWMB_MODEL"], "messages": [{"role": "user", "content": "x"}]}
    outcome = {}
    with httpx.Client(transport=transport, base_url="http://gateway", headers=headers) as http:
        for name, value in FIELDS.items():
            outcome[name] = http.post(
                "/v1/chat/completions", json={**body, name: value}
            ).status_code
        huge = http.post("/v1/chat/completions", json={**body, "max_tokens": 10**9})
        outcome["huge_max_tokens"] = huge.status_code
    return "class Environment:\n    pass\n# outcome: " + json.dumps(outcome) + "\n"
