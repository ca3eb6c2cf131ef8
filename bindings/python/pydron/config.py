"""Configuration without code: ``pydron.configure(...)`` and PYDRON_* variables.

Explicit ``configure()`` arguments win over environment variables, which win
over the defaults (executor ``local``, one worker per core, FIFO policy).
Nothing starts here: the first ``@schedule`` call starts the runtime.

Environment: PYDRON_EXECUTOR (local|threads|inline|remote|dask), PYDRON_WORKERS,
PYDRON_POLICY (fifo|critical-path|locality), PYDRON_ADDRESS (remote: the URL
the driver listens on; dask: the Dask scheduler's address), PYDRON_SECRET_FILE or PYDRON_SECRET (remote: shared
secret, at least 32 random characters: ``python -m pydron secret > FILE``),
PYDRON_TLS_CERT and PYDRON_TLS_KEY (remote: serve ``tls+tcp://`` with this
certificate; workers verify it with ``--tls-ca`` or PYDRON_TLS_CA),
PYDRON_MAX_RETRIES, PYDRON_HEARTBEAT_MS (worker processes: the heartbeat
period; a side silent for 10 periods, at least 3 s, counts as gone),
PYDRON_WORKER_WAIT_TIMEOUT (seconds tasks wait for a live worker when every
worker is gone, then fail saying capacity is gone; default 30); what you see
of a run: PYDRON_PROGRESS (0|1), PYDRON_STATS (1: a summary line at exit),
PYDRON_TRACE (a Chrome/Perfetto trace file), PYDRON_GRAPH (the graph of the
whole run, .dot or .svg).

Every link is encrypted and authenticated with keys derived from the
secret, whatever the transport; TLS adds that workers verify the driver's
certificate (see the trust model in docs/wire.md).
"""

from __future__ import annotations

import os

EXECUTORS = ("local", "threads", "inline", "remote", "dask")
POLICIES = ("fifo", "critical-path", "locality", "heft", "work-stealing", "random")

_settings: dict = {}


def configure(executor: str | None = None, workers: int | None = None, policy: str | None = None,
              address: str | None = None, secret: str | None = None,
              max_retries: int | None = None,
              worker_wait_timeout: float | None = None, progress: bool | None = None,
              stats: bool | None = None, trace: str | None = None,
              graph: str | None = None, *, secret_file: str | None = None,
              tls_cert: str | None = None, tls_key: str | None = None,
              client=None) -> None:
    """Choose where tasks run and what you see of a run. Stops a running
    session, if any, so that the next ``@schedule`` call starts with the new
    settings.

    ``max_retries``: a task running on a worker that dies is run again up
    to this many times (default 3); only runs that started count. One that
    was running every time is failed alone, as the likely cause.
    ``worker_wait_timeout``: seconds tasks wait for a live worker when all
    are gone (default 30), then they fail saying worker capacity is gone.
    ``progress``, ``stats``, ``trace``, ``graph``: the progress bar, the
    summary line at exit, the trace file and the picture of the whole run
    (docs/python.md "Seeing a run").

    remote: ``secret`` (text) or ``secret_file`` (a file only you can read)
    is the shared secret workers must know; ``tls_cert``/``tls_key`` (PEM
    files) make the driver listen with ``tls+tcp://`` addresses.

    dask: tasks run on an existing Dask cluster: ``address`` is its
    scheduler (``tcp://host:8786``), or ``client`` a ``distributed.Client``
    already connected (docs/cluster.md, "An existing Dask cluster")."""
    new = dict(executor=executor, workers=workers, policy=policy, address=address, secret=secret,
               max_retries=max_retries, worker_wait_timeout=worker_wait_timeout,
               progress=progress, stats=stats, trace=trace, graph=graph,
               secret_file=secret_file, tls_cert=tls_cert, tls_key=tls_key, client=client)
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
    ex = (ex or "local").lower()
    if ex not in EXECUTORS:
        raise ValueError(f"pydron executor must be one of {', '.join(EXECUTORS)}, not {ex!r}")
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
    secret = _secret(ex)
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
                view=view, tls_cert=tls_cert, tls_key=tls_key, client=client)


def _secret(ex):
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
    if ex == "remote":
        raise ValueError("the remote executor needs a shared secret: configure(secret_file=...) "
                         "or PYDRON_SECRET_FILE, with a file made by `python -m pydron secret > "
                         "FILE` (or configure(secret=...) / PYDRON_SECRET)")
    return None
