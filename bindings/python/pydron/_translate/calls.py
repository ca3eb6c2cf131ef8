"""Pass: every call goes through the runtime, which decides from the callee object.

`f(a, k=b)` -> `__pydron__.call(f, a, k=b)`: a @functional callee becomes a task
(its Future is returned at once), a @schedule callee runs its translated body,
anything else waits behind a barrier. Inside try/with statements, lambdas, generator expressions, class bodies and generator functions
the call is `ecall` instead: it runs to completion right there, so exceptions,
`__exit__` and lazily consumed code see sequential behaviour. Nested (non-generator)
defs have lazy bodies; the nested pass decides at each call how they return."""

import ast

from .util import RT, is_generator, is_rt

# Calls whose meaning depends on the calling frame stay direct calls.
_FRAME_SENSITIVE = {"super", "locals", "globals", "vars", "dir", "eval", "exec", "breakpoint"}


class Calls(ast.NodeTransformer):
    def __init__(self, generator):
        self.eager = 1 if generator else 0
        self.top = True

    def _eager(self, node):
        self.eager += 1
        self.generic_visit(node)
        self.eager -= 1
        return node

    def visit_FunctionDef(self, node):
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

    visit_Try = visit_TryStar = visit_With = visit_ClassDef = visit_GeneratorExp = _eager

    def visit_Call(self, node):
        self.generic_visit(node)
        if is_rt(node):
            return node
        if isinstance(node.func, ast.Name) and node.func.id in _FRAME_SENSITIVE:
            return node
        helper = "ecall" if self.eager else "call"
        func = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr=helper, ctx=ast.Load())
        return ast.Call(func=func, args=[node.func] + node.args, keywords=node.keywords)


def dispatch_calls(tree, generator):
    return Calls(generator).visit(tree)
