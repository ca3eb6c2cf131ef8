"""Pass: every call goes through the runtime, which decides from the callee object.

`f(a, k=b)` -> `__pydron__.call(f, a, k=b)`: a @functional callee becomes a task
(its Future is returned at once), a @schedule callee runs its translated body,
anything else waits behind a barrier. In eager zones (zones.py) the call is
`ecall` instead: it runs to completion right there. Nested (non-generator)
defs have lazy bodies; the nested pass decides at each call how they return.
Calls made by the passes themselves (`__pydron__.*`) stay as they are.

- `f(*a, **k)` -> `__pydron__.star(f)(*a, **k)`: Python checks `*`/`**` while
  building the call and names the callee in its message; `star(f)` carries
  f's name, so `f(*1)` says what Python says.
- Decorators: `@d` -> `@__pydron__.deco(d)`: applying d is a call like any other.
- Builtins that depend on the calling frame: `locals()`, `vars()`, `dir()`,
  `eval(...)`, `exec(...)` get the frame's own locals() and globals() from here
  and leave out what is pydron's (internal names, placeholders); `super()`,
  `globals()` and `breakpoint()` stay direct calls."""

import ast

from .util import RT, internal, is_internal, is_rt, rt
from .zones import Zones

_DIRECT = {"super", "globals", "breakpoint"}
# name -> runtime helper, when called with no arguments
_NO_ARGS = {"locals": "locals_", "vars": "locals_", "dir": "dir_"}
_CODE = {"eval": "eval_", "exec": "exec_"}


def _frame_call(name):
    return internal(ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=[], keywords=[]))


class Calls(Zones):
    def __init__(self, generator):
        super().__init__(generator)
        self.in_class = [False]  # per scope: is it a class body?

    def visit_ClassDef(self, node):
        self.in_class.append(True)
        node = super().visit_ClassDef(node)
        self.in_class.pop()
        node.decorator_list = [self._deco(d, True) for d in node.decorator_list]
        return node

    def visit_FunctionDef(self, node):
        top = self.top
        self.in_class.append(False)
        node = super().visit_FunctionDef(node)
        self.in_class.pop()
        if not top:  # (the @schedule function's own decorators are gone)
            node.decorator_list = [self._deco(d, self.eager) for d in node.decorator_list]
        return node

    def visit_Lambda(self, node):
        self.in_class.append(False)
        node = super().visit_Lambda(node)
        self.in_class.pop()
        return node

    def _comprehension(self, node):
        self.in_class.append(False)  # its own scope
        self.generic_visit(node)
        self.in_class.pop()
        return node

    visit_ListComp = visit_SetComp = visit_DictComp = _comprehension

    def visit_GeneratorExp(self, node):
        self.in_class.append(False)
        node = super().visit_GeneratorExp(node)
        self.in_class.pop()
        return node

    @staticmethod
    def _deco(d, eager):
        return rt("edeco" if eager else "deco", d)

    def visit_Call(self, node):
        self.generic_visit(node)
        if is_rt(node) or is_internal(node):
            return node
        f = node.func
        if isinstance(f, ast.Name):
            if f.id in _DIRECT:
                return node
            if f.id in _NO_ARGS and not node.args and not node.keywords:
                if self.in_class[-1]:
                    return node  # a class body's namespace: the real dict, nothing of pydron's
                return ast.copy_location(rt(_NO_ARGS[f.id], _frame_call("locals")), node)
            if f.id in _CODE:
                # with the frame's namespaces, for the arguments that leave them out
                call = rt(_CODE[f.id], _frame_call("globals"), _frame_call("locals"))
                call.args += node.args
                call.keywords = node.keywords
                return ast.copy_location(call, node)
        helper = "ecall" if self.eager else "call"
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            func = rt("estar" if self.eager else "star", f)
            return ast.copy_location(ast.Call(func=func, args=node.args, keywords=node.keywords), node)
        func = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr=helper, ctx=ast.Load())
        # the call's own position: a traceback marks it, not the whole statement
        return ast.copy_location(ast.Call(func=func, args=[f] + node.args, keywords=node.keywords),
                                 node)


def dispatch_calls(tree, generator):
    return Calls(generator).visit(tree)
