"""``python -m pydron.worker --connect URL``: a Python worker process.

Runs the C worker loop (pydron_worker_main) - the same as the
``pydron-worker`` executable - with the Python runner registered as kind
"python". The local executor starts it with ``sys.executable -m
pydron.worker``; on other hosts start it by hand, with ssh, srun, ...
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pydron.worker",
                                description="pydron worker process (Python tasks and C tasks)")
    p.add_argument("--connect", "-c", required=True, metavar="URL",
                   help="driver address (ipc://, tcp://, tls+tcp://)")
    p.add_argument("--secret", help=argparse.SUPPRESS)  # refused below, with the reason
    p.add_argument("--secret-file",
                   help="read the shared secret from this file (mode 600; -: one line on "
                        "stdin; default: $PYDRON_SECRET_FILE, else $PYDRON_SECRET)")
    p.add_argument("--id", type=int, default=-1, help="worker id (-1: assigned by the driver)")
    p.add_argument("--threads", type=int, default=0, help="task threads (default 1)")
    p.add_argument("--tls-ca",
                   help="PEM CA file to verify the driver (tls+tcp://; default: $PYDRON_TLS_CA)")
    p.add_argument("--peer-url", help="where peers fetch this worker's values")
    p.add_argument("--connect-timeout", type=int, default=60, metavar="SECONDS",
                   help="keep trying to reach a driver that does not listen yet for this long "
                        "(default 60; 0: one attempt)")
    p.add_argument("--path", help="entries to add to sys.path (os.pathsep separated)")
    # only for a worker its driver spawned itself (the local executor); a
    # worker started through a shell, nohup, ssh, srun or mpirun has another
    # parent and keeps running (it still ends when its driver is gone)
    p.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--no-exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--restart", action="store_true",
                   help="supervise: start the worker in a child process and start it again "
                        "when it dies (e.g. a task crashed it); stop when it ends normally")
    args, unknown = p.parse_known_args(argv)
    if args.restart:
        return supervise([a for a in (sys.argv[1:] if argv is None else argv)
                          if a != "--restart"])
    # Records logged by tasks go to the driver, which formats and filters
    # them with its own handlers (levels as set in the driver at the call);
    # the worker's own diagnostics ("pydron" logger) go to stderr.
    from ._settings import install_capture

    install_capture()
    logging.getLogger("pydron").setLevel(os.environ.get("PYDRON_LOG", "WARNING").upper())
    if unknown:
        logging.getLogger("pydron").info("ignoring worker arguments %s", unknown)
    if args.path:
        for entry in reversed(args.path.split(os.pathsep)):
            if entry and entry not in sys.path:
                sys.path.insert(0, entry)
    if args.secret is not None:
        print("pydron worker: --secret is not accepted: a command line is visible to every "
              "local user (ps). Put the secret in a file (python -m pydron secret > FILE) and "
              "pass --secret-file FILE, or set PYDRON_SECRET_FILE or PYDRON_SECRET",
              file=sys.stderr)
        return 2
    from . import _core

    if not 0 <= args.connect_timeout <= 86400:
        print("pydron worker: --connect-timeout needs a whole number from 0 to 86400, not "
              f"{args.connect_timeout}", file=sys.stderr)
        return 2
    secret = None
    if args.secret_file:
        path = "/dev/stdin" if args.secret_file == "-" else args.secret_file
        try:  # the library's parser: the C worker reads the same file the same way
            secret = _core.secret_read_file(path)
        except _core.PydronError as e:
            print(f"pydron worker: {e}", file=sys.stderr)
            return 2
    # Ctrl-C in a terminal reaches the whole process group: the driver
    # decides when workers stop, a task must not die of KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ._serialize import run_task

    try:
        _core.worker_main(args.connect, secret=secret, worker_id=args.id, threads=args.threads,
                          runner=run_task, tls_ca_file=args.tls_ca,
                          exit_with_parent=args.exit_with_parent and not args.no_exit_with_parent,
                          listen_peer_url=args.peer_url,
                          connect_timeout_ms=args.connect_timeout * 1000)
    except _core.ClosedError:
        return 0  # the driver ended the session or went away: the normal end of a worker
    except _core.PydronError as e:
        print(f"pydron worker: {e}", file=sys.stderr)
        return 1
    return 0


def _describe(rc: int) -> str:
    if rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exited with status {rc}"


# A worker that ends by itself: 0 = the driver said shutdown or is gone,
# 1 = refused or cannot connect, 2 = bad arguments. Anything else (a signal,
# os._exit in a task, an interpreter abort) is a crash, and it is restarted.
_FINAL = (0, 1, 2)


def supervise(child_args) -> int:
    """Run ``python -m pydron.worker child_args`` again each time it crashes,
    so that a task that kills its worker costs the driver one run, not the
    worker. Quick crashes in a row back off (0.5 s doubling to 10 s); after
    20 in a row the supervisor gives up. SIGTERM/SIGINT stop the child and
    the supervisor."""
    import subprocess
    import time

    log = logging.getLogger("pydron")
    logging.basicConfig(format="pydron worker supervisor: %(message)s")
    child = None
    stop = False

    def on_signal(signum, frame):
        nonlocal stop
        stop = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    quick, delay = 0, 0.5
    # the worker's Hello tells the driver it is supervised and, after a
    # crash, how its predecessor ended (named in the error of the task it
    # was running); same variable as pydron-worker --restart
    env = dict(os.environ, PYDRON_SUPERVISED="0")
    # "--secret-file -" (launchers send the secret as one line on stdin):
    # read it once and hand it to every worker process the same way, as
    # the C supervisor does; a replacement would find stdin at its end
    stdin_secret = None
    if any(a == "--secret-file" and b == "-" for a, b in zip(child_args, child_args[1:])) or             "--secret-file=-" in child_args:
        stdin_secret = sys.stdin.buffer.readline()
    while True:
        if stop:
            return 0
        t0 = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "pydron.worker", *child_args], env=env,
                                 stdin=subprocess.PIPE if stdin_secret is not None else None)
        if stop:
            # the stop's handler ran inside Popen (Python code), before this
            # child was known to it: stop the child now. Popen has returned,
            # so the child has exec'd and takes SIGTERM as any worker does.
            child.terminate()
        if stdin_secret is not None:
            try:
                child.stdin.write(stdin_secret)
                child.stdin.close()
            except OSError:
                pass  # it died at once: its status says why
        rc = child.wait()
        if stop:
            return 0
        if rc in _FINAL:
            return rc
        lived = time.monotonic() - t0
        quick = quick + 1 if lived < 5 else 0
        delay = min(delay * 2, 10.0) if quick > 1 else 0.5
        if quick >= 20:
            log.error("worker process (pid %d) %s; it crashed %d times in a row within "
                      "seconds: giving up", child.pid, _describe(rc), quick)
            return 1
        log.warning("worker process (pid %d) %s; starting it again", child.pid, _describe(rc))
        env["PYDRON_SUPERVISED"] = f"{child.pid} {_describe(rc)}"
        if quick > 1:
            time.sleep(delay)


if __name__ == "__main__":
    sys.exit(main())
