"""The runner API: what a method gets (`Task`) and how `METHOD=<name>` finds it.

A method is a function `run(task: Task) -> str` that returns the best program it found. It lives in
`runners/<name with - as _>.py` (or a package of that name), or in another distribution that
registers it under the entry-point group `cwmb.runners`:

    [project.entry-points."cwmb.runners"]
    my-method = "my_package.my_module:run"

A `Task` holds the environment's description and formats, the train split, an LLM bound to the
job's budget (`task.llm.complete(messages) -> str`; `BudgetExhausted` once the budget is spent),
`task.evaluate(program)` (scored on the train split in a sandbox child process, never in the job's
own process), a seeded `numpy.random.Generator` and the trace writer. Helpers `generate`,
`improve`, `fix` and `repair` send the shared prompts of `cwmb.prompts` and return the parsed
program.

Every candidate is formatted with autopep8 before it is scored (`cwmb.formatting`, as the authors
did), and the formatted text is the program from then on: the helpers return it, `evaluate` scores
it and `best_program` holds it. The best program is the one with the highest `credit` (accuracy,
0 for a program that raised); at equal credit the earlier one stays."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, cast

import numpy as np

from cwmb import prompts
from cwmb.dataset import Transitions
from cwmb.errors import CwmbError
from cwmb.evaluation import open_program, predict
from cwmb.formatting import format_program
from cwmb.llm.errors import BudgetExhausted, LlmError
from cwmb.program_parser import extract_program
from cwmb.registry import EnvSpec, SpaceFormat
from cwmb.sandbox.base import Executor, Limits, SandboxError
from cwmb.scoring import SplitScore, failed, score
from cwmb.trace import TraceWriter

ENTRY_POINT_GROUP = "cwmb.runners"
RUNNERS_PACKAGE = "runners"
# Limits for scoring one candidate on the train split inside a job.
CANDIDATE_LIMITS = Limits(wall_seconds=30.0, load_seconds=15.0, cpu_seconds=120)

Runner = Callable[["Task"], str]


# -- evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """How a candidate program does on the train split."""

    accuracy: float
    state_accuracy: float | None
    reward_accuracy: float | None
    done_accuracy: float | None
    solved: bool  # every scored transition right
    n_transitions: int
    n_errors: int  # transitions on which the program raised (all of them if it failed to load)
    error: str | None  # the first error with its traceback, None if the program never raised
    first_mismatch: dict[str, Any] | None  # input, expected and predicted of the first mistake
    # The authors' metric on the same split (cwmb.paper_metric); None where it was not computed.
    paper_accuracy: float | None = None

    @property
    def buggy(self) -> bool:
        """The program raised (while loading or on at least one transition)."""
        return self.error is not None

    @property
    def credit(self) -> float:
        """The accuracy a method ranks programs by: 0 for a program that raised anywhere, as in
        the authors' code (their evaluation scores such a program 0 as a whole)."""
        return 0.0 if self.buggy else self.accuracy

    @classmethod
    def from_score(cls, split: SplitScore) -> Evaluation:
        return cls(
            accuracy=split.accuracy,
            state_accuracy=split.state_accuracy,
            reward_accuracy=split.reward_accuracy,
            done_accuracy=split.done_accuracy,
            solved=split.solved,
            n_transitions=split.n_transitions,
            n_errors=split.n_errors,
            error=split.error,
            first_mismatch=split.first_mismatch,
            paper_accuracy=split.paper_accuracy,
        )

    def summary(self) -> dict[str, Any]:
        """The numbers, without the (possibly long) mismatch and traceback."""
        return {
            "accuracy": self.accuracy,
            "paper_accuracy": self.paper_accuracy,
            "state_accuracy": self.state_accuracy,
            "reward_accuracy": self.reward_accuracy,
            "done_accuracy": self.done_accuracy,
            "solved": self.solved,
            "n_errors": self.n_errors,
            "credit": self.credit,
        }


class SandboxEvaluator:
    """Scores programs on one split, each in a fresh sandbox session of `executor`."""

    def __init__(
        self,
        spec: EnvSpec,
        data: Transitions,
        executor: Executor,
        limits: Limits = CANDIDATE_LIMITS,
    ):
        self.spec, self.data, self.executor, self.limits = spec, data, executor, limits

    def __call__(self, program: str) -> Evaluation:
        try:
            with open_program(self.executor, self.spec, program, self.limits) as session:
                split = score(self.spec, self.data, predict(session, self.data))
        except SandboxError as exc:
            split = failed(self.data, str(exc))
        return Evaluation.from_score(split)


def program_id(program: str) -> str:
    return hashlib.sha256(program.encode()).hexdigest()[:16]


# -- the LLM, bound to the job's budget --------------------------------------------------------


class ChatModel(Protocol):
    """Anything that answers chat messages: `cwmb.llm.client.LlmClient`, or a test double. The
    answer may be a string or an object with a `text` attribute."""

    def complete(self, messages: Sequence[dict[str, Any]], *, seed: int | None = None) -> Any: ...


class TaskLLM:
    """The job's LLM: counts calls against the budget and records each call in the trace.

    The call past the budget raises `BudgetExhausted` without reaching the gateway (which enforces
    the same budget on its side). Each call gets a sampling seed derived from the job's seed and
    the call's index, so endpoints that honour seeds answer reproducibly."""

    def __init__(self, model: ChatModel | None, budget: int, trace: TraceWriter, seed: int = 0):
        if budget < 0:
            raise CwmbError(f"the LLM budget must be >= 0, got {budget}")
        self._model = model
        self.budget = budget
        self.calls = 0
        self._trace = trace
        self._seed = seed

    @property
    def left(self) -> int:
        return max(0, self.budget - self.calls)

    def complete(
        self, messages: Sequence[Mapping[str, Any]], purpose: str = "", **sampling: Any
    ) -> str:
        """One answer to `messages`; `purpose` (generate/improve/fix/...) is only recorded."""
        if self.calls >= self.budget:
            raise BudgetExhausted(f"the job's budget of {self.budget} LLM calls is spent")
        if self._model is None:
            raise LlmError("this job has no LLM gateway (give --llm-url or --llm-socket)")
        sampling.setdefault("seed", (self._seed * 1_000_003 + self.calls) % 2**31)
        index = self.calls
        try:
            answer = self._model.complete([dict(m) for m in messages], **sampling)
        except BudgetExhausted:
            self.budget = self.calls  # the gateway says so: nothing is left
            raise
        self.calls += 1
        text = answer if isinstance(answer, str) else str(getattr(answer, "text", ""))
        usage = {
            k: getattr(answer, k)
            for k in (
                "prompt_tokens",
                "completion_tokens",
                "latency_s",
                "finish_reason",
                "cache_hit",
            )
            if hasattr(answer, k)
        }
        self._trace.write(
            "llm",
            call=index,
            purpose=purpose,
            messages=list(messages),
            sampling=sampling,
            response=text,
            **usage,
        )
        return text


# -- the task --------------------------------------------------------------------------------


@dataclass
class Task:
    """Everything a method gets for one job (one method, one environment, one seed)."""

    spec: EnvSpec
    description: str  # the run's description tier, the only text about the environment
    train: Transitions
    llm: TaskLLM
    evaluator: Callable[[str], Evaluation]
    rng: np.random.Generator
    trace: TraceWriter
    seed: int = 0
    log: Callable[[str], None] = field(default=lambda message: None)
    options: Any = None  # the method's `Options` instance (cwmb.method_options), if it has any
    best_program: str | None = None
    best_evaluation: Evaluation | None = None
    _evaluations: dict[str, Evaluation] = field(default_factory=dict, repr=False)
    _formatted: dict[str, str] = field(default_factory=dict, repr=False)

    # -- what the environment is -----------------------------------------------------------
    @property
    def env_id(self) -> str:
        return self.spec.id

    @property
    def observation(self) -> SpaceFormat:
        return self.spec.observation

    @property
    def action(self) -> SpaceFormat:
        return self.spec.action

    @property
    def interface(self) -> str:
        """The CWM contract with this environment's run-time types (for prompts)."""
        return prompts.interface_text(self.spec)

    @property
    def budget(self) -> int:
        return self.llm.budget

    # -- scoring candidates ----------------------------------------------------------------
    def formatted(self, program: str) -> str:
        """`program` as autopep8 formats it (what is scored and kept; computed once per text)."""
        key = program_id(program)
        if key not in self._formatted:
            text = format_program(program)
            self._formatted[key] = text
            self._formatted.setdefault(program_id(text), text)  # formatting it again: unchanged
        return self._formatted[key]

    def evaluate(self, program: str) -> Evaluation:
        """Score `program`, formatted, on the train split in a sandbox (repeated programs are
        not rerun)."""
        program = self.formatted(program)
        key = program_id(program)
        cached = key in self._evaluations
        evaluation = self._evaluations.get(key) or self.evaluator(program)
        self._evaluations[key] = evaluation
        self.trace.write(
            "evaluation",
            program_id=key,
            cached=cached,
            **evaluation.summary(),
            error=None if evaluation.error is None else prompts.trim_error(evaluation.error, 1500),
            first_mismatch=evaluation.first_mismatch,
        )
        self.log(
            f"evaluation {key}: accuracy {evaluation.accuracy:.4f}"
            + (" (raised)" if evaluation.buggy else "")
            + (" (solved)" if evaluation.solved else "")
        )
        if self.best_evaluation is None or _better(evaluation, self.best_evaluation):
            self.best_program, self.best_evaluation = program, evaluation
        return evaluation

    def evaluation_of(self, program: str) -> Evaluation | None:
        """The evaluation of a program already scored in this job, if any."""
        formatted = self._formatted.get(program_id(program), program)
        return self._evaluations.get(program_id(formatted))

    # -- the shared prompts ----------------------------------------------------------------
    def ask(self, messages: list[prompts.Message], purpose: str) -> str:
        """Send `messages` and return the program in the answer, formatted."""
        return self.formatted(extract_program(self.llm.complete(messages, purpose=purpose)))

    def generate(self) -> str:
        """A program written from the description alone."""
        return self.ask(prompts.generate_messages(self.description, self.interface), "generate")

    def improve(self, program: str, evaluation: Evaluation) -> str:
        """A corrected program, shown the first transition `program` gets wrong."""
        if evaluation.first_mismatch is None:
            raise CwmbError("improve needs a program that mispredicts a transition")
        messages = prompts.improve_messages(
            self.description, self.interface, program, evaluation.first_mismatch
        )
        return self.ask(messages, "improve")

    def fix(self, program: str, evaluation: Evaluation) -> str:
        """A corrected program, shown the error `program` raised."""
        return self.ask(fix_request(self, program, evaluation), "fix")

    def repair(self, program: str, evaluation: Evaluation) -> str:
        """`fix` for a program that raises, else `improve`."""
        if evaluation.buggy or evaluation.first_mismatch is None:
            return self.fix(program, evaluation)
        return self.improve(program, evaluation)


def fix_request(task: Task, program: str, evaluation: Evaluation) -> list[prompts.Message]:
    """The fix prompt for a buggy program (the error, and the input that raised it if known)."""
    mismatch = evaluation.first_mismatch
    trigger = mismatch if mismatch is not None and mismatch.get("error") else None
    error = evaluation.error or "the program did not produce a valid prediction"
    return prompts.fix_messages(task.description, task.interface, program, error, trigger)


def _better(new: Evaluation, old: Evaluation) -> bool:
    """Strictly higher credit wins (the authors keep the first of equals)."""
    return new.credit > old.credit


# -- the registry ----------------------------------------------------------------------------

_METHOD_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# A folder of method modules outside the project (one `<name>.py` or `<name>/__init__.py` per
# method, named as in `runners/`); a job gets it mounted read-only.
METHODS_PATH_VARIABLE = "CWMB_METHODS_PATH"
_EXTERNAL_PACKAGE = "cwmb_methods"


def module_name(method: str) -> str:
    return method.replace("-", "_")


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def methods_dir() -> Path | None:
    """The folder named by CWMB_METHODS_PATH; an unset variable means none, a missing folder is
    an error (a typo would otherwise silently find nothing)."""
    value = os.environ.get(METHODS_PATH_VARIABLE)
    if not value:
        return None
    folder = Path(value)
    if not folder.is_dir():
        raise CwmbError(f"{METHODS_PATH_VARIABLE}={value} is not a folder")
    return folder


def _module_file(folder: Path, method: str) -> Path | None:
    for candidate in (
        folder / f"{module_name(method)}.py",
        folder / module_name(method) / "__init__.py",
    ):
        if candidate.is_file():
            return candidate
    return None


def _builtin_methods() -> set[str]:
    try:
        package = importlib.import_module(RUNNERS_PACKAGE)
    except ImportError:
        return set()
    return {
        info.name.replace("_", "-")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.name.startswith("_")
    }


def _external_methods() -> set[str]:
    folder = methods_dir()
    if folder is None:
        return set()
    return {
        info.name.replace("_", "-")
        for info in pkgutil.iter_modules([str(folder)])
        if not info.name.startswith("_")
    }


def known_methods() -> list[str]:
    """Every method `load_runner` can find: modules in `runners/`, in CWMB_METHODS_PATH, and
    registered entry points. Nothing is imported (the host never runs a method's code)."""
    return sorted(_builtin_methods() | _external_methods() | set(_entry_points()))


def check_method(method: str) -> None:
    """A CwmbError unless METHOD names exactly one findable method; imports nothing, so the host
    can check a submitted method without running any of its code."""
    if not _METHOD_NAME.match(method):
        raise CwmbError(
            f"invalid method name {method!r} (lowercase letters, digits, '-' and '_' only)"
        )
    builtin, external = _builtin_methods(), _external_methods()
    if method in builtin and method in external:
        raise CwmbError(
            f"method {method!r} in {METHODS_PATH_VARIABLE} has the name of a built-in method; "
            "rename it"
        )
    entry_points = _entry_points()
    if method in builtin or method in external or method in entry_points:
        return
    if module_name(method) in entry_points:
        return
    known = ", ".join(known_methods()) or "none"
    raise CwmbError(f"unknown method {method!r}; known methods: {known}")


def method_file(method: str) -> Path | None:
    """The top-level module file of METHOD (where its `Options` are declared), found without
    importing it; None for an entry-point method."""
    check_method(method)
    if method in _builtin_methods():
        package = importlib.import_module(RUNNERS_PACKAGE)
        found = (_module_file(Path(entry), method) for entry in package.__path__)
        return next((path for path in found if path is not None), None)
    external = methods_dir()
    return None if external is None else _module_file(external, method)


def _load_external(folder: Path, method: str) -> ModuleType:
    path = _module_file(folder, method)
    assert path is not None
    name = f"{_EXTERNAL_PACKAGE}.{module_name(method)}"
    package = [str(path.parent)] if path.name == "__init__.py" else None
    spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=package)
    if spec is None or spec.loader is None:
        raise CwmbError(f"method {method!r} cannot be imported from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class LoadedMethod:
    run: Runner
    options_class: type | None  # the module's `Options` dataclass, if it declares one


def load_method(method: str) -> LoadedMethod:
    """The `run` function and `Options` class of METHOD (this imports the method: call it only
    inside a job). An unknown method is a CwmbError naming the known ones."""
    check_method(method)
    folder = methods_dir()
    run: Any
    if method in _builtin_methods():
        target = f"{RUNNERS_PACKAGE}.{module_name(method)}"
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise CwmbError(f"method {method!r} cannot be imported: {exc}") from exc
        run = getattr(module, "run", None)
    elif folder is not None and _module_file(folder, method) is not None:
        module = _load_external(folder, method)
        run = getattr(module, "run", None)
    else:
        entry = _entry_points().get(method) or _entry_points().get(module_name(method))
        assert entry is not None
        run = entry.load()
        module = importlib.import_module(entry.module)
    if not callable(run):
        raise CwmbError(f"method {method!r} has no function `run(task) -> str`")
    options = getattr(module, "Options", None)
    return LoadedMethod(cast(Runner, run), options if isinstance(options, type) else None)


def load_runner(method: str) -> Runner:
    """The `run` function of METHOD (this imports the method: call it only inside a job)."""
    return load_method(method).run
