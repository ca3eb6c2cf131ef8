"""Every runtime helper the translator emits (`__pydron__.NAME`) exists in
pydron._runtime: found in the passes' own source (every name they can emit,
also on rare paths) and in the translation of every differential program."""

import ast
import pathlib

import pytest

import pydron._runtime as runtime
import pydron._translate as translate
from pydron._translate import RT, translate_source
from pydron._translate.util import is_generator

PASSES = sorted(pathlib.Path(translate.__file__).parent.glob("*.py"))
PROGRAMS = sorted((pathlib.Path(__file__).parent / "programs").glob("*.py"))


def _str(node):
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def emitted_by_source(path):
    """Names a pass can emit: rt("name", ...), resolved(x, "name"), helper
    strings chosen by a pass ("call"/"ecall"), ast.Attribute(value=Name(RT), attr="name")."""
    tree = ast.parse(path.read_text())
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            if n.func.id == "rt" and n.args and _str(n.args[0]):
                names.add(_str(n.args[0]))
            if n.func.id == "resolved" and len(n.args) == 2 and _str(n.args[1]):
                names.add(_str(n.args[1]))
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "Attribute":
            kw = {k.arg: k.value for k in n.keywords}
            if "attr" in kw:
                if _str(kw["attr"]):
                    names.add(_str(kw["attr"]))
                elif isinstance(kw["attr"], ast.Name):  # a variable: its string values in the file
                    var = kw["attr"].id
                    for m in ast.walk(tree):
                        if isinstance(m, ast.Assign) and any(isinstance(t, ast.Name) and t.id == var
                                                             for t in m.targets):
                            names.update(_str(c) for c in ast.walk(m.value) if _str(c))
    return names


def test_the_source_scan_finds_the_helpers():
    # the scan itself works: it sees names from several passes
    found = set().union(*(emitted_by_source(p) for p in PASSES))
    assert {"call", "ecall", "mcall", "bop", "r", "rdeep", "ro", "rdo", "it", "setitem",
            "try_enter", "lsave", "leave", "enter_nested", "UNBOUND", "_pending"} <= found


@pytest.mark.parametrize("path", PASSES, ids=[p.stem for p in PASSES])
def test_every_helper_a_pass_can_emit_exists(path):
    missing = sorted(n for n in emitted_by_source(path) if not hasattr(runtime, n))
    assert missing == [], f"{path.name} emits __pydron__.{missing} which pydron._runtime lacks"


def _schedule_defs(tree):
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef) and any(
                (isinstance(d, ast.Name) and d.id == "schedule") or
                (isinstance(d, ast.Attribute) and d.attr == "schedule") for d in n.decorator_list):
            yield n


def test_every_helper_emitted_for_the_differential_programs_exists():
    used = set()
    for path in PROGRAMS:
        for fdef in _schedule_defs(ast.parse(path.read_text())):
            fdef.decorator_list = []
            out = translate_source(fdef, fdef.name, str(path), is_generator(fdef))
            for n in ast.walk(out):
                if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == RT:
                    used.add(n.attr)
    assert len(used) > 20  # the programs exercise most of the translator
    assert sorted(n for n in used if not hasattr(runtime, n)) == []
