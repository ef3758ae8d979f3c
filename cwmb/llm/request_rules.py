"""What the gateway lets a job ask for: the allow-list of chat-request fields and their checks.

A job's request is untrusted. Only the fields below reach the cache key and the backend; anything
else is refused with one clear 400 rather than dropped, so a method never believes that a field
it sent (logprobs, tools, n, ...) took effect. `n` must be 1: one budget unit buys one completion.
`max_tokens` is clamped to the run's setting (and set to it when missing), so no request costs
more than the run allows.
"""

from __future__ import annotations

from typing import Any

from cwmb.llm.wire import HttpError, Json

# Fields a chat request may carry. `n` and `stream` are accepted only at their neutral values
# (1 and false) and are not forwarded.
SAMPLING_FIELDS = ("temperature", "top_p", "top_k", "max_tokens", "stop", "seed")
ALLOWED_FIELDS = frozenset(("model", "messages", *SAMPLING_FIELDS, "n", "stream"))
ROLES = frozenset(("system", "user", "assistant"))
MAX_STOP_SEQUENCES = 4
INVALID = "invalid_request"


def _refuse(message: str) -> HttpError:
    return HttpError(400, message, INVALID)


def _number(body: Json, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _refuse(f"`{name}` must be a number from {low} to {high}, got {value!r}")
    return value


def _integer(body: Json, name: str, low: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _refuse(f"`{name}` must be an integer >= {low}, got {value!r}")
    return value


def _messages(value: Any) -> list[Json]:
    if not isinstance(value, list) or not value:
        raise _refuse("a chat request needs a non-empty `messages` list")
    out = []
    for i, message in enumerate(value):
        if (
            not isinstance(message, dict)
            or set(message) != {"role", "content"}
            or message["role"] not in ROLES
            or not isinstance(message["content"], str)
        ):
            raise _refuse(
                f"message {i} must be {{'role': one of {sorted(ROLES)}, 'content': a string}} "
                "and nothing else"
            )
        out.append({"role": message["role"], "content": message["content"]})
    return out


def _stop(value: Any) -> list[str] | None:
    if value is None:
        return None
    stops = [value] if isinstance(value, str) else value
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise _refuse(f"`stop` must be a string or a list of at most {MAX_STOP_SEQUENCES} strings")
    return stops


def admit(body: Any, model_id: str, max_tokens: int) -> Json:
    """The request the gateway will serve, built from the allowed fields of `body` only.
    Raises HttpError (400, or 404 for another model) with a message naming what is wrong."""
    if not isinstance(body, dict):
        raise _refuse("the request body must be a JSON object")
    unknown = sorted(str(k) for k in set(body) - ALLOWED_FIELDS)
    if unknown:
        raise _refuse(
            f"the CWMB gateway does not accept {', '.join(unknown)}; "
            f"a chat request may carry only {', '.join(sorted(ALLOWED_FIELDS))}"
        )
    if body.get("stream") not in (None, False):
        raise _refuse("the CWMB gateway does not stream; send stream=false")
    if body.get("n") not in (None, 1):
        raise _refuse(
            f"`n` must be 1 (got {body['n']!r}): each completion is one LLM call of the budget; "
            "make several calls instead"
        )
    if body.get("model") != model_id:
        raise HttpError(
            404, f"this gateway serves {model_id}, not {body.get('model')!r}", "model_not_found"
        )
    asked = _integer(body, "max_tokens", 1)
    request: Json = {
        "model": model_id,
        "messages": _messages(body.get("messages")),
        "temperature": _number(body, "temperature", 0.0, 2.0),
        "top_p": _number(body, "top_p", 0.0, 1.0),
        "top_k": _integer(body, "top_k", 1),
        "max_tokens": max_tokens if asked is None else min(asked, max_tokens),
        "stop": _stop(body.get("stop")),
        "seed": _integer(body, "seed", -(2**63)),
    }
    return {k: v for k, v in request.items() if v is not None}
