"""Configuration without code: ``pydron.configure(...)`` and PYDRON_* variables.

Explicit ``configure()`` arguments win over environment variables, which win
over the defaults (executor ``local``, one worker per core, FIFO policy).
Nothing starts here: the first ``@schedule`` call starts the runtime.

Environment: PYDRON_EXECUTOR (local|threads|inline|remote|dask|ray), PYDRON_WORKERS,
PYDRON_POLICY (fifo|critical-path|locality), PYDRON_ADDRESS (remote: the URL
the driver listens on; dask: the Dask scheduler's address), PYDRON_SECRET_FILE or PYDRON_SECRET (remote: shared
secret, at least 32 random characters: ``python -m pydron secret > FILE``),
PYDRON_TLS_CERT and PYDRON_TLS_KEY (remote: serve ``tls+tcp://`` with this
certificate; workers verify it with ``--tls-ca`` or PYDRON_TLS_CA),
PYDRON_MAX_RETRIES, PYDRON_HEARTBEAT_MS (worker processes: the heartbeat
period; a side silent for 10 periods, at least 3 s, counts as gone),
PYDRON_WINDOW (worker processes: tasks in flight per worker, fixed; unset,
it follows the measured round trip and task duration),
PYDRON_WORKER_WAIT_TIMEOUT (seconds tasks wait for a live worker when every
worker is gone, then fail saying capacity is gone; default 30); what you see
of a run: PYDRON_PROGRESS (0|1), PYDRON_STATS (1: a summary line at exit),
PYDRON_TRACE (a Chrome/Perfetto trace file), PYDRON_GRAPH (the graph of the
whole run, .dot or .svg).

Starting workers (docs/cluster.md): PYDRON_CLUSTER (ssh|command|slurm|mpi:
who starts the remote workers; implies the remote executor), PYDRON_HOSTS
(ssh: hosts as "a,b:4" or the name of a file with one host per line),
PYDRON_LAUNCH_COMMAND (command: the template), PYDRON_LAUNCH_ARGS (extra
arguments of the launcher's program, e.g. ssh options, split like a shell
does), PYDRON_JOIN_TIMEOUT (seconds to wait for the launched workers,
default 60).

Every link is encrypted and authenticated with keys derived from the
secret, whatever the transport; TLS adds that workers verify the driver's
certificate (see the trust model in docs/wire.md).
"""

from __future__ import annotations

import os
import re

EXECUTORS = ("local", "threads", "inline", "remote", "dask", "ray")
CLUSTERS = ("ssh", "command", "slurm", "mpi")  # launchers of remote workers
POLICIES = ("fifo", "critical-path", "locality", "heft", "work-stealing", "random")

_settings: dict = {}


def configure(executor: str | None = None, workers: int | None = None, policy: str | None = None,
              address: str | None = None, secret: str | None = None,
              max_retries: int | None = None,
              worker_wait_timeout: float | None = None, progress: bool | None = None,
              stats: bool | None = None, trace: str | None = None,
              graph: str | None = None, *, secret_file: str | None = None,
              tls_cert: str | None = None, tls_key: str | None = None,
              client=None, cluster: str | None = None, hosts=None,
              launch_command: str | None = None, launch_args=None,
              join_timeout: float | None = None, window: int | None = None,
              heartbeat: float | None = None, partition: str | None = None,
              time: str | int | None = None, nodes: int | str | None = None,
              restarts: int | None = None) -> None:
    """Choose where tasks run and what you see of a run. Stops a running
    session, if any, so that the next ``@schedule`` call starts with the new
    settings.

    ``max_retries``: a task running on a worker that dies is run again up
    to this many times (default 3); only runs that started count. One that
    was running every time is failed alone, as the likely cause.
    ``worker_wait_timeout``: seconds tasks wait for a live worker when all
    are gone (default 30), then they fail saying worker capacity is gone.
    ``window``: tasks kept in flight per worker process (sent, not yet
    back); unset or 0, it follows what is measured: enough to cover the
    round trip to the worker, about two per thread for long tasks.
    ``heartbeat``: seconds between heartbeats of the driver and its worker
    processes (default 1); a side silent for 10 of them (at least 3 s) is
    taken as lost, so this sets how soon a dead host is noticed.
    ``progress``, ``stats``, ``trace``, ``graph``: the progress bar, the
    summary line at exit, the trace file and the picture of the whole run
    (docs/python.md "Seeing a run").

    remote: ``secret`` (text) or ``secret_file`` (a file only you can read)
    is the shared secret workers must know; ``tls_cert``/``tls_key`` (PEM
    files) make the driver listen with ``tls+tcp://`` addresses.

    dask: tasks run on an existing Dask cluster: ``address`` is its
    scheduler (``tcp://host:8786``), or ``client`` a ``distributed.Client``
    already connected (docs/cluster.md, "An existing Dask cluster").

    ray: tasks run on an existing Ray cluster: ``address`` is what
    ``ray.init`` takes (``host:6379``, ``auto``, ``ray://host:10001``);
    without one, the Ray the program started with ``ray.init()``
    (docs/cluster.md, "An existing Ray cluster").

    Workers started for you (docs/cluster.md): ``cluster`` names who starts
    them - "ssh" (``hosts=["a", "b:4"]`` or a host file; ``workers=0``: every
    CPU of every host), "command" (``launch_command``, a shell template with
    {url} {secret_file} {n} {host} {id}), "slurm", "mpi" - and implies
    ``executor="remote"``; they stop with the program. ``launch_args``: extra
    arguments of the launcher's program (ssh options); ``join_timeout``:
    seconds to wait for them (default 60). A secret is made for the run
    when none is given. With "slurm" outside an allocation (a login node),
    ``partition``, ``time`` (Slurm's limit: minutes, "HH:MM:SS",
    "D-HH:MM") and ``nodes`` (a count or "min-max") shape the allocation
    that is asked for; inside one (sbatch, salloc) that allocation is used.
    ``restarts``: how many times a lost worker is started again by its
    launcher (default 8, or ``PYDRON_WORKER_RESTARTS``; 0: never), with a
    growing back-off; after that its capacity is gone."""
    new = dict(executor=executor, workers=workers, policy=policy, address=address, secret=secret,
               max_retries=max_retries, worker_wait_timeout=worker_wait_timeout,
               progress=progress, stats=stats, trace=trace, graph=graph,
               secret_file=secret_file, tls_cert=tls_cert, tls_key=tls_key, client=client,
               cluster=cluster, hosts=hosts, launch_command=launch_command,
               launch_args=launch_args, join_timeout=join_timeout,
               window=window, heartbeat=heartbeat, partition=partition, time=time,
               nodes=nodes, restarts=restarts)
    before = dict(_settings)
    for k, v in new.items():
        if v is not None:
            _settings[k] = v
    try:
        resolved()  # validate now, at the call
    except BaseException:
        # a bad setting changes nothing: the earlier ones stay in force
        _settings.clear()
        _settings.update(before)
        raise
    from . import _backend

    if _backend.current() is not None:
        _backend.shutdown()


def reset() -> None:
    """Forget configure() settings (environment variables still apply)."""
    _settings.clear()


def _env_int(name):
    v = os.environ.get(name)
    if v is None or v == "":
        return None
    try:
        return int(v)
    except ValueError:
        raise ValueError(f"{name} must be an integer, not {v!r}") from None


def resolved() -> dict:
    """The effective settings (configure() > environment > defaults)."""
    env = os.environ
    ex = _settings.get("executor") or env.get("PYDRON_EXECUTOR") or None
    explicit = ex is not None
    launch = _launch_settings()
    if launch["cluster"] and ex is None:
        ex = "remote"  # a launcher starts remote workers
    ex = (ex or "local").lower()
    if ex not in EXECUTORS:
        raise ValueError(f"pydron executor must be one of {', '.join(EXECUTORS)}, not {ex!r}")
    if launch["cluster"] and ex != "remote":
        raise ValueError(f"cluster={launch['cluster']!r} starts remote workers: it needs "
                         f"executor='remote', not {ex!r}")
    workers = _settings.get("workers")
    if workers is None:
        workers = _env_int("PYDRON_WORKERS")
    if workers is not None and int(workers) < 0:
        raise ValueError("pydron workers must be >= 0 (0 = one per core)")
    policy = _settings.get("policy") or env.get("PYDRON_POLICY") or None
    if policy is not None:
        policy = policy.lower().replace("_", "-")
        if policy not in POLICIES:
            raise ValueError(f"pydron policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    address = _settings.get("address") or env.get("PYDRON_ADDRESS") or None
    secret = _secret(ex, launch["cluster"])
    tls_cert = _settings.get("tls_cert") or env.get("PYDRON_TLS_CERT") or None
    tls_key = _settings.get("tls_key") or env.get("PYDRON_TLS_KEY") or None
    if (tls_cert is None) != (tls_key is None):
        raise ValueError("TLS needs both a certificate and its key (tls_cert= and tls_key=, "
                         "or PYDRON_TLS_CERT and PYDRON_TLS_KEY)")
    if address and address.startswith("tls+") and ex == "remote" and not tls_cert:
        raise ValueError(f"{address} needs a TLS certificate and key (configure(tls_cert=..., "
                         "tls_key=...) or PYDRON_TLS_CERT and PYDRON_TLS_KEY)")
    retries = _settings.get("max_retries")
    if retries is None:
        retries = _env_int("PYDRON_MAX_RETRIES")
    wait = _settings.get("worker_wait_timeout")
    if wait is None:
        v = env.get("PYDRON_WORKER_WAIT_TIMEOUT")
        if v:
            try:
                wait = float(v)
            except ValueError:
                raise ValueError(f"PYDRON_WORKER_WAIT_TIMEOUT must be a number of seconds, "
                                 f"not {v!r}") from None
    if wait is not None and not float(wait) > 0:
        raise ValueError("pydron worker_wait_timeout must be > 0 seconds")
    hb = _env_int("PYDRON_HEARTBEAT_MS")
    if hb is not None and not 0 < hb <= 3600_000:
        raise ValueError(f"PYDRON_HEARTBEAT_MS must be between 1 and 3600000, not {hb}")
    if _settings.get("heartbeat") is not None:
        try:
            sec = float(_settings["heartbeat"])
        except (TypeError, ValueError):
            raise ValueError(f"pydron heartbeat must be a number of seconds, "
                             f"not {_settings['heartbeat']!r}") from None
        if not 0.001 <= sec <= 3600:
            raise ValueError(f"pydron heartbeat must be between 0.001 and 3600 seconds, not {sec}")
        hb = int(round(sec * 1000))
    window = _settings.get("window")
    if window is None:
        window = _env_int("PYDRON_WINDOW")
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, int) or not 0 <= window <= 1 << 20:
            raise ValueError(f"pydron window must be a whole number of tasks between 0 and "
                             f"{1 << 20} (0: measured), not {window!r}")
    client = _settings.get("client")
    if client is not None and ex != "dask":
        raise ValueError("configure(client=...) is for the dask executor "
                         "(configure(executor='dask', client=...))")
    if ex == "dask" and client is None and not address:
        raise ValueError("the dask executor needs the Dask scheduler's address "
                         "(configure(address='tcp://host:8786') or PYDRON_ADDRESS) or a "
                         "distributed.Client (configure(client=...))")
    view = dict(progress=_settings.get("progress"), stats=_settings.get("stats"),
                trace=_settings.get("trace") or env.get("PYDRON_TRACE") or None,
                graph=_settings.get("graph") or env.get("PYDRON_GRAPH") or None)
    from . import _view

    _view.progress_wanted(view["progress"], None)  # bad PYDRON_PROGRESS: a clear error now
    _view.stats_wanted(view["stats"])
    return dict(executor=ex, workers=int(workers or 0), policy=policy, address=address,
                secret=secret, max_retries=int(retries or 0), explicit_executor=explicit,
                heartbeat_ms=hb or 0, worker_wait_timeout=None if wait is None else float(wait),
                view=view, tls_cert=tls_cert, tls_key=tls_key, client=client,
                window=int(window or 0), **launch)


def _launch_settings():
    """cluster, hosts, launch_command, launch_args, join_timeout: who starts
    the remote workers, checked here so that a typo fails at configure()."""
    import shlex

    env = os.environ
    cluster = _settings.get("cluster") or env.get("PYDRON_CLUSTER") or None
    if cluster is not None:
        cluster = cluster.lower()
        if cluster == "none":
            cluster = None
        elif cluster not in CLUSTERS:
            raise ValueError(f"pydron cluster must be one of {', '.join(CLUSTERS)}, not "
                             f"{cluster!r}")
    hosts = _settings.get("hosts")
    if hosts is None and env.get("PYDRON_HOSTS"):
        hosts = env["PYDRON_HOSTS"]
    hosts = _host_list(hosts) if hosts is not None else None
    command = _settings.get("launch_command") or env.get("PYDRON_LAUNCH_COMMAND") or None
    if cluster == "ssh" and not hosts:
        raise ValueError("cluster='ssh' needs hosts: configure(hosts=['a', 'b:4']), a host file "
                         "(configure(hosts='hosts.txt')) or PYDRON_HOSTS")
    if cluster == "command" and not command:
        raise ValueError("cluster='command' needs launch_command, a shell command with {url} "
                         "{secret_file} {n} {host} {id} (or PYDRON_LAUNCH_COMMAND)")
    if command is not None and cluster is None:
        cluster = "command"
    args = _settings.get("launch_args")
    if args is None and env.get("PYDRON_LAUNCH_ARGS"):
        args = shlex.split(env["PYDRON_LAUNCH_ARGS"])
    if isinstance(args, str):
        args = shlex.split(args)
    if args is not None and not all(isinstance(a, str) for a in args):
        raise ValueError("pydron launch_args must be a list of str")
    named = _slurm_args(cluster)
    if named:
        args = named + list(args or [])
    join = _settings.get("join_timeout")
    if join is None and env.get("PYDRON_JOIN_TIMEOUT"):
        try:
            join = float(env["PYDRON_JOIN_TIMEOUT"])
        except ValueError:
            raise ValueError(f"PYDRON_JOIN_TIMEOUT must be a number of seconds, not "
                             f"{env['PYDRON_JOIN_TIMEOUT']!r}") from None
    if join is not None and not float(join) > 0:
        raise ValueError("pydron join_timeout must be > 0 seconds")
    restarts = _settings.get("restarts")
    if restarts is not None:
        if isinstance(restarts, bool) or not isinstance(restarts, int) or \
                not 0 <= restarts <= 100000:
            raise ValueError(f"pydron restarts must be a whole number between 0 and 100000 "
                             f"(0: never restart a lost worker), not {restarts!r}")
        if cluster is None:
            raise ValueError("pydron restarts: for workers a launcher starts (configure("
                             "cluster='ssh'|'command'|'slurm'|'mpi')); local workers are always "
                             "restarted, and workers you start yourself restart with "
                             "python -m pydron.worker --restart")
    return dict(cluster=cluster, hosts=hosts, launch_command=command,
                launch_args=list(args) if args is not None else None,
                join_timeout=None if join is None else float(join), restarts=restarts)


# configure() name: (Slurm's format, positive int allowed, what it must be)
_SLURM_NAMED = {
    "partition": (r"[A-Za-z0-9_.,-]+", False, "a Slurm partition name (or a comma list)"),
    "time": (r"(\d+(-\d+(:\d+){0,2})?|\d+(:\d+){1,2}|UNLIMITED|INFINITE)", True,
             "Slurm's time limit: minutes (30), \"HH:MM:SS\" or \"D-HH:MM\""),
    "nodes": (r"[1-9]\d*(-[1-9]\d*)?", True, "a node count (3) or a range (\"2-4\")"),
}


def _slurm_args(cluster):
    """partition=, time=, nodes= as the arguments of the allocation the slurm
    launcher asks for, checked here so that a typo fails at configure()
    rather than at salloc (Slurm's own formats: sbatch(1) --time, --nodes)."""
    got = {k: _settings[k] for k in _SLURM_NAMED if _settings.get(k) is not None}
    if got and cluster != "slurm":
        raise ValueError(f"pydron {', '.join(got)}: for cluster='slurm' only (the allocation it "
                         f"asks for), not cluster={cluster!r}")
    out = []
    for k, v in got.items():
        pattern, int_ok, what = _SLURM_NAMED[k]
        ok = (int_ok and isinstance(v, int) and not isinstance(v, bool) and v > 0
              or isinstance(v, str) and re.fullmatch(pattern, v.strip(), re.IGNORECASE))
        if not ok:
            raise ValueError(f"pydron {k} must be {what}, not {v!r}")
        out.append(f"--{k}={str(v).strip()}")
    return out


def _hostfile_line(line):
    """An mpirun/Open MPI host file line, "host slots=N [max_slots=M]", is
    "host:N"; any other line is host names separated by spaces."""
    words = line.split()
    if len(words) > 1 and all("=" in w for w in words[1:]):
        opts = dict(w.split("=", 1) for w in words[1:])
        if "slots" in opts:
            return f"{words[0]}:{opts['slots']}"
        return words[0]
    return line


def _host_list(hosts):
    """A list of "host", "user@host" or "host:N"; a str is a host file when
    such a file exists, else names separated by commas or spaces."""
    if isinstance(hosts, (str, os.PathLike)):
        path = os.fspath(hosts)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                items = [ln.split("#", 1)[0].strip() for ln in f]
            items = [_hostfile_line(ln) for ln in items if ln]
            items = [h for ln in items for h in ln.split()]
            if not items:
                raise ValueError(f"the host file {path} names no host")
        elif "/" in path:
            raise ValueError(f"the host file {path} does not exist")
        else:
            items = path.replace(",", " ").split()
    else:
        items = list(hosts)
    out = []
    for h in items:
        if not isinstance(h, str) or not h.strip() or h.startswith("-"):
            raise ValueError(f"pydron hosts: {h!r} is not a host name")
        name, sep, n = h.strip().rpartition(":")
        if sep and ":" not in name and not (n.isdigit() and 0 < int(n) <= 4096):
            raise ValueError(f"pydron hosts: {h!r}: the worker count after ':' must be a "
                             "whole number from 1 to 4096")
        out.append(h.strip())
    if not out:
        raise ValueError("pydron hosts: the list is empty")
    return out


def _secret(ex, cluster=None):
    """The shared secret (configure() > PYDRON_SECRET_FILE/PYDRON_SECRET),
    checked by the library's own parser: weak secrets and files others can
    read are refused with a message saying how to fix them."""
    from . import _core

    env = os.environ
    secret = _settings.get("secret")
    path = _settings.get("secret_file")
    if ex != "remote" and secret is None and path is None:
        return None  # only a remote session uses a secret of the user's
    if secret is None and path is None:
        secret = env.get("PYDRON_SECRET") or None
        path = None if secret else (env.get("PYDRON_SECRET_FILE") or None)
    if path is not None:
        return _core.secret_read_file(path)
    if secret is not None:
        _core.secret_check(secret)
        return secret
    if ex == "remote" and cluster is None:  # a launcher makes one for the run
        raise ValueError("the remote executor needs a shared secret: configure(secret_file=...) "
                         "or PYDRON_SECRET_FILE, with a file made by `python -m pydron secret > "
                         "FILE` (or configure(secret=...) / PYDRON_SECRET)")
    return None
