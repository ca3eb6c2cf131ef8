"""Pass: reject what cannot be translated at all, before anything runs."""

import ast


class TranslationError(TypeError):
    """A @schedule function uses something pydron cannot run."""


# public as pydron.TranslationError (the name tracebacks print)
TranslationError.__module__ = "pydron"


class Validate(ast.NodeVisitor):
    def __init__(self, filename, funcname):
        self.filename = filename
        self.funcname = funcname

    def fail(self, node, what):
        raise TranslationError(
            f"{self.filename}:{getattr(node, 'lineno', '?')}: @schedule function "
            f"'{self.funcname}' uses {what}, which pydron cannot translate"
        )

    def visit_AsyncFunctionDef(self, node):
        self.fail(node, "'async def'")

    def visit_Await(self, node):
        self.fail(node, "'await'")

    def visit_AsyncFor(self, node):
        self.fail(node, "'async for'")

    def visit_AsyncWith(self, node):
        self.fail(node, "'async with'")

    def visit_comprehension(self, node):
        if node.is_async:
            self.fail(node.iter, "an async comprehension")
        self.generic_visit(node)


def validate(tree, filename, funcname):
    Validate(filename, funcname).visit(tree)
