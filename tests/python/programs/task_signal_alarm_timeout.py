"""A task limits its own run time with a SIGALRM handler and an interval
timer, as scientific code wraps a solver that may not converge; one task
lets its timeout escape to the driver; others signal themselves, directly
and through asyncio's add_signal_handler. Signal handlers work only on a
process's main thread: a worker process runs its tasks there."""
import asyncio
import os
import signal
import threading

from pydron import schedule, functional


class GaveUp(Exception):
    pass


@functional
def solve(n, limit, catch=True):
    def on_alarm(signum, frame):
        raise GaveUp(f"no answer for {n} within {limit} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        if n < 0:  # never converges
            x = 0
            while True:
                x += 1
        return sum(i * i for i in range(n))
    except GaveUp as e:
        if not catch:
            raise
        return f"timeout: {e}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@functional
def on_main_thread():
    return threading.current_thread() is threading.main_thread()


@functional
def count_usr1(k):
    got = []
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
    try:
        for _ in range(k):
            os.kill(os.getpid(), signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, old)
    return len(got)


@functional
def asyncio_signal(tag):
    async def run():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR2, done.set_result, tag)
        try:
            os.kill(os.getpid(), signal.SIGUSR2)
            return await asyncio.wait_for(done, 10)
        finally:
            loop.remove_signal_handler(signal.SIGUSR2)

    return asyncio.run(run())


@schedule
def main():
    # the solvable ones get a limit no loaded machine reaches (a wall-clock timer)
    print([solve(n, 0.3 if n < 0 else 60) for n in (10, -1, 1000, -2)])
    print("main thread:", on_main_thread())
    print("SIGUSR1 handled:", [count_usr1(k) for k in (1, 3)])
    print("asyncio:", [asyncio_signal(t) for t in ("a", "b")])
    try:
        print(solve(-3, 0.2, catch=False))
    except GaveUp as e:
        print("driver caught:", e)
    print("handler restored:", signal.getsignal(signal.SIGALRM) is signal.SIG_DFL)


main()
