#!/usr/bin/env python3
"""check.py LIB|DUMP.abi INCLUDE_DIR BASELINE.abi SUPPRESSIONS

Is LIB backward compatible with the release whose ABI dump is BASELINE?

Additions are fine (new functions, new enumerators). Everything else fails:
a removed function or variable, a changed parameter or return type, a
changed struct layout. The one exception is declared in SUPPRESSIONS: the
structs that carry a version (or are filled by size) may grow at their end,
because the library reads and writes only the part the caller's version
knows (tests/c/test_abi.c checks that with guard bytes).

libabigail's suppression hides every change of a matched struct, not only
members appended at its end, so the members those structs had in BASELINE
are compared here too: same names, offsets and type names, in order.
"""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

here = os.path.dirname(os.path.abspath(__file__))


def dump(lib, inc, out):
    if lib.endswith(".abi"):           # an ABI dump already (selftest.py)
        with open(lib) as f, open(out, "w") as g:
            g.write(f.read())
        return
    with open(out, "w") as g:
        subprocess.run(["sh", os.path.join(here, "dump.sh"), lib, inc], stdout=g, check=True)


def type_names(root):
    """type id -> a readable name that does not depend on the type's size."""
    nodes = {e.get("id"): e for e in root.iter() if e.get("id")}
    memo = {}

    def name(tid, depth=0):
        if tid in memo:
            return memo[tid]
        e = nodes.get(tid)
        if e is None or depth > 20:
            return "?" + str(tid)
        tag = e.tag
        if tag == "pointer-type-def":
            n = name(e.get("type-id"), depth + 1) + "*"
        elif tag == "qualified-type-def":
            n = ("const " if e.get("const") == "yes" else "") + name(e.get("type-id"), depth + 1)
        elif tag == "array-type-def":
            n = name(e.get("type-id"), depth + 1) + "[%s]" % e.get("size-in-bits")
        elif tag == "function-type":
            n = "fn(" + ",".join(name(p.get("type-id"), depth + 1)
                                 for p in e.findall("parameter") if p.get("type-id")) + ")"
        else:
            n = e.get("name") or tag
        memo[tid] = n
        return n
    return name


def members(path, structs):
    root = ET.parse(path).getroot()
    name = type_names(root)
    out = {}
    for c in root.iter("class-decl"):
        if c.get("name") in structs and c.get("is-declaration-only") != "yes":
            out[c.get("name")] = [(v.get("name"), dm.get("layout-offset-in-bits"), name(v.get("type-id")))
                                  for dm in c.findall("data-member") for v in dm.findall("var-decl")]
    return out


def main():
    lib, inc, base, suppr = sys.argv[1:5]
    text = open(suppr).read()
    versioned = set()
    for rx in re.findall(r"name_regexp\s*=\s*\^?([A-Za-z0-9_|()]+)\$?", text):
        m = re.match(r"([a-z_]*)\(([a-z_|]+)\)$", rx)
        if m:
            versioned |= {m.group(1) + s for s in m.group(2).split("|")}
        else:
            versioned.add(rx)
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        new = os.path.join(tmp, "new.abi")
        dump(lib, inc, new)
        r = subprocess.run(["abidiff", "--suppressions", suppr, "--no-added-syms", base, new],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(r.stdout)
        # abidiff: bit 1 error, bit 2 usage error, bit 4 ABI change, bit 8 incompatible
        if r.returncode & 3:
            bad.append("abidiff failed (exit %d)" % r.returncode)
        if r.returncode & 8:
            bad.append("incompatible change (abidiff exit %d)" % r.returncode)
        # bit 4 alone is also set for changes that break old callers (a struct
        # that changed size or layout): only additions may remain.
        for line in r.stdout.splitlines():
            if "changes summary:" in line and not re.search(r": 0 Removed(,| ).*0 Changed", line):
                bad.append(line.strip())
        old_m, new_m = members(base, versioned), members(new, versioned)
        for s in sorted(versioned):
            if s not in old_m:
                continue
            if s not in new_m:
                bad.append("versioned struct %s is gone" % s)
                continue
            o, n = old_m[s], new_m[s]
            if n[:len(o)] != o:
                bad.append("versioned struct %s: members of the release changed:\n    was %s\n    now %s"
                           % (s, o, n[:len(o)]))
    if bad:
        print("abi-check: NOT compatible with %s:" % os.path.basename(base))
        for b in bad:
            print("  " + b)
        return 1
    print("abi-check: compatible with %s (versioned, may grow at their end: %s)"
          % (os.path.basename(base), ", ".join(sorted(versioned))))
    return 0


sys.exit(main())
