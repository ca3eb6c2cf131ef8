"""Eager and lazy zones, shared by the passes that treat them differently.

Calls in a lazy zone may return placeholders at once (`call`, look-ahead);
calls in an eager zone run to completion where they are made (`ecall`), so
that exceptions, `__exit__` and lazily consumed code see sequential behaviour.

Eager: the whole body of a generator function, lambdas, generator expressions
(not their lazy twins, genexps.py),
class bodies, `try*`, and `try`/`with` statements that the trybody pass did
not mark lazy; the handlers, `else` and `finally` of a lazy `try` and the
items of a lazy `with`. A nested (non-generator) def's body is lazy again;
its decorators and defaults belong to the enclosing zone."""

import ast

from .genexps import GX_TWIN
from .util import is_generator

LAZY = "pd_lazy"                # a Try/With whose body runs lazily (trybody pass)
TRANSPARENT = "pd_transparent"  # a Try made by the trybody pass: same zone as around it


class Zones(ast.NodeTransformer):
    def __init__(self, generator):
        self.eager = 1 if generator else 0
        self.top = True

    def _eager(self, node):
        self.eager += 1
        self.generic_visit(node)
        self.eager -= 1
        return node

    def _visit_list(self, nodes):
        out = []
        for n in nodes:
            new = self.visit(n)
            if new is None:
                continue
            out.extend(new if isinstance(new, list) else [new])
        return out

    def visit_Try(self, node):
        if getattr(node, TRANSPARENT, False):
            self.generic_visit(node)
            return node
        if self.eager or not getattr(node, LAZY, False):
            return self._eager(node)
        node.body = self._visit_list(node.body)
        self.eager += 1
        node.handlers = self._visit_list(node.handlers)
        node.orelse = self._visit_list(node.orelse)
        node.finalbody = self._visit_list(node.finalbody)
        self.eager -= 1
        return node

    def visit_With(self, node):
        if self.eager or not getattr(node, LAZY, False):
            return self._eager(node)
        self.eager += 1
        node.items = self._visit_list(node.items)
        self.eager -= 1
        node.body = self._visit_list(node.body)
        return node

    visit_TryStar = visit_ClassDef = _eager

    def visit_GeneratorExp(self, node):
        if not getattr(node, GX_TWIN, False):
            return self._eager(node)
        # a generator expression's lazy twin (genexps.py): lazy wherever it is
        saved, self.eager = self.eager, 0
        self.generic_visit(node)
        self.eager = saved
        return node

    def visit_FunctionDef(self, node):
        if self.top:
            self.top = False
            self.generic_visit(node)
            return node
        # Decorators and defaults run in the enclosing scope.
        node.decorator_list = self._visit_list(node.decorator_list)
        node.args.defaults = self._visit_list(node.args.defaults)
        node.args.kw_defaults = [self.visit(d) if d is not None else None for d in node.args.kw_defaults]
        # A nested def's body runs when it is called: lazily when translated code
        # calls it (see the nested pass), to completion otherwise. Generators stay eager.
        saved, self.eager = self.eager, 1 if is_generator(node) else 0
        node.body = self._visit_list(node.body)
        self.eager = saved
        return node

    def visit_Lambda(self, node):
        node.args.defaults = self._visit_list(node.args.defaults)
        node.args.kw_defaults = [self.visit(d) if d is not None else None for d in node.args.kw_defaults]
        self.eager += 1
        node.body = self.visit(node.body)
        self.eager -= 1
        return node
