"""Pass: nested functions return placeholders only to translated code.

A def inside a @schedule body has a lazy body (its @functional calls submit and
return at once). Called from translated code (`__pydron__.call` marks the call),
it may return placeholders, like a nested @schedule call; called by anything
else (sorted(key=...), a callback, after the @schedule call returned) it waits
for its tasks and returns plain values. Any exception surfaces after the tasks
called before it, as at the exit of a @schedule function:

    def g(x):                          def g(x):
        return f(x)           ->           _pd_mode = __pydron__.enter_nested()
                                           try:
                                               return __pydron__.leave(_pd_mode, f(x))
                                           except BaseException as _pd_e:
                                               __pydron__.nested_error(_pd_e)
                                               raise
                                           return __pydron__.leave(_pd_mode, None)
"""

import ast

from .util import Located, is_generator, rt, stmt

MODE = "_pd_mode"


class _Returns(ast.NodeTransformer):
    """Rewrite the returns of one function (not of the defs nested in it)."""

    def visit_Return(self, node):
        node.value = rt("leave", ast.Name(id=MODE, ctx=ast.Load()), node.value or ast.Constant(value=None))
        return node

    def visit_FunctionDef(self, node):
        return node

    visit_AsyncFunctionDef = visit_Lambda = visit_ClassDef = visit_FunctionDef


class Nested(Located):
    def __init__(self):
        self.top = True

    def visit_FunctionDef(self, node):
        if self.top:
            self.top = False
            self.generic_visit(node)
            return node
        self.generic_visit(node)
        if is_generator(node):
            return node
        doc = []
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            doc = [node.body.pop(0)]  # stays the docstring
        body = [_Returns().visit(s) for s in node.body] or [ast.Pass()]
        handler = ast.ExceptHandler(
            type=ast.Name(id="BaseException", ctx=ast.Load()), name="_pd_e",
            body=[stmt(rt("nested_error", ast.Name(id="_pd_e", ctx=ast.Load()))), ast.Raise(exc=None, cause=None)])
        node.body = doc + [
            ast.Assign(targets=[ast.Name(id=MODE, ctx=ast.Store())], value=rt("enter_nested")),
            ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[]),
            ast.Return(value=rt("leave", ast.Name(id=MODE, ctx=ast.Load()), ast.Constant(value=None))),
        ]
        return node


def wrap_nested(tree):
    return Nested().visit(tree)
