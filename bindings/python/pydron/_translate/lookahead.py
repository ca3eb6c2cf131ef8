"""Pass: look-ahead past driver statements that read results not computed yet.

In lazy zones, operations over operands the resolve pass marked become
runtime helpers that may defer them (a `Lazy` queued with the tasks, see
docs/python.md "Look-ahead"):

    ro(a) + ro(b)      -> __pydron__.bop("+", a, b)
    -ro(a)             -> __pydron__.uop("-", a)
    r(x)[i]            -> __pydron__.item(x, i)
    r(x).shape         -> __pydron__.attr(x, "shape")
    r(x).name(args)    -> __pydron__.mcall(x, "name", args)
    r(x).name(*args)   -> __pydron__.mstar(x, "name")(*args)
    a, b = v           -> a, b = __pydron__.unpack(v, 2)   (targets pass; it(v) when eager)
    f"a{rdeep(x)}"     -> __pydron__.fjoin("a", __pydron__.fv(x, -1))

Eager zones keep the plain resolution, but for attribute loads and
subscripts, which may run code of the program (a property, __getattr__, a
class's __getitem__): behind a barrier when they do, as in lazy zones:

    r(x).name          -> __pydron__.eattr(x, "name")      (eager)
    r(x)[i]            -> __pydron__.rsub(x)[i]            (eager; slices everywhere)"""

import ast

from .util import RT, is_rt, operand, rt
from .zones import Zones

# a function's state the runtime settles before the program reads it (closures.py)
_FN_STATE = {"__defaults__", "__kwdefaults__", "__closure__"}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
           ast.Pow: "**", ast.MatMult: "@", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>",
           ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~"}


class LookAhead(Zones):
    def visit_BinOp(self, node):
        # deferred while an operand is a placeholder not computed yet (total = total + x.sum())
        self.generic_visit(node)
        if self.eager:
            return node
        left, right = operand(node.left, "ro"), operand(node.right, "ro", "rdo")
        op = _BINOPS.get(type(node.op))
        if left is None or right is None or op is None:
            return node
        return ast.copy_location(rt("bop", ast.Constant(value=op), left, right), node)

    def visit_UnaryOp(self, node):
        # -x, +x, ~x: deferred as a binary operator is (not: a truth test)
        self.generic_visit(node)
        op = _UNARY.get(type(node.op))
        if self.eager or op is None:
            return node
        value = operand(node.operand, "ro")
        if value is None:
            return node
        return ast.copy_location(rt("uop", ast.Constant(value=op), value), node)

    def visit_Subscript(self, node):
        # deferred like a reading method
        self.generic_visit(node)
        obj = operand(node.value, "r")
        if obj is None or not isinstance(node.ctx, ast.Load):
            return node
        if self.eager or isinstance(node.slice, ast.Slice) or _has_slice(node.slice):
            # not deferred; behind a barrier where __getitem__ is the program's
            node.value = ast.copy_location(rt("rsub", obj), node.value)
            return node
        return ast.copy_location(rt("item", obj, node.slice), node)

    def visit_Attribute(self, node):
        # (method calls are handled by visit_Call)
        self.generic_visit(node)
        obj = operand(node.value, "r")
        if obj is None or not isinstance(node.ctx, ast.Load):
            return node
        if self.eager and node.attr not in _FN_STATE:
            # not deferred; behind a barrier where reading it runs the program's code
            return ast.copy_location(rt("eattr", obj, ast.Constant(value=node.attr)), node)
        return ast.copy_location(rt("attr", obj, ast.Constant(value=node.attr)), node)

    def visit_JoinedStr(self, node):
        self.generic_visit(node)
        if self.eager:
            return node
        return _fstring(node)

    def visit_Call(self, node):
        f = node.func
        if self.eager and is_rt(node) and f.attr == "unpack":
            # a, b = v where unpacking must not be deferred: it(v), as before
            node.args = [self.visit(node.args[0])]
            f.attr = "it"
            return node
        if self.eager and isinstance(f, ast.Attribute) and operand(f.value, "r") is not None:
            # obj.name(...) in an eager zone: called as it was (its value, not the
            # method, is what may be the program's code: the call's dispatch)
            f.value = self.visit(f.value)
            node.args = self._visit_list(node.args)
            node.keywords = self._visit_list(node.keywords)
            return node
        if self.eager or not isinstance(f, ast.Attribute) or operand(f.value, "r") is None:
            self.generic_visit(node)
            return node
        # obj.name(...): the runtime may defer a reading method of a value not
        # computed yet (mcall), else it calls as usual.
        f.value = self.visit(f.value)
        node.args = self._visit_list(node.args)
        node.keywords = self._visit_list(node.keywords)
        obj, name = operand(f.value, "r"), ast.Constant(value=f.attr)
        if _starred(node):
            # Python checks `*`/`**` while building the call and names the
            # method in its message: mstar(obj, "name") carries that name
            return ast.copy_location(ast.Call(func=rt("mstar", obj, name), args=node.args,
                                              keywords=node.keywords), node)
        func = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr="mcall", ctx=ast.Load())
        return ast.copy_location(ast.Call(func=func, args=[obj, name] + node.args,
                                          keywords=node.keywords), node)


def _starred(call):
    """Does the call have `*a`/`**k` arguments?"""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


def _has_slice(node):
    return isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts)


def _fstring(node):
    """f"a{x!r:>{w}}b" -> fjoin("a", fv(x, 114, fjoin(fv(w))), "b"): each value is
    formatted in the f-string's own order, or deferred while it is not computed."""
    parts = []
    for v in node.values:
        if isinstance(v, ast.FormattedValue):
            value = operand(v.value, "rdeep")
            args = [v.value if value is None else value, ast.Constant(value=v.conversion)]
            spec = v.format_spec
            if spec is not None:  # a nested f-string, maybe already rewritten
                args.append(_fstring(spec) if isinstance(spec, ast.JoinedStr) else spec)
            parts.append(rt("fv", *args))
        else:
            parts.append(v)
    return ast.copy_location(rt("fjoin", *parts), node)


def look_ahead(tree, generator):
    return LookAhead(generator).visit(tree)
