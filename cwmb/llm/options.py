"""Command-line options for choosing a model, its sampling and a cache mode, shared by
`cwmb llm check`, `cwmb bench` and anything else that talks to an LLM."""

from __future__ import annotations

import argparse

from cwmb.errors import CwmbError
from cwmb.llm.cache import CACHE_DIR_ENV, CacheMode, LlmCache
from cwmb.llm.client import Sampling
from cwmb.llm.models import BASE_URL_ENV, DEFAULT_MODEL, MODEL_ENV, ModelSpec, select_model


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="PROVIDER/NAME",
        help=f"model to use (default: ${MODEL_ENV}, else {DEFAULT_MODEL}); e.g. openai/gpt-4o",
    )
    parser.add_argument(
        "--model-base-url",
        metavar="URL",
        help=f"OpenAI-compatible endpoint for openai/NAME (default: ${BASE_URL_ENV}, else OpenAI)",
    )


def add_cache_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache",
        default=CacheMode.READ_WRITE.value,
        metavar="MODE",
        help=(
            "LLM cache mode: read-write (default), replay (a miss is an error, no live call) or "
            f"off; the cache lives in ${CACHE_DIR_ENV}, else the user cache directory"
        ),
    )


def model_from_args(args: argparse.Namespace) -> ModelSpec:
    return select_model(getattr(args, "model", None), getattr(args, "model_base_url", None))


def cache_from_args(args: argparse.Namespace) -> LlmCache:
    return LlmCache(mode=CacheMode.parse(getattr(args, "cache", CacheMode.READ_WRITE.value)))


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    d = Sampling()
    group = parser.add_argument_group(
        "sampling (every LLM call of the run; defaults: the paper's Llama 3 settings)"
    )
    group.add_argument(
        "--temperature", type=float, default=d.temperature, help=f"default {d.temperature}"
    )
    group.add_argument("--top-p", type=float, default=d.top_p, help=f"default {d.top_p}")
    group.add_argument(
        "--top-k",
        type=int,
        default=d.top_k,
        help=f"default {d.top_k}; 0 sends none (OpenAI's own API never gets one)",
    )
    group.add_argument(
        "--max-tokens",
        type=int,
        default=d.max_tokens,
        help=f"new tokens per answer, default {d.max_tokens}",
    )


def sampling_from_args(args: argparse.Namespace) -> Sampling:
    """The sampling settings given on the command line; a value out of range is a CwmbError."""
    d = Sampling()
    temperature = getattr(args, "temperature", d.temperature)
    top_p = getattr(args, "top_p", d.top_p)
    top_k = getattr(args, "top_k", d.top_k)
    max_tokens = getattr(args, "max_tokens", d.max_tokens)
    if not 0.0 <= temperature <= 2.0:
        raise CwmbError(f"--temperature must be between 0 and 2, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise CwmbError(f"--top-p must be in (0, 1], got {top_p}")
    if top_k is not None and top_k < 0:
        raise CwmbError(f"--top-k must be >= 0 (0: none), got {top_k}")
    if max_tokens < 1:
        raise CwmbError(f"--max-tokens must be at least 1, got {max_tokens}")
    return Sampling(
        max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k or None
    )
