"""The process that hosts one untrusted program (run as `python -I -m cwmb.sandbox.worker`).

Everything here is on the untrusted side: the program can tamper with this process at will. That is
fine, because only JSON text leaves it and the host checks every answer. The worker converts
requests into the contract's types, calls the program, and turns its answers into plain values."""

from __future__ import annotations

import base64
import io
import os
import sys
import traceback
import types
from typing import Any

import numpy as np

from cwmb.formats import to_runtime
from cwmb.sandbox.protocol import PROTOCOL_VERSION, decode, encode, pack_predictions

_MAX_TRACEBACK = 4000
ONLY_STDLIB_AND_NUMPY = "only the standard library and numpy are available to a world model"


def _channel() -> tuple[Any, Any]:
    """Keep private copies of stdin/stdout for the protocol; give the program /dev/null and stderr."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto_in, proto_out


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a program's answer; anything exotic becomes an error."""
    if isinstance(value, bool | int | float) or value is None:
        return value if not isinstance(value, bool) else bool(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"array of dtype {value.dtype} is not a state")
        return np.ndarray.tolist(value)  # the content, whatever a subclass's tolist() says
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"unsupported value of type {type(value).__name__}")


def _batch(request: dict[str, Any], key: str) -> Any:
    """A request's list of states or actions, sent as JSON or as an `.npy` image."""
    if key + "_npy" in request:
        data = base64.b64decode(request[key + "_npy"])
        return np.load(io.BytesIO(data), allow_pickle=False)
    return request[key]


def _short_traceback() -> str:
    text = traceback.format_exc()
    return text[-_MAX_TRACEBACK:]


def _forbidden_import(exc: BaseException) -> str | None:
    """The contract's message when `exc` is a failed import of something a world model may not
    have (the sandbox's filesystem holds none of it: this only names the failure clearly)."""
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    top = exc.name.partition(".")[0]
    if top in sys.stdlib_module_names or top == "numpy":
        return None  # a missing part of what is allowed: the real error says more
    return f"{ONLY_STDLIB_AND_NUMPY} (the program imports {exc.name!r})"


def _program_error(exc: BaseException) -> str:
    return _forbidden_import(exc) or _short_traceback()


class Worker:
    def __init__(self) -> None:
        self.env: Any = None
        self.obs_fmt: dict[str, Any] = {}
        self.act_fmt: dict[str, Any] = {}

    def load(
        self, source: str, observation: dict[str, Any], action: dict[str, Any]
    ) -> dict[str, Any]:
        # Every answer to "load" names the protocol, failures included: the host checks it first.
        return {**self._load(source, observation, action), "protocol": PROTOCOL_VERSION}

    def _load(
        self, source: str, observation: dict[str, Any], action: dict[str, Any]
    ) -> dict[str, Any]:
        self.obs_fmt, self.act_fmt = observation, action
        module = types.ModuleType("cwm_program")
        module.__file__ = "program.py"
        sys.modules["cwm_program"] = module
        try:
            exec(compile(source, "program.py", "exec"), module.__dict__)
            cls = module.__dict__.get("Environment")
            if cls is None:
                return {"ok": False, "error": "the program defines no class `Environment`"}
            self.env = cls()
        except BaseException as exc:  # noqa: BLE001 - SystemExit from a program is an error too
            return {"ok": False, "error": _program_error(exc)}
        return {"ok": True}

    def predict(self, state: Any, action: Any) -> dict[str, Any]:
        try:
            self.env.set_state(to_runtime(state, self.obs_fmt))
            result = self.env.step(to_runtime(action, self.act_fmt))
            next_state, reward, done = result
            return {
                "next_state": _plain(next_state),
                "reward": _plain(reward),
                "done": bool(done) if isinstance(done, bool | np.bool_) else _plain(done),
                "error": None,
            }
        except BaseException as exc:  # noqa: BLE001
            return {"next_state": None, "reward": None, "done": None, "error": _program_error(exc)}

    def step_batch(self, states: list[Any], actions: list[Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "predictions": [self.predict(s, a) for s, a in zip(states, actions, strict=True)],
        }

    def plan(self, state: Any, planner: dict[str, Any], seed: int) -> dict[str, Any]:
        from cwmb.planning.runtime import plan_with_program

        action = plan_with_program(
            self.env, to_runtime(state, self.obs_fmt), self.obs_fmt, self.act_fmt, planner, seed
        )
        return {"ok": True, "action": _plain(action)}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "load":
            return self.load(request["source"], request["observation"], request["action"])
        if self.env is None:
            return {"ok": False, "error": "no program loaded"}
        if op == "step_batch":
            states, actions = _batch(request, "states"), _batch(request, "actions")
            return pack_predictions(self.step_batch(states, actions)["predictions"])
        if op == "plan":
            return self.plan(request["state"], request["planner"], int(request["seed"]))
        return {"ok": False, "error": f"unknown request {op!r}"}


def _limit_memory(argv: list[str]) -> None:
    """`--memory-mb N`: cap this process's address space, so that an allocation too large fails
    with MemoryError instead of inviting the out-of-memory killer (used inside containers,
    whose engine offers no address-space ulimit)."""
    if "--memory-mb" in argv:
        import resource

        limit = int(argv[argv.index("--memory-mb") + 1]) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    _limit_memory(sys.argv[1:])
    proto_in, proto_out = _channel()
    worker = Worker()
    for line in proto_in:
        try:
            answer = worker.handle(decode(line))
        except BaseException:  # noqa: BLE001 - report, never die silently
            answer = {"ok": False, "error": _short_traceback()}
        try:
            data = encode(answer)
        except (TypeError, ValueError) as exc:
            data = encode({"ok": False, "error": f"answer is not plain data: {exc}"})
        proto_out.write(data)
        proto_out.flush()


if __name__ == "__main__":
    main()
