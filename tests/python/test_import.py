"""`import pydron` is cheap: no worker process, no thread, nothing heavy."""

import os
import subprocess
import sys
import textwrap


def run(code):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=60)


def test_import_starts_nothing():
    r = run("""
        import os, sys, threading, time
        import pydron
        time.sleep(0.3)
        kids = []
        for d in os.listdir('/proc'):
            if d.isdigit():
                try:
                    st = open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()
                except OSError:
                    continue
                if int(st[1]) == os.getpid():
                    kids.append(d)
        heavy = [m for m in ('numpy', 'cloudpickle', 'pydron._backend', 'asyncio', 'multiprocessing')
                 if m in sys.modules]
        print('children', len(kids), 'threads', threading.active_count(), 'heavy', heavy)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["children", "0", "threads", "1", "heavy", "[]"]


def test_configure_starts_nothing():
    r = run("""
        import os, pydron
        pydron.configure(executor='local', workers=2)
        kids = 0
        for d in os.listdir('/proc'):
            try:  # a process may vanish between listdir and open
                if d.isdigit() and open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid()):
                    kids += 1
            except OSError:
                pass
        print(kids)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0"
