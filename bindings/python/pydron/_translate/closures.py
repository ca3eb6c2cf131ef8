"""Pass: functions made in the body are registered with the runtime.

A nested def or lambda may hold placeholders in its default values and in the
cells it closes over, and may be called or inspected by code that is not
translated (after the @schedule call returned, by another thread, through
`__defaults__`). The runtime replaces those placeholders by their values
before such code can look (at the exit of the @schedule call, before unknown
code, on reads of `__defaults__`/`__kwdefaults__`/`__closure__`):

    def g(a=v): ...     ->   @__pydron__.closure        (innermost decorator)
                             def g(a=v): ...
    lambda: v           ->   __pydron__.closure(lambda: v)
"""

import ast

from .util import RT, rt


class Closures(ast.NodeTransformer):
    def __init__(self):
        self.top = True

    def visit_FunctionDef(self, node):
        if self.top:
            self.top = False
            self.generic_visit(node)
            return node
        self.generic_visit(node)
        node.decorator_list.append(ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()),
                                                 attr="closure", ctx=ast.Load()))
        return node

    def visit_Lambda(self, node):
        self.generic_visit(node)
        return ast.copy_location(rt("closure", node), node)


def register_closures(tree):
    return Closures().visit(tree)
