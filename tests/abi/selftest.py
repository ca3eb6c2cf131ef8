#!/usr/bin/env python3
"""selftest.py BASELINE.abi SUPPRESSIONS INCLUDE_DIR - the ABI check can fail.

Makes edited copies of the baseline dump (what a careless change to
pydron.h would produce) and runs check.py on each: a removed function, a
changed member type, a changed return type, a member inserted in front of a
versioned struct and a non-versioned struct that grew must all fail; a
versioned struct that grew at its end and an added function must pass.
"""
import os
import re
import subprocess
import sys
import tempfile

base_path, suppr, inc = sys.argv[1:4]
here = os.path.dirname(os.path.abspath(__file__))
base = open(base_path).read()


def type_id(name):
    m = re.search(r"<typedef-decl name='%s' [^>]* id='([^']+)'" % name, base)
    assert m, name
    return m.group(1)


def struct_span(s, name):
    i = s.index("<class-decl name='%s' " % name)
    return i, s.index("</class-decl>", i)


def grow(s, name, at_front=False):
    i, k = struct_span(s, name)
    m = re.search(r"size-in-bits='(\d+)'", s[i:k])
    size = int(m.group(1))
    head = s[i:k].replace(m.group(0), "size-in-bits='%d'" % (size + 64), 1)
    u64 = type_id("uint64_t")
    member = ("<data-member access='public' layout-offset-in-bits='%d'>"
              "<var-decl name='added' type-id='%s' visibility='default'/>"
              "</data-member>\n")
    if at_front:
        j = head.index("<data-member")
        body = re.sub(r"layout-offset-in-bits='(\d+)'",
                      lambda g: "layout-offset-in-bits='%d'" % (int(g.group(1)) + 64),
                      head[j:])
        head = head[:j] + member % (0, u64) + body
    else:
        head += member % (size, u64)
    return s[:i] + head + s[k:]


def drop_function(s, name):
    s = re.sub(r"\s*<elf-symbol name='%s' [^>]*/>" % name, "", s)
    return re.sub(r"\s*<function-decl name='%s' .*?</function-decl>" % name, "", s,
                  flags=re.S)


def retype_member(s, struct, member, typedef):
    i, k = struct_span(s, struct)
    part = re.sub(r"(<var-decl name='%s' type-id=')[^']+'" % member,
                  r"\g<1>%s'" % type_id(typedef), s[i:k])
    return s[:i] + part + s[k:]


def retype_return(s, fn, typedef):
    i = s.index("<function-decl name='%s' " % fn)
    k = s.index("</function-decl>", i)
    part = re.sub(r"<return type-id='[^']+'", "<return type-id='%s'" % type_id(typedef),
                  s[i:k])
    return s[:i] + part + s[k:]


cases = [
    ("removed function", drop_function(base, "pydron_version_string"), False),
    ("member type changed", retype_member(base, "pydron_graph_stats", "tasks_done", "uint32_t"), False),
    ("return type changed", retype_return(base, "pydron_graph_stats_get", "uint32_t"), False),
    ("member inserted in front of a versioned struct", grow(base, "pydron_graph_stats", True), False),
    ("non-versioned struct grew", grow(base, "pydron_iov"), False),
    ("versioned struct grew at its end", grow(base, "pydron_graph_stats"), True),
    ("versioned options grew at their end", grow(base, "pydron_runtime_options"), True),
    ("function added", base, True),
]
# "function added": compare the smaller dump (baseline minus one function) as
# the baseline against the full one.
failed = 0
with tempfile.TemporaryDirectory() as tmp:
    smaller = os.path.join(tmp, "smaller.abi")
    with open(smaller, "w") as f:
        f.write(drop_function(base, "pydron_version_string"))
    for name, text, should_pass in cases:
        path = os.path.join(tmp, "new.abi")
        with open(path, "w") as f:
            f.write(text)
        ref = smaller if name == "function added" else base_path
        r = subprocess.run([sys.executable, os.path.join(here, "check.py"), path, inc, ref, suppr],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ok = (r.returncode == 0) == should_pass
        print("%-50s %s (check.py exit %d, expected %s)"
              % (name, "ok" if ok else "WRONG", r.returncode, "pass" if should_pass else "fail"))
        if not ok:
            print(r.stdout)
            failed += 1
sys.exit(1 if failed else 0)
