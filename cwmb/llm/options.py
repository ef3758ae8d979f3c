"""Command-line options for choosing a model and a cache mode, shared by `cwmb llm check`,
`cwmb bench` and anything else that talks to an LLM."""

from __future__ import annotations

import argparse

from cwmb.llm.cache import CACHE_DIR_ENV, CacheMode, LlmCache
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
