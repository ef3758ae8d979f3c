"""The LLM layer: model selection, the client every method uses, the gateway the host runs for a
bench, the record/replay cache and the embedded default model."""

from cwmb.llm.errors import BudgetExhausted, LlmError, ReplayMiss

__all__ = ["BudgetExhausted", "LlmError", "ReplayMiss"]
