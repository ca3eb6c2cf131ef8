"""Process settings of a @functional call, and what its task logs and warns.

* **Process settings** that change results: the decimal context, numpy's
  floating-point error handling (``np.seterr``/``np.errstate``), the logging
  levels and the warnings filters. ``settings()`` returns a snapshot (None
  while all are at their defaults) and a generation that changes when it
  does; each function version carries the snapshot of its call and
  ``with_settings`` applies it around the task.
* **Log records and warnings** of a task are collected (not formatted, not
  shown) where it runs and travel with its result; the driver hands them to
  its own loggers and warnings machinery (``forward``), in program order.
"""

from __future__ import annotations

import logging
import pickle
import sys
import threading
import warnings as _warnings

from ._state import _ATOMIC

# -- process settings -------------------------------------------------------

_DEC_DEFAULT = (28, "ROUND_HALF_EVEN", -999999, 999999, 1, 0,
                ("DivisionByZero", "InvalidOperation", "Overflow"))
_NP_DEFAULT = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}

_gen = 0
_snapshot = None
_last_dec = None
_last_np = None
_last_log = None
_log_probe = None
_log_state = None
_modules = sys.modules
_PROBE_KEY = -1  # never a level: present in the probe's cache until a level changes


_dec_key = None
_dec_state = None


def _decimal_state():
    """The decimal context's settings (prec, rounding, Emin, Emax, capitals,
    clamp, trapped signals). Read through the context's __reduce__ (one C
    call): its `traps` mapping iterates through Python's Mapping mix-ins,
    ~10 us per call, paid by every task of any program that imports decimal
    (also through fractions or statistics)."""
    global _dec_key, _dec_state
    getcontext = getattr(sys.modules.get("decimal"), "getcontext", None)
    if getcontext is None:
        # not imported, or still being imported by a task on another thread
        # (the threads executor): the driver has not set a context yet
        return None
    a = getcontext().__reduce__()[1]  # (prec, rounding, Emin, Emax, capitals, clamp, flags, traps)
    key = a[:6] + tuple(a[7])
    if key != _dec_key:
        _dec_key = key
        _dec_state = a[:6] + (tuple(sorted(k.__name__ for k in a[7])),)
    return _dec_state


_np_var = None


def _numpy_token():
    global _np_var
    if _np_var is not None:
        return _np_var.get()
    np = sys.modules.get("numpy")
    if np is None:
        return None
    try:
        _np_var = np._core._ufunc_config._extobj_contextvar
        return _np_var.get()
    except AttributeError:  # numpy 1.x: no context variable
        return tuple(sorted(np.geterr().items()))


def _logging_state():
    """(disable, root level, explicit levels) of the driver's loggers, None at
    the defaults; recomputed only after a level changed (setLevel and
    logging.disable clear every logger's cache, the probe's too)."""
    global _log_probe, _log_state
    p = _log_probe
    c = getattr(p, "_cache", None)
    if c is not None and _PROBE_KEY in c:
        return _log_state
    if p is None:
        p = _log_probe = logging.getLogger("pydron.state")
    mgr = logging.Logger.manager
    levels = tuple(sorted((n, lg.level) for n, lg in list(mgr.loggerDict.items())
                          if isinstance(lg, logging.Logger) and lg.level))
    st = (mgr.disable, logging.root.level, levels)
    _log_state = None if st == (0, logging.WARNING, ()) else st
    if getattr(p, "_cache", None) is not None:
        p._cache[_PROBE_KEY] = False
    return _log_state


_last_warn = None


def _warn_filters():
    """The warnings filters for tasks, None while they are those the program
    started with (then the worker's, from the same interpreter and options,
    are the same): "default", "once" and "module" become "always" in the
    worker, so the driver's filters and registries decide what is shown."""
    import warnings

    from . import _WARN_FILTERS

    f = tuple(warnings.filters)
    if f == _WARN_FILTERS:
        return None
    return tuple(("always" if a in ("default", "once", "module") else a, m, _CategoryRef.of(c),
                  mod, ln) for a, m, c, mod, ln in f)


class _CategoryRef:
    """A filter's warning class from an imported module, as a task carries it.
    Pickled by reference, the class would make every worker import its module
    to read the filters, whether or not the task ever uses it: numpy imported
    after pydron adds filters naming numpy's warnings, and each worker then
    imported numpy (~0.1 s, tens of MB), on the thread that runs tasks.
    A worker gets the class itself if the module is already there, else a
    stand-in that matches the class's subclasses once the module is imported
    (a warning of such a class cannot exist before)."""

    __slots__ = ("cls",)

    def __init__(self, cls):
        self.cls = cls

    @staticmethod
    def of(c):
        mod = getattr(c, "__module__", None)
        if mod in (None, "builtins", "__main__") or not isinstance(c, type):
            return c
        m = sys.modules.get(mod)
        if m is None or _resolve(m, c.__qualname__) is not c:
            return c  # not found by name: pickled as usual (by value)
        return _CategoryRef(c)

    def __eq__(self, other):
        return type(other) is _CategoryRef and other.cls is self.cls

    def __hash__(self):
        return hash(self.cls)

    def __reduce__(self):
        return _category, (self.cls.__module__, self.cls.__qualname__)


def _resolve(m, qualname):
    obj = m
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _lookup(mod, qualname):
    """The class mod.qualname if mod is imported, else None."""
    m = sys.modules.get(mod)
    c = _resolve(m, qualname) if m is not None else None
    return c if isinstance(c, type) else None


_lazy_categories: dict = {}  # (module, qualname) -> stand-in class


class _LazyCategoryMeta(type):
    """A stand-in's checks go to the real class once its module is imported."""

    def _pd_real(cls):
        real = cls.__dict__.get("_pd_cls")
        if real is None:
            real = _lookup(cls.__module__, cls.__qualname__)
            if real is not None:
                cls._pd_cls = real
        return real

    def __subclasscheck__(cls, sub):
        real = cls._pd_real()
        return real is not None and issubclass(sub, real)

    def __instancecheck__(cls, obj):
        real = cls._pd_real()
        return real is not None and isinstance(obj, real)


def _category(mod, qualname):
    """Worker: the warning class of a filter (see _CategoryRef)."""
    c = _lookup(mod, qualname)
    if c is None:
        c = _lazy_categories.get((mod, qualname))
        if c is None:
            c = _lazy_categories[(mod, qualname)] = _LazyCategoryMeta(
                qualname.rsplit(".", 1)[-1], (Warning,),
                {"__module__": mod, "__qualname__": qualname})
    return c


def settings():
    """(generation, snapshot) of the process settings now; snapshot is None
    while every setting is at its default."""
    # Per task: the checks that nothing changed, cheapest first (the warnings
    # list, the logging probe's cache, numpy's context variable, decimal's
    # context), without a call each; any doubt takes the full path.
    wt = _last_warn
    if wt is not None:
        wf = _warnings.filters
        if wt[0] is wf and wt[1] == len(wf) and (not wf or wt[2] is wf[0]) \
                and _log_state is _last_log:
            c = getattr(_log_probe, "_cache", None)
            if c is not None and _PROBE_KEY in c:
                nv = _np_var
                if nv.get() is _last_np if nv is not None else \
                        _last_np is None and "numpy" not in _modules:
                    if "decimal" not in _modules:
                        if _last_dec is None:
                            return _gen, _snapshot
                    elif _decimal_state() == _last_dec:
                        return _gen, _snapshot
    return _settings_full()


def _settings_full():
    global _gen, _snapshot, _last_dec, _last_np, _last_log, _last_warn
    warnings = _warnings

    dec = _decimal_state() if "decimal" in sys.modules else None
    nptok = _numpy_token()
    lg = _logging_state()
    wf = warnings.filters
    # simplefilter/filterwarnings put a new tuple first, resetwarnings empties
    # the list, catch_warnings swaps it: (list, length, first entry) changes
    wt = _last_warn
    if dec == _last_dec and lg is _last_log and (nptok is _last_np or nptok == _last_np) \
            and wt is not None and wt[0] is wf and wt[1] == len(wf) and (not wf or wt[2] is wf[0]):
        return _gen, _snapshot
    _last_dec, _last_np, _last_log = dec, nptok, lg
    _last_warn = (wf, len(wf), wf[0] if wf else None)
    snap = {}
    if dec is not None and dec != _DEC_DEFAULT:
        snap["decimal"] = dec
    if nptok is not None:
        err = sys.modules["numpy"].geterr()
        if err != _NP_DEFAULT:
            snap["numpy"] = err
    if lg is not None:
        snap["log"] = lg
    w = _warn_filters()
    if w is not None:
        snap["warn"] = w
    snap = snap or None
    if snap != _snapshot:
        _gen += 1
        _snapshot = snap
    return _gen, _snapshot


_applied_log = None  # logging state applied in this (worker) process


_worker_filters = None  # the worker's own warnings filters, made "always"


def _apply_logging(st):
    """Worker: set the process-wide part of a call's settings, (logging
    state, warnings filters), or the worker's defaults for None."""
    global _applied_log
    if st == _applied_log:
        return
    import warnings

    lg, wf = st if st is not None else (None, None)
    warnings.filters[:] = wf if wf is not None else _worker_filters
    warnings._filters_mutated()
    prev_lg = _applied_log[0] if _applied_log else None
    prev = prev_lg[2] if prev_lg else ()
    disable, root, levels = lg if lg is not None else (0, logging.WARNING, ())
    names = dict(levels)
    for n, _lvl in prev:
        if n not in names:
            logging.getLogger(n).setLevel(logging.NOTSET)
    for n, lvl in levels:
        logging.getLogger(n).setLevel(lvl)
    logging.root.setLevel(root)
    logging.disable(disable)
    _applied_log = st


def with_settings(fn, snap):
    """fn itself, or a function running fn under the settings of its call.
    In a worker process the logging levels are set too (the driver's handlers
    see the records); see also restore_logging."""
    dec = err = lg = None
    if snap is not None:
        dec, err = snap.get("decimal"), snap.get("numpy")
        if snap.get("log") is not None or snap.get("warn") is not None:
            lg = (snap.get("log"), snap.get("warn"))
    if not CAPTURE:
        lg = None  # same process as the driver: its own levels and filters apply
    if dec is None and err is None and lg is None:
        return fn

    def task_with_program_settings(*args, **kwargs):
        if lg is not None:
            _apply_logging(lg)
        if dec is None and err is None:
            return fn(*args, **kwargs)
        import contextlib

        with contextlib.ExitStack() as st:
            if dec is not None:
                import decimal

                prec, rounding, emin, emax, capitals, clamp, traps = dec
                st.enter_context(decimal.localcontext(decimal.Context(
                    prec=prec, rounding=rounding, Emin=emin, Emax=emax, capitals=capitals,
                    clamp=clamp, flags=[], traps=[getattr(decimal, t) for t in traps])))
            if err is not None:
                import numpy

                st.enter_context(numpy.errstate(**err))
            return fn(*args, **kwargs)

    task_with_program_settings.__wrapped__ = fn
    task_with_program_settings._pd_log = lg is not None
    # a batch of calls applies the logging part once and calls fn itself
    # (_serialize._run_batch) when it is all there is
    task_with_program_settings._pd_lg = lg if dec is None and err is None else None
    return task_with_program_settings


def restore_logging(fn):
    """Worker: before a task whose call had the default logging levels, undo
    the levels an earlier task's call had set."""
    if _applied_log is not None and not getattr(fn, "_pd_log", False):
        _apply_logging(None)


# -- log records of tasks in worker processes ----------------------------------

CAPTURE = False  # set in worker processes: records of tasks travel to the driver
_tl = threading.local()
_STD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _prepare(record, fmt=logging.Formatter()):
    """A record as a picklable dict (as logging.handlers.QueueHandler does)."""
    d = dict(record.__dict__)
    d["msg"] = record.getMessage()
    d["args"] = None
    if record.exc_info:
        d["exc_text"] = fmt.formatException(record.exc_info)
    d["exc_info"] = None
    d.pop("message", None)
    for k, v in list(d.items()):
        if k not in _STD and type(v) not in _ATOMIC:
            try:
                pickle.dumps(v, 5)
            except Exception:  # noqa: BLE001 - an extra= the driver cannot get
                d[k] = repr(v)
    return d


def _warning_module(filename, lineno):
    f = sys._getframe(2)
    for _ in range(30):  # the frame that warned: its module, for the filters
        if f is None:
            break
        if f.f_code.co_filename == filename and f.f_lineno == lineno:
            return f.f_globals.get("__name__")
        f = f.f_back
    return None


def _hook():
    """While a task runs on this thread (_tl.records is a list), log records
    (at the logger they are logged to, before its filters and handlers) and
    warnings that would be shown are kept for the driver instead."""
    import warnings

    if getattr(logging.Logger.handle, "_pd_hook", False):
        return
    orig_handle = logging.Logger.handle
    orig_show = warnings._showwarnmsg
    orig_impl = warnings._showwarnmsg_impl

    def handle(self, record):
        buf = getattr(_tl, "records", None)
        if buf is None:
            return orig_handle(self, record)
        buf.append(_prepare(record))
        return True

    def _showwarnmsg(msg):
        buf = getattr(_tl, "records", None)
        if buf is None or warnings._showwarnmsg_impl is not orig_impl or msg.file is not None:
            # not in a task, or catch_warnings(record=True) is collecting them
            return orig_show(msg)
        buf.append(("w", str(msg.message), msg.category, msg.filename, msg.lineno,
                    _warning_module(msg.filename, msg.lineno)))

    orig_basic = logging.basicConfig

    def basicConfig(**kwargs):
        # logging.warning() with no handler on the root calls basicConfig():
        # in one process it configures the root logger the driver's records
        # go to. A task's call is kept with its records and made by the
        # driver in program order (forward); with a stream or handlers of
        # the task (objects of its process) it cannot be, and is dropped.
        buf = getattr(_tl, "records", None)
        if buf is None:
            return orig_basic(**kwargs)
        simple = all(type(v) in _ATOMIC for v in kwargs.values())
        buf.append(("b", kwargs if simple else None))
        return None

    handle._pd_hook = True
    logging.Logger.handle = handle
    logging.basicConfig = basicConfig
    warnings._showwarnmsg = _showwarnmsg


class _TaskStream:
    """sys.stdout or sys.stderr of a process that runs tasks: what a task
    running on this thread writes (print, write) is kept with its log
    records (_tl.records) and written by the driver in program order
    (forward), so a task's output comes where the sequential program prints
    it, and that of a task sequential code never reached (run ahead, then
    forgotten) never comes. Anything else goes to the stream it wraps, whose
    other attributes it hands on."""

    __slots__ = ("_pd_real", "_pd_tag")

    def __init__(self, real, tag):
        object.__setattr__(self, "_pd_real", real)
        object.__setattr__(self, "_pd_tag", tag)

    def write(self, s):
        buf = getattr(_tl, "records", None)
        if buf is None:
            return self._pd_real.write(s)
        if type(s) is not str:
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        tag = self._pd_tag
        if buf and type(buf[-1]) is tuple and buf[-1][0] == tag:
            buf[-1] = (tag, buf[-1][1] + s)  # one entry per run of writes
        else:
            buf.append((tag, s))
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def flush(self):
        if getattr(_tl, "records", None) is None:
            return self._pd_real.flush()
        return None

    def __getattr__(self, name):
        return getattr(self._pd_real, name)

    def __setattr__(self, name, value):
        setattr(self._pd_real, name, value)

    def __repr__(self):
        return repr(self._pd_real)


def wrap_std():
    """sys.stdout and sys.stderr keep what tasks on this process's threads
    write (_TaskStream); streams the program set later are left alone."""
    if type(sys.stdout) is not _TaskStream and sys.stdout is not None:
        sys.stdout = _TaskStream(sys.stdout, "o")
    if type(sys.stderr) is not _TaskStream and sys.stderr is not None:
        sys.stderr = _TaskStream(sys.stderr, "e")


COLLECT = False  # tasks' log records and warnings go to the driver in program order


def install_collect():
    """Driver process with an in-process executor: tasks run on other threads
    (or later, inline); their records and warnings are shown in program order
    by the driver like those of worker processes."""
    global COLLECT
    _hook()
    wrap_std()
    COLLECT = True


def install_capture():
    """In a worker process: tasks' log records and warnings go to the driver,
    the worker's own diagnostics to stderr."""
    global CAPTURE, COLLECT, _worker_filters
    import warnings

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    # the root logger keeps no handler, as in the program's process before it
    # configures logging: a task's logging.warning() then calls basicConfig,
    # which the driver makes (_hook); the worker's own lines have theirs
    h = logging.StreamHandler()
    h.setFormatter(logging.Formatter("pydron-worker[%(process)d] %(message)s"))
    own = logging.getLogger("pydron")
    own.addHandler(h)
    own.propagate = False
    _hook()
    _worker_filters = [("always" if a in ("default", "once", "module") else a, m, c, mod, ln)
                       for a, m, c, mod, ln in warnings.filters]
    warnings.filters[:] = _worker_filters
    warnings._filters_mutated()
    wrap_std()  # (after the handler above took the real stderr)
    CAPTURE = COLLECT = True


def capture_start():
    _tl.records = []


def capture_end():
    recs = getattr(_tl, "records", None)
    _tl.records = None
    return recs or None


_registries: dict = {}  # filename -> warnings registry ("default": once per place)


def forward(records):
    """Driver: hand a task's records to the driver's loggers (their handlers,
    formats and filters), as if they had been logged here, and its warnings to
    the driver's warnings filters."""
    for d in records:
        if type(d) is tuple and d[0] in ("o", "e"):
            # what the task printed, to the driver's streams of now
            (sys.stdout if d[0] == "o" else sys.stderr).write(d[1])
            continue
        if type(d) is tuple and d[0] == "b":
            if d[1] is not None:
                logging.basicConfig(**d[1])
            continue
        if type(d) is tuple:
            import warnings

            _, msg, cat, filename, lineno, module = d
            reg = _registries.setdefault(filename, {})
            warnings.warn_explicit(msg, cat, filename, lineno, module=module, registry=reg)
            continue
        rec = logging.makeLogRecord(d)
        name = rec.name
        lg = logging.root if name in ("root", "") else logging.getLogger(name)
        lg.handle(rec)
