"""Every `__pydron__.<name>` the translator can emit exists in pydron._runtime.

Two ways: the names written in the translator's passes (`rt("name", ...)` and
attribute nodes on `__pydron__`), and the names found in what the passes
produce for every function of the differential programs."""

import ast
import pathlib

import pytest

import pydron
from pydron import _runtime
from pydron._translate import RT, translate_source

HERE = pathlib.Path(__file__).parent
PASSES = pathlib.Path(pydron.__file__).parent / "_translate"


def _strings_bound_to(tree, var):
    """String constants assigned to `var` (`helper = "ecall" if eager else "call"`)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == var for t in node.targets):
            for c in ast.walk(node.value):
                if isinstance(c, ast.Constant) and isinstance(c.value, str):
                    yield c.value


def _names_in_passes():
    names = set()
    for path in sorted(PASSES.glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            # rt("name", ...), _is_helper(x, "name"), operand(x, "name"), resolved(x, "name")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("rt", "_is_helper", "operand", "resolved") and node.args:
                arg = node.args[0] if node.func.id == "rt" else node.args[-1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    names.add(arg.value)
            # ast.Attribute(value=ast.Name(id=RT), attr="name") and `helper = "call"`
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "Attribute":
                kw = {k.arg: k.value for k in node.keywords}
                value = kw.get("value")
                if not (isinstance(value, ast.Call) and any(
                        k.arg == "id" and isinstance(k.value, ast.Name) and k.value.id == "RT"
                        for k in value.keywords)):
                    continue
                attr = kw.get("attr")
                if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
                    names.add(attr.value)
                elif isinstance(attr, ast.Name):
                    names.update(_strings_bound_to(tree, attr.id))
    return names


def test_names_written_in_the_passes_exist():
    names = _names_in_passes()
    # the scan must see the helpers every program uses, else it checks nothing
    assert {"call", "mcall", "r", "it", "setitem", "try_fail", "_pending", "UNBOUND"} <= names
    missing = sorted(n for n in names if not hasattr(_runtime, n))
    assert missing == []


def _emitted(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == RT:
            yield node.attr


def _program_defs():
    for path in sorted((HERE / "programs").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Name) and d.id == "schedule" for d in node.decorator_list):
                yield path.name, node


def test_names_emitted_for_the_programs_exist():
    seen = set()
    missing = set()
    n = 0
    for name, fdef in _program_defs():
        fdef.decorator_list = []
        try:
            out = translate_source(fdef, fdef.name, name)
        except SyntaxError:
            continue  # programs that check a TranslationError
        except Exception as e:  # noqa: BLE001
            if type(e).__name__ == "TranslationError":
                continue
            raise
        n += 1
        for attr in _emitted(out):
            seen.add(attr)
            if not hasattr(_runtime, attr):
                missing.add((name, attr))
    assert n > 100  # the programs were found and translated
    assert {"call", "mcall", "r", "it"} <= seen
    assert sorted(missing) == []


@pytest.mark.parametrize("name", ["call", "ecall", "mcall", "barrier", "sync", "it", "leave"])
def test_helpers_are_callable(name):
    assert callable(getattr(_runtime, name))
