#!/usr/bin/env python3
"""check_layers.py [LIBDIR] - fail when an #include in libpydron/ points up.

The folders of libpydron/ are layers (docs/internals.md draws the picture):

    api                      composition root and the public facade
    sched                    jobs, readiness, dispatch, refinement runs, policies
    graph  exec  worker      the graph data structure; executors; the worker loop
    wire   runner            frame codec and connections; how a task body runs
    store                    value store, shared memory
    util                     errors, logging, time, hashing

A file may include headers of its own folder and of folders in a LOWER layer.
An include of a higher layer, or of another folder in the same layer, is an
error (peers in one layer do not know each other), and so is any cycle
between folders. "pydron.h" (the public header) and generated headers
(pydron.pb-c.h) may be included everywhere.

ALLOWED lists includes that break the rule today and are being removed by
other work of issue 9; each names who removes it. A listed include that is no
longer there is reported (remove the entry), not an error.

--self-test builds a small tree with a wrong include and a cycle and checks
that both are reported (the checker must be able to fail).
"""
import os
import re
import sys
import tempfile

LAYERS = {
    "api": 5,
    "sched": 4,
    "graph": 3,
    "exec": 3,
    "worker": 3,
    "wire": 2,
    "runner": 2,
    "store": 1,
    "util": 0,
}
PUBLIC = {"pydron.h", "pydron.pb-c.h"}

# (file, included header): known, and who removes it.
ALLOWED = {
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def scan(root):
    """Yield (file, header) for every quoted include under root."""
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in INCLUDE.finditer(text):
                yield rel, m.group(1)


def folder(path):
    return path.split("/", 1)[0] if "/" in path else None


def find_cycle(edges):
    """A cycle in the folder graph as a list of folders, or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check(root, allowed):
    errors = []
    seen_allowed = set()
    edges = {}
    for src, hdr in scan(root):
        if hdr in PUBLIC or "/" not in hdr:
            if hdr not in PUBLIC and not os.path.exists(os.path.join(root, folder(src) or "", hdr)):
                errors.append("%s: #include \"%s\": not a folder/header path" % (src, hdr))
            continue
        a, b = folder(src), folder(hdr)
        if a not in LAYERS:
            errors.append("%s: folder '%s' has no layer (add it to LAYERS and docs/internals.md)"
                          % (src, a))
            continue
        if b not in LAYERS:
            errors.append("%s: #include \"%s\": folder '%s' has no layer" % (src, hdr, b))
            continue
        if a == b:
            continue
        if (src, hdr) in allowed:
            seen_allowed.add((src, hdr))
            continue
        edges.setdefault(a, set()).add(b)
        if LAYERS[b] > LAYERS[a]:
            errors.append("%s: #include \"%s\" points up (%s is above %s)" % (src, hdr, b, a))
        elif LAYERS[b] == LAYERS[a]:
            errors.append("%s: #include \"%s\": %s and %s are peers in one layer"
                          % (src, hdr, a, b))
    cycle = find_cycle(edges)
    if cycle:
        errors.append("include cycle between folders: " + " -> ".join(cycle))
    stale = sorted(set(allowed) - seen_allowed)
    return errors, stale


def self_test():
    with tempfile.TemporaryDirectory() as d:
        def put(path, text):
            p = os.path.join(d, path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(text)
        put("util/util.h", "#include \"pydron.h\"\n")
        put("graph/graph.h", "#include \"util/util.h\"\n")
        put("sched/sched.h", "#include \"graph/graph.h\"\n")
        errors, _ = check(d, {})
        if errors:
            print("self-test: a clean tree was reported:", errors)
            return 1
        put("graph/tasks.c", "#include \"graph/graph.h\"\n#include \"sched/sched.h\"\n")
        errors, _ = check(d, {})
        if not any("graph/tasks.c" in e and "points up" in e for e in errors):
            print("self-test: graph -> sched was not reported:", errors)
            return 1
        if not any("cycle" in e for e in errors):
            print("self-test: the graph <-> sched cycle was not reported:", errors)
            return 1
        put("graph/tasks.c", "#include \"exec/exec.h\"\n")
        put("exec/exec.h", "\n")
        errors, _ = check(d, {})
        if not any("peers" in e for e in errors):
            print("self-test: graph -> exec (peers) was not reported:", errors)
            return 1
    print("self-test: wrong includes and cycles are reported")
    return 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "libpydron")
    errors, stale = check(root, ALLOWED)
    for s, h in stale:
        print("note: allowed include %s -> %s is gone: remove it from ALLOWED" % (s, h))
    for e in errors:
        print("error:", e)
    if errors:
        print("%d layering error(s); the layer order is in tests/check_layers.py and "
              "docs/internals.md" % len(errors))
        return 1
    print("layers ok: every include points down, no cycle between folders")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
