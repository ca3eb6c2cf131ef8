"""Helpers for the per-pass tests: run one pass over a snippet, return the source."""

import ast
import textwrap


def fdef(src):
    return ast.parse(textwrap.dedent(src)).body[0]


def apply(pass_fn, src, *args):
    node = pass_fn(fdef(src), *args)
    ast.fix_missing_locations(node)
    compile(ast.Module(body=[node], type_ignores=[]), "<test>", "exec")  # must stay valid Python
    return ast.unparse(node)
