"""Scoring a program on recorded transitions: drive a sandbox session, then score on this side."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

from cwmb.dataset import Transitions, load_split
from cwmb.formats import to_plain
from cwmb.formatting import format_program
from cwmb.registry import EnvSpec
from cwmb.sandbox.base import Executor, Limits, ProgramFormats, SandboxError, Session
from cwmb.scoring import Prediction, SplitScore, failed, score

CHUNK = 2000  # transitions per request: bounds message size and makes timeouts per chunk


def program_formats(spec: EnvSpec) -> ProgramFormats:
    return ProgramFormats(observation=spec.observation.to_dict(), action=spec.action.to_dict())


@functools.lru_cache(maxsize=64)
def _trusted_texts(reference: str) -> frozenset[str]:
    """A reference program as shipped and as the runner formats candidates (autopep8): the same
    trusted code, whichever of the two a method hands back."""
    return frozenset({reference, format_program(reference)})


def sandbox_profile(spec: EnvSpec, source: str) -> str:
    """The host's choice of sandbox profile: "reference" (MuJoCo and the project's environment
    helpers) only for the environment's own reference program, byte for byte (as shipped or as
    formatted for scoring), whoever hands it over (trusted code stays trusted); "program"
    (standard library and numpy) for anything else."""
    try:
        reference = spec.reference_source()
    except OSError:  # no reference shipped here (a job's image blanks them)
        return "program"
    if reference.strip() and source in _trusted_texts(reference):
        return "reference"
    return "program"


def open_program(
    executor: Executor, spec: EnvSpec, source: str, limits: Limits | None = None
) -> Session:
    """A session of `source` in the profile the host chooses for it (`sandbox_profile`)."""
    return executor.open(source, program_formats(spec), limits, sandbox_profile(spec, source))


def predict(
    session: Session, data: Transitions, progress: Callable[[int], None] | None = None
) -> list[Prediction]:
    """Ask the program for every transition of `data`, in order."""
    predictions: list[Prediction] = []
    for start in range(0, len(data), CHUNK):
        stop = min(start + CHUNK, len(data))
        states = [to_plain(s) for s in data.obs[start:stop]]
        actions = [to_plain(a) for a in data.action[start:stop]]
        predictions.extend(session.step_batch(states, actions))
        if progress:
            progress(stop - start)
    return predictions


def score_program(
    spec: EnvSpec,
    source: str,
    splits: Iterable[str],
    executor: Executor,
    limits: Limits | None = None,
) -> dict[str, SplitScore]:
    """Score `source` on each split in a fresh session; a program that cannot run scores 0."""
    datasets = {split: load_split(spec, split) for split in splits}
    try:
        with open_program(executor, spec, source, limits) as session:
            return {
                split: score(spec, data, predict(session, data)) for split, data in datasets.items()
            }
    except SandboxError as exc:
        return {split: failed(data, str(exc)) for split, data in datasets.items()}
