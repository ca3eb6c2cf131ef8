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


def _module_dict_values(tree, name):
    for m in tree.body:
        if isinstance(m, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in m.targets) \
                and isinstance(m.value, ast.Dict):
            yield from (_str(v) for v in m.value.values if _str(v))


def _parameter_values(tree, name, expr):
    """A helper name passed in as parameter `name`: the strings at that position
    in every call of the enclosing function, in any pass."""
    for fdef in ast.walk(tree):
        if not isinstance(fdef, ast.FunctionDef) or expr not in list(ast.walk(fdef)):
            continue
        params = [a.arg for a in fdef.args.args]
        if name not in params:
            continue
        index = params.index(name) - (1 if params and params[0] == "self" else 0)
        found = set()
        for path in PASSES:
            for c in ast.walk(ast.parse(path.read_text())):
                if isinstance(c, ast.Call) and getattr(c.func, "attr", getattr(c.func, "id", None)) == fdef.name \
                        and len(c.args) > index and _str(c.args[index]):
                    found.add(_str(c.args[index]))
        return found
    return None


def _helper_names(tree, expr):
    """The strings an expression naming a helper can be: "name", "a" if c else "b",
    TABLE[key] (the values of a module-level dict TABLE), a parameter (the
    strings its callers pass)."""
    if _str(expr):
        return {_str(expr)}
    if isinstance(expr, ast.IfExp):
        return _helper_names(tree, expr.body) | _helper_names(tree, expr.orelse)
    if isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):
        return set(_module_dict_values(tree, expr.value.id))
    if isinstance(expr, ast.Name):
        found = _parameter_values(tree, expr.id, expr)
        if found:
            return found
    raise AssertionError(f"cannot tell which helper {ast.unparse(expr)} names: write it so that it can be checked")


def emitted_by_source(path):
    """Names a pass can emit: rt(NAME, ...), resolved(x, NAME), operand(x, NAMES...),
    helper strings chosen by a pass ("call"/"ecall"), ast.Attribute(value=Name(RT), attr=NAME)."""
    tree = ast.parse(path.read_text())
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            if n.func.id == "rt" and n.args:
                names |= _helper_names(tree, n.args[0])
            if n.func.id == "resolved" and len(n.args) == 2:
                names |= _helper_names(tree, n.args[1])
            if n.func.id == "operand":
                for a in n.args[1:]:
                    names |= _helper_names(tree, a)
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
            "try_enter", "lsave", "leave", "enter_nested", "UNBOUND", "_pending", "star", "estar",
            "deco", "edeco", "locals_", "dir_", "eval_", "exec_", "closure", "mstar", "barrier",
            "sync"} <= found


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



def _lazy_try_loop(xs):
    try:
        for x in xs:
            y = len(x)
    except ValueError:
        pass
    return y


def test_translation_with_the_debug_log_on(caplog):
    # The "pydron" logger at DEBUG prints each translated function (ast.unparse):
    # every node the passes make must have a position, or @schedule fails.
    import logging

    from pydron._translate import translate

    with caplog.at_level(logging.DEBUG, logger="pydron"):
        fn, _, _ = translate(_lazy_try_loop)
    assert "translated _lazy_try_loop" in caplog.text and "try_enter" in caplog.text
    assert fn(["ab", "c"]) == 1
