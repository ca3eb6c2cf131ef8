#!/usr/bin/env python3
"""check_error_clear.py LIBPYDRON_DIR - every public function that returns an
error code starts by clearing pydron_error_last() (pydron.h: a successful
call leaves "" and no older message survives).

Scans the definitions `PYDRON_API int pydron_x(...)` (and `int pydron_x(`)
in LIBPYDRON_DIR/*/*.c; each must call pdi_err_clear(); before anything
but declarations - or be a wrapper that returns another public function's
result (the 0.1.0 entry points in api/versioned.c). pydron_version
returns a number, not an error code."""
import glob
import os
import re
import sys

EXEMPT = {"pydron_version"}
root = sys.argv[1]
sig = re.compile(r'^(?:PYDRON_API )?int \(?(pydron_[a-z0-9_]+)\)?\(')
bad, seen = [], 0
for path in sorted(glob.glob(os.path.join(root, "*", "*.c"))):
    lines = open(path).read().split("\n")
    for i, line in enumerate(lines):
        m = sig.match(line)
        if not m or m.group(1) in EXEMPT or line.rstrip().endswith(";"):
            continue
        j = i
        while j < len(lines) and lines[j] != "{" and not lines[j].rstrip().endswith("{"):
            j += 1
        body = [l.strip() for l in lines[j + 1:j + 12] if l.strip()]
        if not body:
            continue
        seen += 1
        if re.match(r"return \(?pydron_[a-z0-9_]+\)?\(", body[0]):
            continue   # a wrapper of a public function that clears
        ok = False
        for stmt in body:
            if stmt.startswith("pdi_err_clear();"):
                ok = True
                break
            # only declarations may come first (no control flow, no error
            # reporting, no public call)
            if re.match(r"(if|return|for|while|switch|do)\b", stmt) or "pdi_err" in stmt \
                    or re.search(r"\bpydron_[a-z0-9_]+\(", stmt):
                break
        if not ok:
            bad.append("%s:%d: %s does not start with pdi_err_clear();"
                       % (os.path.relpath(path, root), i + 1, m.group(1)))
if seen < 40:
    print("only %d public int functions found under %s: the scan is broken" % (seen, root))
    sys.exit(1)
for b in bad:
    print(b)
print("%d public functions that return an error code, %d without pdi_err_clear()" % (seen, len(bad)))
sys.exit(1 if bad else 0)
