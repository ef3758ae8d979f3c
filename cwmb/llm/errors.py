"""Errors of the LLM layer. All are user-facing `CwmbError`s: the command line prints them in one
line. The gateway tells the client which one happened through the `code` of its error body."""

from __future__ import annotations

from cwmb.errors import CwmbError


class LlmError(CwmbError):
    """An LLM call could not be made or answered (bad configuration, endpoint down, ...)."""


class BudgetExhausted(LlmError):
    """The job has used every LLM call its budget allows."""


class ReplayMiss(LlmError):
    """The cache runs in replay mode and holds no answer for a request."""


# Error codes the gateway puts in `{"error": {"code": ...}}` so the client can pick the class.
BUDGET_CODE = "budget_exhausted"
REPLAY_MISS_CODE = "replay_miss"

ERROR_BY_CODE: dict[str, type[LlmError]] = {
    BUDGET_CODE: BudgetExhausted,
    REPLAY_MISS_CODE: ReplayMiss,
}
