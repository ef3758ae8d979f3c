"""A reader for the authors' replay-buffer pickles that never runs code from them.

The published buffers (`data/replay_buffers/gymnasium_envs/*/train_buffer.pkl`) are pickles of a
dict of lists of numpy values, next to metadata (a `torch.device`, Gymnasium spaces with their
random generators). Unpickling them the ordinary way would import torch and Gymnasium and run
whatever a pickle names. This reader admits a fixed set of globals and resolves none of them to
real code:

- numpy's array, dtype and scalar reconstruction globals are replaced by our own builders, which
  accept only plain numeric or boolean dtypes and copy the raw bytes into a fresh array;
- the metadata globals (torch.device, the two Gymnasium spaces, numpy's generator constructors) are
  replaced by `Opaque` records that only store their arguments;
- every other global, and persistent ids, end the read with `UnsafePickleError`.

`read_buffer` then checks the result: a dict whose transition fields hold only numbers, booleans,
numeric arrays and tuples/lists of them. The project reads these pickles only in the one-off
converter (`cwmb convert-paper-buffers`); everything else uses the converted `.npz` files."""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np

from cwmb.errors import DatasetError

# The dtype kinds an array or scalar may have: bool, signed and unsigned integers, floats.
_NUMERIC_KINDS = frozenset("biuf")
_BYTE_ORDERS = frozenset("<>|=")
# The buffer's transition fields: per-transition lists, then arrays of the buffer's capacity whose
# first `idx` rows are filled. Every other key (device, paths, capacity, the per-step info dicts
# with their Gymnasium spaces) is metadata and is dropped unread.
LIST_FIELDS = ("obs", "next_obs", "actions")
ARRAY_FIELDS = ("rewards", "dones", "traj_starts")
_PLAIN_SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)


class UnsafePickleError(DatasetError):
    """The pickle names something this reader does not admit, or holds a value it refuses."""


class Opaque:
    """Inert stand-in for a metadata object: records the global's name and its arguments."""

    qualname = "?"
    args: tuple[Any, ...]
    state: Any

    def __new__(cls, *args: Any) -> Opaque:
        record = object.__new__(cls)
        record.args = args
        record.state = None
        return record

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"Opaque({self.qualname})"


def _opaque(qualname: str) -> type[Opaque]:
    return type("Opaque", (Opaque,), {"qualname": qualname})


def _checked_dtype(spec: Any) -> np.dtype:
    if not isinstance(spec, str):
        raise UnsafePickleError(f"refusing dtype specification {spec!r}")
    try:
        dtype = np.dtype(spec)
    except TypeError as exc:
        raise UnsafePickleError(f"refusing dtype {spec!r}: {exc}") from exc
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise UnsafePickleError(f"refusing non-numeric dtype {spec!r}")
    return dtype


class DtypeRecord:
    """What `numpy.dtype(name, align, copy)` becomes: a plain numeric dtype, fixed by BUILD."""

    def __init__(self, name: Any, *_flags: Any) -> None:
        self.dtype = _checked_dtype(name)

    def __setstate__(self, state: Any) -> None:
        # numpy's dtype state: (version, byte order, subarray, names, fields, elsize, align, flags).
        if not isinstance(state, tuple) or len(state) < 5:
            raise UnsafePickleError(f"refusing dtype state {state!r}")
        order, subarray, names, fields = state[1:5]
        if subarray is not None or names is not None or fields is not None:
            raise UnsafePickleError("refusing a structured or subarray dtype")
        if order not in _BYTE_ORDERS:
            raise UnsafePickleError(f"refusing byte order {order!r}")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


class ArrayRecord:
    """What `numpy.core.multiarray._reconstruct(ndarray, ...)` becomes; BUILD fills it."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        # numpy's ndarray state: (version, shape, dtype, is_fortran, raw bytes).
        if not isinstance(state, tuple) or len(state) != 5:
            raise UnsafePickleError("refusing an ndarray state of unexpected form")
        _, shape, dtype, fortran, raw = state
        if not isinstance(dtype, DtypeRecord):
            raise UnsafePickleError("refusing an ndarray whose dtype is not a plain numeric dtype")
        if not isinstance(raw, bytes) or not isinstance(shape, tuple):
            raise UnsafePickleError("refusing an ndarray whose data is not raw bytes")
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise UnsafePickleError(f"refusing ndarray shape {shape!r}")
        count = int(np.prod(shape, dtype=np.int64))
        if count * dtype.dtype.itemsize != len(raw):
            raise UnsafePickleError("refusing an ndarray whose data does not match its shape")
        flat = np.frombuffer(raw, dtype=dtype.dtype).copy()
        self.array = flat.reshape(shape, order="F" if fortran else "C")


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> ArrayRecord:
    if cls is not _NDARRAY:
        raise UnsafePickleError("refusing _reconstruct of anything but numpy.ndarray")
    return ArrayRecord()


def _scalar(dtype: Any, raw: Any = None) -> Any:
    if not isinstance(dtype, DtypeRecord) or not isinstance(raw, bytes):
        raise UnsafePickleError("refusing a numpy scalar that is not a plain number")
    if len(raw) != dtype.dtype.itemsize:
        raise UnsafePickleError("refusing a numpy scalar whose data does not match its dtype")
    return np.frombuffer(raw, dtype=dtype.dtype)[0].copy()


_NDARRAY = object()  # the marker `numpy.ndarray` resolves to: only _reconstruct may receive it

_ALLOWED: dict[tuple[str, str], Callable[..., Any] | object] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): DtypeRecord,
}
_METADATA = (
    ("torch", "device"),
    ("gymnasium.spaces.box", "Box"),
    ("gymnasium.spaces.discrete", "Discrete"),
    ("numpy.random._pickle", "__generator_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
)
_ALLOWED.update({key: _opaque(".".join(key)) for key in _METADATA})


class BufferUnpickler(pickle.Unpickler):
    """Unpickler whose globals are the fixed table above and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to unpickle global {module}.{name}: only numpy arrays, dtypes and "
                "scalars (and inert records of the buffers' known metadata) are admitted"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refusing a pickle with persistent ids")


def plain_values(value: Any, where: str) -> Any:
    """`value` with its array records resolved, or UnsafePickleError if anything else is in it."""
    if isinstance(value, ArrayRecord):
        if value.array is None:
            raise UnsafePickleError(f"{where}: an ndarray without data")
        return value.array
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _NUMERIC_KINDS:
            raise UnsafePickleError(f"{where}: refusing an array of dtype {value.dtype}")
        return value
    if isinstance(value, _PLAIN_SCALARS):
        return value
    if isinstance(value, list | tuple):
        items = [plain_values(item, f"{where}[{i}]") for i, item in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {_key(k, where): plain_values(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise UnsafePickleError(f"{where}: refusing a value of type {type(value).__name__}")


def _key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise UnsafePickleError(f"{where}: refusing a dict key of type {type(key).__name__}")
    return key


def read_buffer(data: bytes) -> dict[str, Any]:
    """The transition fields of one buffer pickle (LIST_FIELDS, ARRAY_FIELDS and the fill count
    `idx`), as numpy values and plain containers, each holding exactly `idx` rows."""
    try:
        loaded = BufferUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated or malformed pickles raise many types
        raise UnsafePickleError(f"not a readable buffer pickle: {exc}") from exc
    if not isinstance(loaded, dict):
        raise UnsafePickleError(f"a buffer is a dict, not {type(loaded).__name__}")
    missing = [name for name in (*LIST_FIELDS, *ARRAY_FIELDS, "idx") if name not in loaded]
    if missing:
        raise UnsafePickleError(f"the buffer lacks the fields {', '.join(missing)}")
    count = loaded["idx"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise UnsafePickleError(f"the buffer's fill count is not a count: {count!r}")
    fields: dict[str, Any] = {"idx": count}
    for name in LIST_FIELDS:
        value = plain_values(loaded[name], name)
        if not isinstance(value, list) or len(value) != count:
            raise UnsafePickleError(f"buffer field {name} is not a list of {count} values")
        fields[name] = value
    for name in ARRAY_FIELDS:
        value = plain_values(loaded[name], name)
        if not isinstance(value, np.ndarray) or value.ndim != 1 or value.shape[0] < count:
            raise UnsafePickleError(f"buffer field {name} is not an array of {count} rows")
        fields[name] = value[:count]
    return fields
