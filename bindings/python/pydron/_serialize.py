"""Payload encoding of Python tasks and the runner body (``run_task``).

A task of kind "python" has

* a payload: ``HDR`` (function key, flags, number of out-of-band buffers,
  number of future inputs) followed by a pickle (protocol 5) of
  ``(args, kwargs)``;
* inputs, in this order: the pickled function (only when the task may run in
  another process), one input per out-of-band buffer (large numpy arrays
  travel as their own values, not inside the pickle), one input per Future
  that was an argument (referenced from the pickle by persistent id);
* one output: a *result blob* (``encode_result``).

A failing task raises ``_core.TaskFailed(message, detail)`` where detail is
a pickled dict holding the pickled exception (if it pickles and unpickles)
and the formatted remote traceback.

The same ``run_task`` runs in-process (inline/threads executors) and in
``python -m pydron.worker``.
"""

from __future__ import annotations

import io
import pickle
import struct
import traceback

from . import _core

HDR = struct.Struct("<QIII")  # function key, flags, nbuf, nfut
F_FN_INPUT = 1  # input 0 is the pickled function

RHDR = struct.Struct("<II")  # result blob: nbuf, pickle length; then nbuf u64 lengths
OOB_MIN = 64 * 1024  # smaller buffers stay inside the pickle
ALIGN = 64

_FUNCS: dict = {}  # function key -> callable (this process)
_FUNCS_MAX = 4096


def _align(n: int) -> int:
    return (n + ALIGN - 1) & ~(ALIGN - 1)


# -- results -----------------------------------------------------------------

def _dumps_any(obj, bufs):
    """Pickle with out-of-band buffers; cloudpickle only if plain pickle fails."""

    def cb(pb):
        # True keeps a small buffer in-band; None (append) makes it out-of-band.
        return pb.raw().nbytes < OOB_MIN or bufs.append(pb)

    try:
        return pickle.dumps(obj, 5, buffer_callback=cb)
    except Exception:
        del bufs[:]
        import cloudpickle

        return cloudpickle.dumps(obj, 5, buffer_callback=cb)


def encode_result(obj):
    """Result blob as a list of parts (the C runner concatenates them once)."""
    bufs: list = []
    data = _dumps_any(obj, bufs)
    if not bufs:
        return RHDR.pack(0, len(data)) + data
    raws = [pb.raw() for pb in bufs]
    head = RHDR.pack(len(raws), len(data)) + struct.pack(f"<{len(raws)}Q", *(r.nbytes for r in raws))
    parts = [head, data]
    off = len(head) + len(data)
    for r in raws:
        pad = _align(off) - off
        if pad:
            parts.append(bytes(pad))
        parts.append(r)
        off += pad + r.nbytes
    return parts


def decode_result(mv, writable: bool):
    """Inverse of encode_result. writable=True copies out-of-band buffers
    (driver side: the program may modify what it gets back); False hands
    out read-only zero-copy views (task side: arguments are snapshots)."""
    mv = memoryview(mv)
    nbuf, plen = RHDR.unpack_from(mv, 0)
    off = RHDR.size
    if not nbuf:
        return pickle.loads(mv[off:off + plen])
    lens = struct.unpack_from(f"<{nbuf}Q", mv, off)
    off += 8 * nbuf
    data = mv[off:off + plen]
    off += plen
    bufs = []
    for n in lens:
        off = _align(off)
        b = mv[off:off + n]
        bufs.append(bytearray(b) if writable else b)
        off += n
    return pickle.loads(data, buffers=bufs)


# -- exceptions --------------------------------------------------------------

class RemoteTraceback(Exception):
    """Carries the formatted traceback of a task as the __cause__ of the
    exception re-raised in the driver (like concurrent.futures)."""

    def __init__(self, tb: str):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return self.tb


class RemoteTaskError(_core.PydronError, RuntimeError):
    """A task raised an exception that could not be pickled; same message."""

    def __init__(self, message: str, remote_type: str = ""):
        super().__init__(message)
        self.remote_type = remote_type


def encode_exception(e: BaseException) -> bytes:
    tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
    exc = None
    try:
        exc = pickle.dumps(e, 5)
        pickle.loads(exc)  # exceptions with odd __init__ pickle but do not load
    except Exception:
        try:
            import cloudpickle

            exc = cloudpickle.dumps(e, 5)
            pickle.loads(exc)
        except Exception:
            exc = None
    t = type(e)
    return pickle.dumps({"exc": exc, "type": f"{t.__module__}.{t.__qualname__}",
                         "message": str(e), "tb": tb}, 5)


def decode_exception(message: str, detail) -> BaseException:
    """A fresh exception object for a failed task (each call a new copy)."""
    if not detail:
        return _core.TaskError(message, detail, 0)
    try:
        d = pickle.loads(detail)
    except Exception:
        return _core.TaskError(message, detail, 0)
    exc = None
    if d.get("exc") is not None:
        try:
            exc = pickle.loads(d["exc"])
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        exc = RemoteTaskError(d.get("message", message), d.get("type", ""))
    exc.__cause__ = RemoteTraceback('\n"""\n' + d.get("tb", "") + '"""')
    return exc


# -- the runner body ---------------------------------------------------------

class _ArgUnpickler(pickle.Unpickler):
    def __init__(self, data, buffers, futs):
        super().__init__(io.BytesIO(data), buffers=buffers)
        self._futs = futs
        self._cache = {}

    def persistent_load(self, pid):
        v = self._cache.get(pid)
        if v is None:
            v = self._cache[pid] = decode_result(self._futs[pid], False)
        return v


def decode_args(payload, inputs):
    key, flags, nbuf, nfut = HDR.unpack_from(payload, 0)
    i = 0
    fn = _FUNCS.get(key)
    if flags & F_FN_INPUT:
        i = 1
        if fn is None:
            fn = pickle.loads(inputs[0])
            if len(_FUNCS) >= _FUNCS_MAX:
                _FUNCS.clear()
            _FUNCS[key] = fn
    elif fn is None:
        raise RuntimeError("pydron: task function not available in this process")
    body = payload[HDR.size:]
    bufs = inputs[i:i + nbuf]
    if nfut:
        args, kwargs = _ArgUnpickler(body, bufs, inputs[i + nbuf:]).load()
    else:
        args, kwargs = pickle.loads(body, buffers=bufs)
    return fn, args, kwargs


def run_task(payload, inputs):
    """Body of kind "python": payload and inputs are memoryviews valid
    during the call. Returns the result blob (bytes or list of parts)."""
    try:
        fn, args, kwargs = decode_args(payload, inputs)
        res = fn(*args, **kwargs)
        del args, kwargs
        return encode_result(res)
    except BaseException as e:  # the task's exception travels to the driver
        raise _core.TaskFailed(f"{type(e).__name__}: {e}", encode_exception(e)) from None
