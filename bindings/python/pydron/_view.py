"""A view of the run: progress on the terminal, stats, the one-line summary
at exit, the trace file and the picture of the whole graph.

Settings (``configure()`` wins over the environment):

- ``PYDRON_PROGRESS``: unset = a progress bar on stderr when it is a terminal
  (after half a second, so that short programs look unchanged); ``0`` = never;
  ``1`` = also when stderr is not a terminal (logs, CI).
- ``PYDRON_STATS=1``: one line of counters on stderr when the program ends.
- ``PYDRON_TRACE=trace.json``: a Chrome/Perfetto trace of the run (written by
  libpydron, see docs/python.md "Seeing a run").
- ``PYDRON_GRAPH=run.dot`` (or ``.svg``): the graph of every task the run
  made, written at exit; SVG through Graphviz ``dot`` when it is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

# ---------------------------------------------------------------- settings


def _flag(name, value):
    """True/False from configure() or the environment; None = automatic."""
    if value is not None:
        return bool(value)
    v = os.environ.get(name, "").strip().lower()
    if v in ("", "auto"):
        return None
    if v in ("0", "false", "no", "off"):
        return False
    if v in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 0 or 1, not {v!r}")


def progress_wanted(setting, stream) -> bool:
    on = _flag("PYDRON_PROGRESS", setting)
    if on is None:  # automatic: only where a person watches
        try:
            return stream.isatty()
        except (AttributeError, ValueError):
            return False
    return on


def stats_wanted(setting) -> bool:
    return bool(_flag("PYDRON_STATS", setting))


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# ---------------------------------------------------------------- stats


def make_stats(raw: dict, started: float, workers: int, executor: str) -> dict:
    """The user's view of the counters of libpydron's graph."""
    moved = raw["bytes_to_workers"] + raw["bytes_between_workers"] + raw["bytes_to_driver"]
    return {
        "tasks": raw["tasks_added"],
        "done": raw["tasks_done"],
        "failed": raw["tasks_failed"],
        "retried": raw["tasks_retried"],
        "bytes_moved": moved,
        "bytes_to_workers": raw["bytes_to_workers"],
        "bytes_between_workers": raw["bytes_between_workers"],
        "bytes_to_driver": raw["bytes_to_driver"],
        "driver_wait_s": raw["wait_ns"] / 1e9,
        "elapsed_s": time.monotonic() - started,
        "workers": workers,
        "executor": executor,
    }


def summary_line(st: dict) -> str:
    return (f"pydron: {st['tasks']} tasks ({st['done']} done, {st['failed']} failed, "
            f"{st['retried']} retried) on {st['workers']} {st['executor']} worker"
            f"{'' if st['workers'] == 1 else 's'} in {st['elapsed_s']:.2f} s; "
            f"{_size(st['bytes_moved'])} moved; driver waited {st['driver_wait_s']:.2f} s")


# ---------------------------------------------------------------- progress


class _PlainBar:
    """The display when tqdm is not installed: one line redrawn in place."""

    def __init__(self, stream):
        self._s = stream
        self._t0 = time.monotonic()
        self._w = 0

    def show(self, done, total, failed):
        dt = time.monotonic() - self._t0
        rate = done / dt if dt > 0 else 0.0
        eta = f", ETA {int((total - done) / rate)} s" if rate > 0 and total > done else ""
        bad = f", {failed} failed" if failed else ""
        line = f"pydron: {done}/{total} tasks, {rate:.1f} tasks/s{eta}{bad}"
        self._s.write("\r" + line.ljust(self._w))
        self._s.flush()
        self._w = len(line)

    def close(self):
        self._s.write("\r" + " " * self._w + "\r")
        self._s.flush()


class _TqdmBar:
    def __init__(self, stream, tqdm):
        self._tqdm = tqdm
        self._s = stream
        self._b = None

    def show(self, done, total, failed):
        b = self._b
        if b is None:
            # from what is done already: the rate counts from here on
            self._b = b = self._tqdm(total=total, initial=done, unit="task", desc="pydron",
                                     file=self._s, leave=False, mininterval=0.1,
                                     **_width(self._s))
        b.total = total
        if failed:
            b.set_postfix(failed=failed, refresh=False)
        b.update(done - b.n)
        b.refresh()

    def close(self):
        if self._b is not None:
            self._b.close()


def _width(stream):
    """Follow the terminal's size; a terminal that reports none (0 columns
    or lines, e.g. some CI consoles) gets 80x24, where tqdm would draw
    nothing."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return {"ncols": 80, "nrows": 24}
    kw = {"dynamic_ncols": True} if size.columns > 0 else {"ncols": 80}
    if size.lines <= 0:
        kw["nrows"] = 24
    return kw


class Progress:
    """A thread that shows tasks done / submitted of a graph, with their
    rate and the time left, until stop(). Between @schedule calls (pause())
    the line is cleared, so that the program's own output and its plain
    code do not run under a finished bar; it comes back, again only after
    DELAY, when tasks are submitted."""

    DELAY = 0.5
    INTERVAL = 0.2

    def __init__(self, graph, stream=None):
        self._g = graph
        self._s = stream or sys.stderr
        self._stop = threading.Event()
        self._lock = threading.Lock()   # the bar: this thread, pause() and stop()
        self._bar = None
        self._paused = None   # tasks submitted when paused, while paused
        self._since = time.monotonic()   # shown only DELAY after this
        self._t = threading.Thread(target=self._run, name="pydron-progress", daemon=True)
        self._t.start()

    def _make_bar(self):
        try:
            from tqdm import tqdm
        except ImportError:  # optional: a plain line does the same job
            return _PlainBar(self._s)
        return _TqdmBar(self._s, tqdm)

    def _counts(self):
        st = self._g.stats()
        return (st["tasks_done"] + st["tasks_failed"], st["tasks_added"], st["tasks_failed"])

    def _run(self):
        if self._stop.wait(self.DELAY):
            return
        while True:
            try:
                with self._lock:
                    self._draw()
            except Exception:  # noqa: BLE001 - the graph closed under us: stop showing
                return
            if self._stop.wait(self.INTERVAL):
                return

    def _draw(self):
        done, total, failed = self._counts()
        if self._paused is not None:
            if total <= self._paused:
                return
            self._paused = None   # a new call submitted tasks
            self._since = time.monotonic()
        if total == 0 or time.monotonic() - self._since < self.DELAY:
            return
        if self._bar is None:
            self._bar = self._make_bar()
        self._bar.show(done, total, failed)

    def pause(self):
        """The @schedule call returned: clear the line (after a last picture)
        until tasks are submitted again."""
        with self._lock:
            if self._paused is not None:
                return
            try:
                if self._bar is not None:
                    self._draw()
                self._paused = self._counts()[1]
            except Exception:  # noqa: BLE001 - the graph closed: stop() follows
                self._paused = 0
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def stop(self):
        """Last picture (if shown at all), then clear the line."""
        self._stop.set()
        self._t.join()
        with self._lock:
            if self._bar is not None:
                try:
                    self._draw()
                except Exception:  # noqa: BLE001
                    pass
                self._bar.close()
                self._bar = None


# ---------------------------------------------------------------- the graph of a whole run

# libpydron records every task of the run (pydron_graph_record); past this
# many the picture says how many more there were
GRAPH_MAX_TASKS = 20_000


def write_graph(text: str, path) -> str:
    """Write DOT text to path, or an image (SVG, PNG, PDF by the extension)
    through Graphviz `dot` when it is installed (else the DOT text next to
    it, with a message). Returns the path written."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("", "dot", "gv"):
        with open(path, "w") as f:
            f.write(text)
        return path
    exe = shutil.which("dot")
    if exe is None:
        alt = os.path.splitext(path)[0] + ".dot"
        with open(alt, "w") as f:
            f.write(text)
        sys.stderr.write(f"pydron: Graphviz 'dot' is not installed; wrote {alt} instead "
                         f"of {path}\n")
        return alt
    subprocess.run([exe, f"-T{ext}", "-o", path], input=text.encode(), check=True)
    return path
