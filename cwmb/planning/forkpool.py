"""Evaluating many action sequences on a planning model, in parallel over forked processes.

Why fork and shared memory: the model (a simulator copy, or a code world model inside the
sandbox) already lives in this process, and the project allows no pickle. Each worker is a forked
copy of the process, so it owns a private copy of the model; the start state, the sequences and
the returns travel through one anonymous shared mapping, and a command is two integers on a pipe.

The result never depends on the number of processes: every sequence is evaluated from the same
restored start state, and the split only decides which process does it."""

from __future__ import annotations

import contextlib
import mmap
import os
import signal
import struct
import weakref
from typing import Any

import numpy as np

from cwmb.planning.base import Model

_COMMAND = struct.Struct("qq")  # [start, stop) of the sequences to evaluate; start < 0 = exit
_OK, _FAILED = b"+", b"-"


def rollout_return(model: Model, start: Any, actions: np.ndarray) -> float:
    """Sum of rewards of one open-loop action sequence from `start`, up to the first `done`."""
    model.restore(start)
    total = 0.0
    for action in actions:
        _, reward, done = model.step(action)
        total += reward
        if done:
            break
    return total


def evaluate_serial(model: Model, start: Any, sequences: np.ndarray, out: np.ndarray) -> None:
    for i, actions in enumerate(sequences):
        out[i] = rollout_return(model, start, actions)


class ForkEvaluator:
    """Returns of action sequences from a start state, computed by `processes` processes (this
    one included). Start states must be numpy arrays of one fixed dtype and shape (they are copied
    through shared memory). Falls back to this process alone if forking is impossible (e.g. a
    process limit inside a sandbox)."""

    def __init__(self, model: Model, processes: int):
        self.model = model
        self.processes = max(1, processes)
        self._pool: _Pool | None = None
        self._failed_to_fork = False

    def evaluate(self, start: np.ndarray, sequences: np.ndarray) -> np.ndarray:
        returns = np.empty(len(sequences))
        if self.processes == 1 or self._failed_to_fork or len(sequences) < 2:
            evaluate_serial(self.model, start, sequences, returns)
            return returns
        pool = self._pool_for(np.asarray(start), sequences)
        if pool is None:
            evaluate_serial(self.model, start, sequences, returns)
            return returns
        return pool.run(np.asarray(start), sequences)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def _pool_for(self, start: np.ndarray, sequences: np.ndarray) -> _Pool | None:
        layout = _Layout(start.dtype, start.shape, sequences.dtype, sequences.shape)
        if self._pool is not None and self._pool.layout == layout:
            return self._pool
        self.close()
        try:
            self._pool = _Pool(self.model, self.processes - 1, layout)
        except OSError:
            self._failed_to_fork = True
            return None
        return self._pool


class _Layout:
    """Shapes and dtypes of the shared buffers; a pool serves exactly one layout."""

    def __init__(self, state_dtype: Any, state_shape: tuple, seq_dtype: Any, seq_shape: tuple):
        self.state_dtype = np.dtype(state_dtype)
        self.state_shape = tuple(state_shape)
        self.seq_dtype = np.dtype(seq_dtype)
        self.seq_shape = tuple(seq_shape)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Layout) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(tuple(vars(self).values()))

    def sizes(self) -> tuple[int, int, int]:
        state = int(np.prod(self.state_shape, dtype=np.int64)) * self.state_dtype.itemsize
        seqs = int(np.prod(self.seq_shape, dtype=np.int64)) * self.seq_dtype.itemsize
        returns = self.seq_shape[0] * 8
        return state, seqs, returns


class _Pool:
    def __init__(self, model: Model, children: int, layout: _Layout):
        self.model = model
        self.layout = layout
        state_size, seq_size, ret_size = layout.sizes()
        self._memory = mmap.mmap(-1, max(1, state_size + seq_size + ret_size))
        buffer = memoryview(self._memory)
        self.state = np.frombuffer(buffer[:state_size], dtype=layout.state_dtype).reshape(
            layout.state_shape
        )
        self.sequences = np.frombuffer(
            buffer[state_size : state_size + seq_size], dtype=layout.seq_dtype
        ).reshape(layout.seq_shape)
        self.returns = np.frombuffer(buffer[state_size + seq_size :], dtype=np.float64)
        self._workers: list[tuple[int, int, int]] = []  # (pid, command fd, answer fd)
        try:
            for _ in range(children):
                self._workers.append(self._spawn())
        except OSError:
            self.close()
            raise
        self._finalizer = weakref.finalize(self, _shutdown, list(self._workers))

    def _spawn(self) -> tuple[int, int, int]:
        command_r, command_w = os.pipe()
        answer_r, answer_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # worker
            code = 0
            try:
                os.close(command_w)
                os.close(answer_r)
                for _, fd_w, fd_r in self._workers:  # siblings' pipes are not ours
                    os.close(fd_w)
                    os.close(fd_r)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
                self._serve(command_r, answer_w)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(command_r)
        os.close(answer_w)
        return pid, command_w, answer_r

    def _serve(self, command_r: int, answer_w: int) -> None:
        while True:
            message = _read_exactly(command_r, _COMMAND.size)
            if not message:
                return
            start, stop = _COMMAND.unpack(message)
            if start < 0:
                return
            try:
                evaluate_serial(
                    self.model,
                    self.state.copy(),
                    self.sequences[start:stop],
                    self.returns[start:stop],
                )
                os.write(answer_w, _OK)
            except Exception:
                os.write(answer_w, _FAILED)

    def run(self, start: np.ndarray, sequences: np.ndarray) -> np.ndarray:
        self.state[...] = start
        self.sequences[...] = sequences
        bounds = np.linspace(0, len(sequences), len(self._workers) + 2).astype(int)
        for (_, command_w, _), lo, hi in zip(self._workers, bounds[1:-1], bounds[2:], strict=True):
            os.write(command_w, _COMMAND.pack(int(lo), int(hi)))
        # This process takes the first share while the workers run theirs.
        evaluate_serial(self.model, start, sequences[: bounds[1]], self.returns[: bounds[1]])
        for pid, _, answer_r in self._workers:
            answer = _read_exactly(answer_r, 1)
            if answer != _OK:
                raise RuntimeError(
                    f"planning worker {pid} failed while evaluating action sequences"
                )
        return self.returns.copy()

    def close(self) -> None:
        finalizer = getattr(self, "_finalizer", None)
        if finalizer is not None:
            finalizer()
        else:
            _shutdown(self._workers)
        self._workers = []


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def _shutdown(workers: list[tuple[int, int, int]]) -> None:
    for pid, command_w, answer_r in workers:
        with contextlib.suppress(OSError):
            os.write(command_w, _COMMAND.pack(-1, -1))
        for fd in (command_w, answer_r):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, 0)
