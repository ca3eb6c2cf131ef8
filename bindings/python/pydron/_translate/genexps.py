"""Passes: a generator expression of one `for` gets a lazy twin over the same
source, for builtins that consume it whole (`sum(f(x) for x in xs)`).

    (e for x in xs if c)
      ->  __pydron__.gx((e for x in __pydron__.gxsrc(xs) if c),
                        (e for x in __pydron__.gxlast() if c))     # the twin

`twin_genexps` (first, before targets are lowered) makes the twin, a copy
marked GX_TWIN; the generator expression keeps its eager zone, the twin's
is lazy (zones.py), its source is not wrapped by it() and its items are not
resolved (resolve.py). `check_twins` (after calls are dispatched) renames
the twin's helpers to the ones that never run an effect (pcall, pbop, ...:
_runtime/genexps.py); a twin with any other helper or call is dropped, and
the expression is as it was; so is one without a call (no task to submit
ahead). Several `for`s: first made one `for` over the tuples of the loops'
values (_flat), where that is the same program; otherwise no twin (a step
of the twin could not be given back mid-way through an inner loop). Not
with `:=`, a lambda, a nested comprehension, `*`, a set or dict display,
yield or await inside."""

import ast
import builtins
import copy

from .util import RT, is_rt, rt

GX_TWIN = "pd_gx_twin"    # the lazy twin (a GeneratorExp)
GX_EAGER = "pd_gx_eager"  # the generator expression that has a twin

# generator expressions of several `for`s get a twin too (_flat); False: not
_FLATTEN = True

_NOT_IN_TWIN = (ast.NamedExpr, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                ast.GeneratorExp, ast.Yield, ast.YieldFrom, ast.Await, ast.Starred, ast.Set,
                ast.Dict)

# the lazy zone's helpers -> the twin's (None: the same helper)
_TWIN_HELPERS = {"call": "pcall", "mcall": "pmcall", "bop": "pbop", "uop": "puop", "attr": "pattr",
                 "item": "pitem", "ro": "pro", "rdo": "prdo", "fv": "pfv", "it": "pit",
                 "r": None, "rdeep": None, "fjoin": None, "gxlast": None, "slice_": None,
                 "pro": None, "pcop": None}


def _located(tree, node):
    """tree, whose new nodes get node's source position."""
    for n in ast.walk(tree):
        if "lineno" in n._attributes and not hasattr(n, "lineno"):
            ast.copy_location(n, node)
    return tree


def _twinnable(node):
    if len(node.generators) != 1 or node.generators[0].is_async:
        return False
    g = node.generators[0]
    parts = [node.elt, g.target] + list(g.ifs)
    return not any(isinstance(n, _NOT_IN_TWIN) for p in parts for n in ast.walk(p))


_ARITH = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)
_BUILTIN_NAMES = frozenset(dir(builtins))


def _plain_bound(e):
    """A name, an int, or + - * // of them: evaluating it runs no code of the
    program on ints (a range's bounds)."""
    if isinstance(e, ast.Name) or (isinstance(e, ast.Constant) and type(e.value) is int):
        return True
    if isinstance(e, ast.BinOp) and isinstance(e.op, _ARITH):
        return _plain_bound(e.left) and _plain_bound(e.right)
    return isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and _plain_bound(e.operand)


def _plain_key(e):
    """A subscript's key made of names and constants: an int, a str, a name,
    or + - * // of names and ints."""
    return _plain_bound(e) or (isinstance(e, ast.Constant) and type(e.value) is str)


def _inner(e):
    """An inner `for`'s iterable that nest can make without running code of
    the program in the lambda: (its kind, the lambda's body), or None.
    Names only - `ys`, `row`, `[a, b]` ("n"), `range(i + 1, n)` ("r": the
    lambda gives (range, (i + 1, n)) and nest calls it; a call in the lambda
    would be an eager one, a barrier per outer item) - or one attribute,
    subscript or slice of a name: `img.sources` ("a"), `table[k]` ("s"),
    `row[i + 1:]` ("l"). For those the lambda gives the name's value and the
    key in a nref() (which rdeep, applied to every lambda's result, does not
    look into: a table's values are not resolved whole per outer item), and
    nest reads them as the expression would, or, in a step of the twin, only
    where that runs no code of the program (pattr, pitem)."""
    if isinstance(e, ast.Name):
        return "n", e
    if isinstance(e, (ast.List, ast.Tuple)):
        if all(isinstance(x, (ast.Name, ast.Constant)) for x in e.elts):
            return "n", e
        return None
    if isinstance(e, ast.Call):
        if isinstance(e.func, ast.Name) and e.func.id == "range" and not e.keywords \
                and 1 <= len(e.args) <= 3 and all(map(_plain_bound, e.args)):
            return "r", ast.Tuple(elts=[e.func, ast.Tuple(elts=e.args, ctx=ast.Load())],
                                  ctx=ast.Load())
        return None
    if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name):
        return "a", rt("nref", e.value, ast.Constant(value=e.attr))
    if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name):
        k = e.slice
        if isinstance(k, ast.Slice):
            bounds = [k.lower, k.upper, k.step]
            if not all(b is None or _plain_bound(b) for b in bounds):
                return None
            return "l", rt("nref", e.value, ast.Tuple(
                elts=[ast.Constant(value=None) if b is None else b for b in bounds],
                ctx=ast.Load()))
        if _plain_key(k):
            return "s", rt("nref", e.value, k)
    return None


def _flat(node):
    """`(e for x in xs for y in Y if c)` -> `(e for (x, y) in
    __pydron__.nest(xs, lambda x: Y) if c)`: one `for` over the tuples of the
    loops' values (_runtime/genexps.nest steps the loops as the expression
    would, evaluating Y for each x when it is reached), so that the
    expression can get a lazy twin, and the item a step of the twin could
    not take can be given back mid-way through the inner loop. Only where
    that is the same program: conditions on the last `for` alone, names as
    the outer targets, and inner iterables of names (_inner: a name, a
    display, range of names and ints, an attribute, subscript or slice of a
    name) that read no target of their own or a later `for`."""
    gens = node.generators
    if len(gens) < 2 or any(g.is_async for g in gens) or any(g.ifs for g in gens[:-1]):
        return None
    if not any(isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name)
                                                 and n.func.id in _BUILTIN_NAMES)
               for p in [node.elt] + gens[-1].ifs for n in ast.walk(p)):
        # no call but of builtins (`abs(x - y)`): no task to submit ahead, and
        # nest's steps in Python cost ~2 us an item over the loops' own
        return None
    if not all(isinstance(g.target, ast.Name) for g in gens[:-1]):
        return None
    outer = [g.target.id for g in gens[:-1]]
    if len(set(outer)) != len(outer):
        return None
    last = {n.id for n in ast.walk(gens[-1].target) if isinstance(n, ast.Name)}
    lambdas, kinds = [], ""
    for k, g in enumerate(gens[1:], 1):
        inner = _inner(copy.deepcopy(g.iter))
        if inner is None:
            return None
        later = set(outer[k:]) | last
        if any(isinstance(n, ast.Name) and n.id in later for n in ast.walk(g.iter)):
            return None
        kind, body = inner
        kinds += kind
        lambdas.append(ast.Lambda(
            args=ast.arguments(posonlyargs=[], args=[ast.arg(arg=n) for n in outer[:k]],
                               kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=body))
    target = ast.Tuple(elts=[ast.Name(id=n, ctx=ast.Store()) for n in outer] + [gens[-1].target],
                       ctx=ast.Store())
    flat = ast.GeneratorExp(elt=node.elt, generators=[ast.comprehension(
        target=target, iter=rt("nest", gens[0].iter, ast.Constant(value=kinds), *lambdas), ifs=gens[-1].ifs, is_async=0)])
    return _located(flat, node)


class _Twins(ast.NodeTransformer):
    def visit_GeneratorExp(self, node):
        self.generic_visit(node)
        if len(node.generators) > 1 and _FLATTEN:
            flat = _flat(node)
            if flat is None or not _twinnable(flat):
                return node
            node = flat
        if not _twinnable(node):
            return node
        g = node.generators[0]
        twin = ast.GeneratorExp(
            elt=copy.deepcopy(node.elt),
            generators=[ast.comprehension(target=copy.deepcopy(g.target), iter=rt("gxlast"),
                                          ifs=copy.deepcopy(g.ifs), is_async=0)])
        setattr(twin, GX_TWIN, True)
        g.iter = rt("gxsrc", g.iter)
        setattr(node, GX_EAGER, True)
        out = rt("gx", node, twin)
        return _located(out, node)


def twin_genexps(tree):
    return _Twins().visit(tree)


_KEYED = ("max", "min", "sorted")
_KEY_ITEM = "pd_key_item"  # the item of a key given by name (the expression's own scope)


class _Keys(ast.NodeTransformer):
    """`max(xs, key=lambda p: e)` (min, sorted, `lst.sort`; `key=name` as `lambda v:
    name(v)`) -> `__pydron__.keyed(max, xs, lambda p: e, (e for p in
    __pydron__.kxsrc()))`: the generator expression
    of the key's values gets a lazy twin (twin_genexps, next), whose steps
    submit every key's calls before the consumer compares the first two
    (_runtime/genexps.keyed). The lambda stays for a consumer that is not the
    builtin when it runs."""

    def visit_Call(self, node):
        self.generic_visit(node)
        # lst.sort(key=...): lst a name the key does not read (list.sort
        # empties the list while it sorts: a key that looks at it sees [])
        is_sort = isinstance(node.func, ast.Attribute) and node.func.attr == "sort" \
            and isinstance(node.func.value, ast.Name) and not node.args
        if not is_sort and not (isinstance(node.func, ast.Name) and node.func.id in _KEYED
                                and len(node.args) == 1
                                and not isinstance(node.args[0], ast.Starred)):
            return node
        keys = [k for k in node.keywords if k.arg == "key"]
        if len(keys) != 1 or any(k.arg is None for k in node.keywords):
            return node
        lam = keys[0].value
        if is_sort and any(isinstance(n, ast.Name) and n.id == node.func.value.id
                           for n in ast.walk(lam)):
            return node
        if isinstance(lam, ast.Name):
            # key=evaluate: (evaluate(v) for v in ...), the name looked up
            # per item as the builtin would call what it named (nothing in
            # the twin can rebind it)
            param, body = _KEY_ITEM, ast.Call(func=ast.Name(id=lam.id, ctx=ast.Load()),
                                              args=[ast.Name(id=_KEY_ITEM, ctx=ast.Load())],
                                              keywords=[])
        else:
            a = lam.args if isinstance(lam, ast.Lambda) else None
            if a is None or a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg or a.defaults \
                    or len(a.args) != 1:
                return node
            param, body = a.args[0].arg, copy.deepcopy(lam.body)
        gen = ast.GeneratorExp(
            elt=body,
            generators=[ast.comprehension(target=ast.Name(id=param, ctx=ast.Store()),
                                          iter=rt("kxsrc"), ifs=[], is_async=0)])
        if not _twinnable(gen):
            return node
        if is_sort:
            out = rt("keyed_sort", node.func.value, lam, gen)
            out.keywords = [k for k in node.keywords if k.arg != "key"]
            return _located(out, node)
        out = rt("keyed", node.func, node.args[0], lam, gen)
        out.keywords = [k for k in node.keywords if k.arg != "key"]
        return _located(out, node)


def key_genexps(tree):
    return _Keys().visit(tree)


def _is_helper(node, name):
    return is_rt(node) and node.func.attr == name


class _Check(ast.NodeTransformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        if not _is_helper(node, "gx") or len(node.args) != 2:
            return node
        gen, twin = node.args
        if self._rename(twin):
            return node
        # no twin: the generator expression over its source, as it was
        src = gen.generators[0].iter
        if _is_helper(src, "gxsrc"):
            gen.generators[0].iter = src.args[0]
        return gen

    @staticmethod
    def _rename(twin):
        """Rename the twin's helpers; False if it has anything that may run
        code of the program outside them."""
        if not any(_is_helper(n, "call") or _is_helper(n, "mcall") for n in ast.walk(twin)):
            return False  # no call: no task to submit ahead, the twin would only cost
        for g in twin.generators:
            g.ifs = [rt("pro", *c.args) if _is_helper(c, "r") else c for c in g.ifs]
        twin.elt = _compares(twin.elt)
        calls = []
        for n in ast.walk(twin):
            if isinstance(n, ast.Call):
                if not is_rt(n) or n.func.attr not in _TWIN_HELPERS:
                    return False
                calls.append(n)
            elif isinstance(n, ast.Attribute):
                if not (isinstance(n.value, ast.Name) and n.value.id == RT):
                    return False
            elif isinstance(n, _RAW_OPS):
                # an operator Python runs itself: on values the helpers checked
                for o in _operands(n):
                    if not (isinstance(o, (ast.Constant, *_RAW_OPS)) or _is_helper(o, "ro")
                            or _is_helper(o, "rdo") or _is_helper(o, "pro")):
                        return False
            elif not isinstance(n, _PLAIN_NODES):
                return False
        for n in calls:
            new = _TWIN_HELPERS[n.func.attr]
            if new is not None:
                n.func = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr=new,
                                       ctx=ast.Load())
        return True


_CMPOPS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_TESTS = ("r", "ro", "rdo")  # wrappers that look at their operand at once


def _compares(node):
    """One comparison of two resolved operands that no wrapper tests at once
    (`sum(f(x) > t for x in xs)`) -> pcop(op, a, b), deferred like an
    operator; in a truth test it stays as it is (it is looked at there)."""
    if isinstance(node, ast.Call) and is_rt(node) and node.func.attr in _TESTS:
        return node
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMPOPS \
            and _is_helper(node.left, "rdo") and _is_helper(node.comparators[0], "rdo"):
        new = rt("pcop", ast.Constant(value=_CMPOPS[type(node.ops[0])]),
                 _compares(node.left.args[0]), _compares(node.comparators[0].args[0]))
        return _located(new, node)
    for field, value in ast.iter_fields(node):
        if isinstance(value, ast.AST):
            setattr(node, field, _compares(value))
        elif isinstance(value, list):
            setattr(node, field, [_compares(v) if isinstance(v, ast.AST) else v for v in value])
    return node


_RAW_OPS = (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp, ast.IfExp)
_PLAIN_NODES = (ast.GeneratorExp, ast.comprehension, ast.Name, ast.Constant, ast.Tuple, ast.List,
                ast.keyword, ast.expr_context, ast.operator, ast.cmpop, ast.boolop, ast.unaryop)


def _operands(n):
    if isinstance(n, ast.BinOp):
        return [n.left, n.right]
    if isinstance(n, ast.UnaryOp):
        return [n.operand]
    if isinstance(n, ast.Compare):
        return [n.left] + n.comparators
    if isinstance(n, ast.BoolOp):
        return n.values
    return [n.test]  # IfExp: its branches are values, not operands


def check_twins(tree):
    return _Check().visit(tree)
