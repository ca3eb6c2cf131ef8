"""Gates for submission-spy tests: tasks that must still be running when later
ones are added wait for a gate file (at most 10 s) instead of sleeping a fixed
time, and the spy creates the file once the last of them was added. On a loaded
machine a driver that does not wait can take longer than any fixed sleep to add
the rest; a driver that does wait still finds the first task finished (after
the gate's timeout), so the tests can still fail."""

import os
import time
import weakref

from conftest import spy_tasks


def wait_file(path, end):
    """In a task: wait until the file path exists, or until the wall-clock
    time end (time.time()) passed. The deadline is absolute so that it means
    the same in a worker process; it fails a test that never makes the file
    instead of hanging it."""
    while not os.path.exists(path) and time.time() < end:
        time.sleep(0.01)


def hold(gate):
    """In a task, with gate = (path, end): say which process runs it (a file
    path.<pid>), then wait_file(path, end)."""
    path, end = gate
    open(f"{path}.{os.getpid()}", "w").close()
    wait_file(path, end)


def wait_gate(gate):
    if gate is not None:
        deadline = time.monotonic() + 10
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.002)


class _Seen:
    """A task the log saw added: its function, and its Future without holding
    it (the runtime reads reference counts: `acc = f(0)` then `acc += ...`
    defers only while nothing but the program holds the Future)."""

    __slots__ = ("_fn", "_ref")

    def __init__(self, fut):
        self._fn = fut._fn
        self._ref = weakref.ref(fut)

    def done(self):
        fut = self._ref()
        return fut is None or fut.done()   # gone: it had left the pending queue, finished


class SubmitLog:
    """Counts submissions and how many earlier tasks had finished at each one.
    open_gate(fn, n, path): create the file path once n tasks of fn were added.
    futures: a _Seen per task added, in order."""

    def __init__(self, monkeypatch):
        self.futures = []
        self.done_at_submit = []
        self.done_flags = []  # per submission: which earlier tasks had finished
        self.gate = None

        def added(flags, fut):
            self.done_flags.append(flags)
            self.done_at_submit.append(sum(flags))
            self.futures.append(_Seen(fut))
            if self.gate is not None:
                fn, n, path = self.gate
                if sum(1 for f in self.futures if f._fn is fn.__pydron_functional__) == n:
                    open(path, "w").close()

        spy_tasks(monkeypatch, lambda: [f.done() for f in self.futures], added)

    def open_gate(self, fn, n, path):
        self.gate = (fn, n, str(path))
