"""Pass: every call goes through the runtime, which decides from the callee object.

`f(a, k=b)` -> `__pydron__.call(f, a, k=b)`: a @functional callee becomes a task
(its Future is returned at once), a @schedule callee runs its translated body,
anything else waits behind a barrier. Inside try/with statements, lambdas, generator expressions, class bodies and generator functions
the call is `ecall` instead: it runs to completion right there, so exceptions,
`__exit__` and lazily consumed code see sequential behaviour. Nested (non-generator)
defs have lazy bodies; the nested pass decides at each call how they return."""

import ast

from .trybody import lazy_ok, lazy_try
from .util import RT, SCOPES, is_generator, is_rt, rt

# Calls whose meaning depends on the calling frame stay direct calls.
_FRAME_SENSITIVE = {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint"}


class Calls(ast.NodeTransformer):
    def __init__(self, generator):
        self.eager = 1 if generator else 0
        self.top = True
        self.outer = [{}]  # per function: names declared global/nonlocal
        self.n = 0

    def _new(self, prefix):
        self.n += 1
        return f"_pd_{prefix}{self.n}"

    def visit_Try(self, node):
        if self.eager or not lazy_ok(node, self.outer[-1]):
            return self._eager(node)
        # The body runs in parallel; its failures are brought back to their
        # sequential point (trybody.py). Handlers, else and finally stay eager.
        node.body = [self.visit(s) for s in node.body]
        self.eager += 1
        node.handlers = [self.visit(h) for h in node.handlers]
        node.orelse = [self.visit(s) for s in node.orelse]
        node.finalbody = [self.visit(s) for s in node.finalbody]
        self.eager -= 1
        temps = _Temps(self)
        return lazy_try(node, self._new("tk"), self._new("e"), self._new("rb"), self._new("x"),
                        temps, self.outer[-1])

    @staticmethod
    def _declared(fdef):
        declared = {}
        todo = list(fdef.body)
        while todo:
            n = todo.pop()
            if isinstance(n, (ast.Global, ast.Nonlocal)):
                declared.update(dict.fromkeys(n.names, type(n).__name__))
            elif not isinstance(n, SCOPES):
                todo.extend(ast.iter_child_nodes(n))
        return declared

    def _eager(self, node):
        self.eager += 1
        self.generic_visit(node)
        self.eager -= 1
        return node

    def visit_FunctionDef(self, node):
        self.outer.append(self._declared(node))
        try:
            return self._function(node)
        finally:
            self.outer.pop()

    def _function(self, node):
        if self.top:
            self.top = False
            self.generic_visit(node)
            return node
        # Decorators and defaults run in the enclosing scope.
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        node.args.defaults = [self.visit(d) for d in node.args.defaults]
        node.args.kw_defaults = [self.visit(d) if d is not None else None for d in node.args.kw_defaults]
        # A nested def's body runs when it is called: lazily when translated code
        # calls it (see the nested pass), to completion otherwise. Generators stay eager.
        saved, self.eager = self.eager, 1 if is_generator(node) else 0
        node.body = [self.visit(s) for s in node.body]
        self.eager = saved
        return node

    def visit_Lambda(self, node):
        node.args.defaults = [self.visit(d) for d in node.args.defaults]
        self.eager += 1
        node.body = self.visit(node.body)
        self.eager -= 1
        return node

    def visit_With(self, node):
        if self.eager or not lazy_ok(node, self.outer[-1]):
            return self._eager(node)
        # __enter__ (the items) one at a time; the body in parallel, its
        # failure raised inside the block so that __exit__ sees it (trybody.py)
        self.eager += 1
        node.items = [self.visit(i) for i in node.items]
        self.eager -= 1
        node.body = [self.visit(s) for s in node.body]
        return lazy_try(node, self._new("tk"), self._new("e"), self._new("rb"), self._new("x"),
                        _Temps(self), self.outer[-1])

    visit_TryStar = visit_ClassDef = visit_GeneratorExp = _eager

    def visit_BinOp(self, node):
        # `ro(a) + ro(b)` (resolve pass) -> `bop("+", a, b)`: deferred while an
        # operand is a placeholder not computed yet (total = total + x.sum()).
        self.generic_visit(node)
        if self.eager or not (_is_helper(node.left, "ro") and
                              (_is_helper(node.right, "ro") or _is_helper(node.right, "rdo"))):
            return node
        op = _BINOPS.get(type(node.op))
        if op is None:
            return node
        return ast.copy_location(rt("bop", ast.Constant(value=op), node.left.args[0],
                                    node.right.args[0]), node)

    def visit_Subscript(self, node):
        # `r(x)[i]` -> `item(x, i)`: deferred like a reading method
        self.generic_visit(node)
        if self.eager or not isinstance(node.ctx, ast.Load) or not _is_helper(node.value, "r") \
                or isinstance(node.slice, ast.Slice) or _has_slice(node.slice):
            return node
        return ast.copy_location(rt("item", node.value.args[0], node.slice), node)

    def visit_Attribute(self, node):
        # `r(x).shape` -> `attr(x, "shape")` (calls are handled by visit_Call)
        self.generic_visit(node)
        if self.eager or not isinstance(node.ctx, ast.Load) or not _is_helper(node.value, "r"):
            return node
        return ast.copy_location(rt("attr", node.value.args[0], ast.Constant(value=node.attr)), node)

    def visit_JoinedStr(self, node):
        self.generic_visit(node)
        if self.eager:
            return node
        return _fstring(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Attribute) and not self.eager and _is_helper(f.value, "r"):
            # obj.name(...): keep the attribute node (mcall below), visit the rest
            f.value = self.visit(f.value)
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
        else:
            self.generic_visit(node)
            f = node.func
        if is_rt(node):
            return node
        if isinstance(node.func, ast.Name) and node.func.id in _FRAME_SENSITIVE:
            return node
        helper = "ecall" if self.eager else "call"
        if not self.eager and isinstance(f, ast.Attribute) and _is_helper(f.value, "r"):
            # obj.name(...): the runtime may defer a reading method of a value
            # not computed yet (mcall), else it calls as usual.
            func = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr="mcall", ctx=ast.Load())
            return ast.Call(func=func, args=[f.value.args[0], ast.Constant(value=f.attr)] + node.args,
                            keywords=node.keywords)
        func = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr=helper, ctx=ast.Load())
        return ast.Call(func=func, args=[node.func] + node.args, keywords=node.keywords)


_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Pow: "**", ast.MatMult: "@"}


def _has_slice(node):
    return isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts)


class _Temps:
    def __init__(self, calls):
        self.calls = calls

    def new(self):
        return self.calls._new("y")


def _is_helper(node, name):
    return is_rt(node) and node.func.attr == name and len(node.args) == 1


def _fstring(node):
    """f"a{x!r:>{w}}b" -> fjoin("a", fv(x, 114, fjoin(fv(w))), "b"): each value is
    formatted in the f-string's own order, or deferred while it is not computed."""
    parts = []
    for v in node.values:
        if isinstance(v, ast.FormattedValue):
            value = v.value.args[0] if _is_helper(v.value, "rdeep") else v.value
            args = [value, ast.Constant(value=v.conversion)]
            spec = v.format_spec
            if spec is not None:  # a nested f-string, maybe already rewritten
                args.append(_fstring(spec) if isinstance(spec, ast.JoinedStr) else spec)
            parts.append(rt("fv", *args))
        else:
            parts.append(v)
    return ast.copy_location(rt("fjoin", *parts), node)


def dispatch_calls(tree, generator):
    return Calls(generator).visit(tree)
