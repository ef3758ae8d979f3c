"""The JSON shapes of the OpenAI chat-completions protocol that the LLM layer reads and writes.

`Reply` is the provider-neutral form of an answer: what the cache stores and what the gateway
turns back into a `chat.completion` body, whichever backend (upstream or embedded) produced it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from cwmb.llm.errors import LlmError

Json = dict[str, Any]


@dataclass(frozen=True)
class Choice:
    content: str
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Reply:
    model: str
    choices: tuple[Choice, ...]
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> Json:
        return {
            "model": self.model,
            "choices": [
                {"content": c.content, "finish_reason": c.finish_reason} for c in self.choices
            ],
            "usage": {
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
            },
        }

    @classmethod
    def from_json(cls, data: Json) -> Reply:
        usage = data.get("usage") or {}
        return cls(
            model=str(data.get("model", "")),
            choices=tuple(
                Choice(str(c.get("content") or ""), str(c.get("finish_reason") or "stop"))
                for c in data.get("choices", [])
            ),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )


def reply_from_completion(body: Json) -> Reply:
    """Read an upstream `chat.completion` body; a malformed one is an LlmError, not a KeyError."""
    try:
        choices = tuple(
            Choice(
                content=str((c.get("message") or {}).get("content") or ""),
                finish_reason=str(c.get("finish_reason") or "stop"),
            )
            for c in body["choices"]
        )
        usage = body.get("usage") or {}
        return Reply(
            model=str(body.get("model", "")),
            choices=choices,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise LlmError(f"upstream answered with a malformed chat completion ({exc!r})") from exc


def completion_body(reply: Reply, model_id: str) -> Json:
    """A `chat.completion` body for `reply`, reported under the gateway's model id."""
    return {
        "id": f"chatcmpl-cwmb-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": c.content},
                "finish_reason": c.finish_reason,
            }
            for i, c in enumerate(reply.choices)
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


def error_body(message: str, code: str, kind: str = "cwmb_error") -> Json:
    return {"error": {"message": message, "type": kind, "code": code}}


def error_message(body: object) -> str | None:
    """The `error.message` of an OpenAI-style error body, if it has one."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(err, str):
            return err
    return None


def error_code(body: object) -> str | None:
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            return err["code"]
    return None


class HttpError(Exception):
    """An error answer the gateway sends as `{"error": {...}}` with an HTTP status."""

    def __init__(self, status: int, message: str, code: str = "cwmb_error"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def body(self) -> Json:
        return error_body(self.message, self.code)
