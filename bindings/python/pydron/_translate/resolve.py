"""Pass: resolve placeholders where Python looks at a value.

`r(x)` gives the value (waits for the task), `rdeep(x)` also the values inside
list/tuple/dict (for comparisons, formatting, hashing), `it(x)` an iterable that
is safe to iterate. Plain binding, displays, call arguments (the runtime decides)
and returns from the @schedule function itself are not resolution points."""

import ast

from .genexps import GX_EAGER, GX_TWIN
from .util import is_generator, is_rt, resolved, rt


# Each wrapper is marked (util.resolved) so that later passes (look-ahead) can
# find the operands without matching this pass's output.

def r(node):
    return resolved(node, "r")


def rdeep(node):
    return resolved(node, "rdeep")


def ro(node):
    """An operand: resolved, and a barrier first if it is of a user-defined type
    (its __add__/__eq__/__bool__ is code pydron does not see)."""
    return resolved(node, "ro")


def rdo(node):
    return resolved(node, "rdo")


class Resolve(ast.NodeTransformer):
    def __init__(self, generator):
        self.depth = 0  # nesting of defs inside the @schedule function
        self.generator = generator
        self.gen = []  # per enclosing def: is it a generator?

    # -- scopes: values leaving nested functions may reach unknown code

    def visit_Lambda(self, node):
        self.gen.append(False)
        self.generic_visit(node)
        self.gen.pop()
        node.body = rdeep(node.body)
        return node

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.gen.append(self.generator if self.depth == 1 else is_generator(node))
        self.generic_visit(node)
        self.gen.pop()
        self.depth -= 1
        return node

    def visit_Return(self, node):
        # Returns of nested non-generator defs are handled by the nested pass.
        self.generic_visit(node)
        if node.value is not None and self.gen and self.gen[-1]:
            node.value = rdeep(node.value)
        return node

    def visit_Yield(self, node):
        self.generic_visit(node)
        if node.value is not None:
            node.value = rdeep(node.value)
        return node

    def visit_YieldFrom(self, node):
        self.generic_visit(node)
        node.value = r(node.value)
        return node

    def visit_ClassDef(self, node):
        # The class namespace is read by anyone (C.x, vars(C), methods): the
        # values bound in the body, its bases and keywords are values.
        self.generic_visit(node)
        node.bases = [b if isinstance(b, ast.Starred) else r(b) for b in node.bases]
        for k in node.keywords:
            k.value = r(k.value)
        for s in node.body:
            if isinstance(s, (ast.Assign, ast.AugAssign)) or (isinstance(s, ast.AnnAssign) and s.value):
                s.value = rdeep(s.value)
        return node

    # -- operators
    def visit_BinOp(self, node):
        self.generic_visit(node)
        node.left = ro(node.left)
        node.right = rdo(node.right) if isinstance(node.op, ast.Mod) else ro(node.right)
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        node.operand = ro(node.operand)
        return node

    def visit_BoolOp(self, node):
        self.generic_visit(node)
        node.values = [ro(v) for v in node.values]
        return node

    def visit_Compare(self, node):
        self.generic_visit(node)
        node.left = rdo(node.left)
        node.comparators = [rdo(c) for c in node.comparators]
        return node

    def visit_IfExp(self, node):
        self.generic_visit(node)
        node.test = ro(node.test)
        return node

    # -- statements that test or consume a value
    def _test(self, node):
        self.generic_visit(node)
        node.test = ro(node.test)
        return node

    visit_If = visit_While = _test

    def visit_Assert(self, node):
        self.generic_visit(node)
        node.test = r(node.test)
        if node.msg is not None:
            node.msg = rdeep(node.msg)
        return node

    def visit_For(self, node):
        self.generic_visit(node)
        node.iter = rt("it", node.iter)
        return node

    def visit_withitem(self, node):
        self.generic_visit(node)
        node.context_expr = r(node.context_expr)
        return node

    def visit_Raise(self, node):
        self.generic_visit(node)
        if node.exc is not None:
            node.exc = r(node.exc)
        if node.cause is not None:
            node.cause = r(node.cause)
        return node

    def visit_Match(self, node):
        self.generic_visit(node)
        node.subject = rdeep(node.subject)
        return node

    def visit_match_case(self, node):
        self.generic_visit(node)
        if node.guard is not None:
            node.guard = r(node.guard)
        return node

    # -- attribute and item access
    def visit_Attribute(self, node):
        self.generic_visit(node)
        node.value = r(node.value)
        return node

    def visit_Subscript(self, node):
        self.generic_visit(node)
        node.value = r(node.value)
        node.slice = self._index(node.slice)
        return node

    def _index(self, s):
        if isinstance(s, ast.Slice):
            for f in ("lower", "upper", "step"):
                if getattr(s, f) is not None:
                    setattr(s, f, r(getattr(s, f)))
            return s
        if isinstance(s, ast.Tuple):
            s.elts = [self._index(e) for e in s.elts]
            return s
        return rdeep(s)

    # -- displays, formatting, calls
    def visit_Starred(self, node):
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = rt("it", node.value)
        return node

    def visit_Set(self, node):
        self.generic_visit(node)
        node.elts = [e if isinstance(e, ast.Starred) else rdeep(e) for e in node.elts]
        return node

    def visit_Dict(self, node):
        self.generic_visit(node)
        node.keys = [rdeep(k) if k is not None else None for k in node.keys]
        node.values = [r(v) if k is None else v for k, v in zip(node.keys, node.values)]
        return node

    def visit_FormattedValue(self, node):
        self.generic_visit(node)
        node.value = rdeep(node.value)
        return node

    def visit_Call(self, node):
        if is_rt(node):
            node.args = [self.visit(a) for a in node.args]
            node.keywords = [self.visit(k) for k in node.keywords]
            return node
        self.generic_visit(node)
        for kw in node.keywords:
            if kw.arg is None:
                kw.value = r(kw.value)
        return node

    def _comprehension_generators(self, node):
        for g in node.generators:
            g.iter = rt("it", g.iter)
            g.ifs = [r(c) for c in g.ifs]

    def visit_ListComp(self, node):
        self.generic_visit(node)
        self._comprehension_generators(node)
        return node

    def visit_SetComp(self, node):
        self.generic_visit(node)
        self._comprehension_generators(node)
        node.elt = rdeep(node.elt)
        return node

    def visit_DictComp(self, node):
        self.generic_visit(node)
        self._comprehension_generators(node)
        node.key = rdeep(node.key)
        return node

    def visit_GeneratorExp(self, node):
        self.generic_visit(node)
        if getattr(node, GX_TWIN, False):
            # a lazy twin (genexps.py): its source is the generator
            # expression's, its items stay placeholders
            for i, g in enumerate(node.generators):
                if i:
                    g.iter = rt("it", g.iter)
                g.ifs = [r(c) for c in g.ifs]
            return node
        self._comprehension_generators(node)
        src = node.generators[0].iter.args[0]
        if getattr(node, GX_EAGER, False) and is_rt(src) and src.func.attr == "gxsrc":
            node.generators[0].iter = src  # gxsrc(it(xs)), not it(gxsrc(xs))
            src.args[0] = rt("it", src.args[0])
        # Consumed later, by code that may not expect placeholders.
        node.elt = rdeep(node.elt)
        return node


def insert_resolution(tree, generator):
    return Resolve(generator).visit(tree)
