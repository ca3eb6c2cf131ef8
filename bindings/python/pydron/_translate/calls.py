"""Pass: every call goes through the runtime, which decides from the callee object.

`f(a, k=b)` -> `__pydron__.call(f, a, k=b)`: a @functional callee becomes a task
(its Future is returned at once), a @schedule callee runs its translated body,
anything else waits behind a barrier. In eager zones (zones.py) the call is
`ecall` instead: it runs to completion right there. Nested (non-generator)
defs have lazy bodies; the nested pass decides at each call how they return.
Calls made by the passes themselves (`__pydron__.*`) stay as they are."""

import ast

from .util import RT, is_internal, is_rt
from .zones import Zones

# Calls whose meaning depends on the calling frame stay direct calls.
_FRAME_SENSITIVE = {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint"}


class Calls(Zones):
    def visit_Call(self, node):
        self.generic_visit(node)
        if is_rt(node) or is_internal(node):
            return node
        if isinstance(node.func, ast.Name) and node.func.id in _FRAME_SENSITIVE:
            return node
        helper = "ecall" if self.eager else "call"
        func = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr=helper, ctx=ast.Load())
        return ast.Call(func=func, args=[node.func] + node.args, keywords=node.keywords)


def dispatch_calls(tree, generator):
    return Calls(generator).visit(tree)
