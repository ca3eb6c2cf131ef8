"""Pass: private-name mangling for methods.

The translated def is compiled outside its class, so `self.__x` would no longer
become `self._Cls__x`; do by hand what the compiler did for the original."""

import ast


def class_of(qualname):
    parts = qualname.split(".")
    if len(parts) >= 2 and parts[-2] != "<locals>":
        return parts[-2]
    return None


class Mangle(ast.NodeTransformer):
    def __init__(self, cls):
        self.prefix = "_" + cls.lstrip("_")

    def m(self, name):
        if name and name.startswith("__") and not name.endswith("__") and "." not in name:
            return self.prefix + name
        return name

    def visit_ClassDef(self, node):
        # A nested class mangles with its own name; the compiler does that.
        node.bases = [self.visit(b) for b in node.bases]
        return node

    def visit_Name(self, node):
        node.id = self.m(node.id)
        return node

    def visit_Attribute(self, node):
        self.generic_visit(node)
        node.attr = self.m(node.attr)
        return node

    def visit_arg(self, node):
        node.arg = self.m(node.arg)
        return node

    def visit_keyword(self, node):
        self.generic_visit(node)
        node.arg = self.m(node.arg)
        return node

    def visit_Global(self, node):
        node.names = [self.m(n) for n in node.names]
        return node

    visit_Nonlocal = visit_Global


def mangle(tree, qualname):
    cls = class_of(qualname)
    if cls and cls.strip("_"):
        Mangle(cls).visit(tree)
