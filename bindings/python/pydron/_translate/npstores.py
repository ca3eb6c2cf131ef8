"""Pass: item stores into a local that a loop never reads become
`__pydron__.npstore(name, key, value)`, its in-place operators
(`name += value`) `name = __pydron__.npaug(name, op, value)` and
`name[key] += value` `npget` + `npaugset`, its rebinding `name = name +
value` `name = __pydron__.npbop(name, op, value)`, and
`__pydron__.npflush(name)` follows the loop.

For `out[i] = f(i)` (or `acc += f(i)`, `acc = acc + f(i)`) in a loop, with
`out` a numpy array, the runtime defers the store (a deferred operation, in
program order) instead of waiting for f(i) (_runtime/npstores.py). That is
sound only while nothing reads the array before the deferred stores have
run. This pass proves the part that
can be seen in the source; the runtime checks the rest (the array's type,
and that no other reference to it exists) at every store:

- the name is a local of the @schedule function: bound in its own scope,
  not declared `global` or `nonlocal`, not used in any nested function,
  lambda, class or generator expression (those could run during the loop
  and read it through a cell; a list, set or dict comprehension runs where
  it is written, so one after the loop does not matter, and one inside it
  counts as a use there);
- inside the loop (its body, `else`, and a `while` test; a `for` iterable
  is evaluated once, before), the name appears only as the object of these
  item stores and in these in-place operators and rebindings: no other
  load, no other store, no `del`;
- the loop is in no try or with statement of the function (a handler could
  look at the array between a failure and the stores before it);
- the loop has no `return`, `yield` or `await`, and calls no `locals`,
  `vars`, `dir`, `eval`, `exec`, `globals` or `breakpoint` (they reach the
  frame's variables).

The outermost loop that fits is taken, so a nest of loops waits once, after
the outer one. Any other object (a list, a dict) stored through `npstore`
takes the ordinary path, and `npflush` of it does nothing."""

import ast

from .lookahead import _BINOPS as _ALL_BINOPS
from .util import RT, SCOPES, is_rt, locate, own_scope, rt, stmt

_NESTED = SCOPES + (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# nested scopes whose code may run later than where they are written (a list,
# set or dict comprehension runs there and then)
_LATER = SCOPES + (ast.GeneratorExp,)
_ESCAPES = frozenset(("locals", "vars", "dir", "eval", "exec", "globals", "breakpoint"))
# `name = name op value`: npbop (not `%`, which formats strings too)
_BINOPS = {k: v for k, v in _ALL_BINOPS.items() if v != "%"}
_TRY = (ast.Try, ast.With) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())


def defer_array_stores(fdef):
    locals_ = _locals(fdef)
    _block(fdef.body, locals_, False, frozenset())
    return fdef


def _own(node):
    """The nodes under node, not those of nested scopes, comprehensions
    included (which are yielded, not entered)."""
    return own_scope(node, _NESTED)


def _locals(fdef):
    """Names bound in the function's own scope that no nested scope uses and
    no global/nonlocal statement declares."""
    bound, blocked = set(), set()
    a = fdef.args
    for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
        if arg is not None:
            bound.add(arg.arg)
    for n in _own(fdef):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            bound.add(n.id)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            blocked.update(n.names)
        elif isinstance(n, _LATER):
            # may run at another time than where it is written (a call, a
            # generator's steps): could read the array during a loop
            blocked.update(m.id for m in ast.walk(n) if isinstance(m, ast.Name))
            if isinstance(n, SCOPES) and not isinstance(n, ast.Lambda):
                bound.add(n.name)
        elif isinstance(n, ast.alias):
            bound.add((n.asname or n.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            bound.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            bound.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            bound.add(n.rest)
    return bound - blocked - {RT}


def _block(stmts, locals_, in_try, done):
    out = []
    for s in stmts:
        out.append(s)
        if isinstance(s, (ast.For, ast.While)):
            names = set() if in_try else _fit(s, locals_) - done
            if names:
                _rewrite(s, names)
                for n in sorted(names):
                    out.append(locate(stmt(rt("npflush", ast.Name(id=n, ctx=ast.Load()))), s))
            sub = done | names
            _block(s.body, locals_, in_try, sub)
            _block(s.orelse, locals_, in_try, sub)
        elif isinstance(s, _TRY):
            for part in ("body", "orelse", "finalbody"):
                _block(getattr(s, part, []), locals_, True, done)
            for h in getattr(s, "handlers", []):
                _block(h.body, locals_, True, done)
        elif isinstance(s, ast.If):
            _block(s.body, locals_, in_try, done)
            _block(s.orelse, locals_, in_try, done)
        elif isinstance(s, ast.Match):
            for c in s.cases:
                _block(c.body, locals_, in_try, done)
    stmts[:] = out


def _fit(loop, locals_):
    """The names whose item stores in loop may be deferred."""
    parts = [loop.body, loop.orelse] + ([[loop.test]] if isinstance(loop, ast.While) else [])
    nodes = [m for part in parts for n in part for m in [n, *_own(n)]]
    every = [m for part in parts for n in part for m in ast.walk(n)]   # comprehensions too
    for n in nodes:
        if isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom, ast.Await)):
            return set()
    for n in every:
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in _ESCAPES:
            return set()
    targets = {}
    for n in nodes:
        if _store_into(n, locals_):
            targets[n.args[0].id] = targets.get(n.args[0].id, 0) + 1
        elif _aug_into(n, locals_) or _rebind_into(n, locals_) \
                or _call_into(n, locals_) is not None:   # the name twice: stored and read
            targets[n.targets[0].id] = targets.get(n.targets[0].id, 0) + 2
    for block in _blocks(loop):
        for j in range(len(block) - 2):
            name = _augitem_at(block, j, locals_)
            if name is not None:   # the name once: `_pd_t = name`
                targets[name] = targets.get(name, 0) + 1
    if not targets:
        return set()
    uses = {}
    for n in every:
        if isinstance(n, ast.Name) and n.id in targets:
            uses[n.id] = uses.get(n.id, 0) + 1
    return {a for a, k in targets.items() if uses.get(a) == k}


def _rewrite(loop, names):
    for block in _blocks(loop):
        j = 0
        while j < len(block) - 2:
            name = _augitem_at(block, j, names)
            if name is not None:
                # t1 = name; t2 = key; setitem(t1, t2, aug(op, t1[t2], value))
                # -> t2 = key; t1 = npget(name, t2, op); npaugset(name, t2, op, t1, value)
                t1, t2, s3 = block[j].targets[0].id, block[j + 1], block[j + 2]
                op, _, value = s3.value.args[2].args
                key = t2.targets[0].id
                get = locate(ast.Assign(targets=[ast.Name(id=t1, ctx=ast.Store())], value=rt(
                    "npget", ast.Name(id=name, ctx=ast.Load()), ast.Name(id=key, ctx=ast.Load()),
                    op)), block[j])
                put = locate(stmt(rt("npaugset", ast.Name(id=name, ctx=ast.Load()),
                                     ast.Name(id=key, ctx=ast.Load()), ast.Constant(value=op.value),
                                     ast.Name(id=t1, ctx=ast.Load()), value)), s3)
                block[j:j + 3] = [t2, get, put]
            j += 1
    for part in (loop.body, loop.orelse):
        for s in part:
            for n in [s, *_own(s)]:
                if _store_into(n, names):
                    n.func.attr = "npstore"
                elif _aug_into(n, names):
                    n.value.func.attr = "npaug"
                    op, name, value = n.value.args
                    n.value.args = [name, op, value]
                elif _rebind_into(n, names):
                    b = n.value
                    n.value = locate(rt("npbop", b.left, ast.Constant(value=_BINOPS[type(b.op)]),
                                        b.right), b)
                elif _call_into(n, names) is not None:
                    c = n.value
                    form, rest = _call_into(n, names)
                    new = rt("npcall", ast.Name(id=n.targets[0].id, ctx=ast.Load()), c.func,
                             ast.Constant(value=form), *rest)
                    new.keywords = c.keywords
                    n.value = locate(new, c)


def _rebind_into(n, names):
    """Is n `name = name op value` (not `%`) with name in names?"""
    if not (isinstance(n, ast.Assign) and len(n.targets) == 1
            and isinstance(n.targets[0], ast.Name) and n.targets[0].id in names):
        return False
    v = n.value
    return isinstance(v, ast.BinOp) and type(v.op) in _BINOPS \
        and _is_name(v.left, n.targets[0].id)


def _call_into(n, names):
    """(form, other arguments) if n is `name = func(name, ...)` (form 0),
    `name = func([name, ...])` (1) or `name = func((name, ...))` (2) with
    name in names, func a name or a dotted name, no starred argument and
    keyword arguments of constants only (no `out=`); else None. The runtime
    defers it only for the numpy functions it knows (npstores.npcall)."""
    if not (isinstance(n, ast.Assign) and len(n.targets) == 1
            and isinstance(n.targets[0], ast.Name) and n.targets[0].id in names):
        return None
    c, name = n.value, n.targets[0].id
    if not (isinstance(c, ast.Call) and c.args and not is_rt(c) and _dotted(c.func)):
        return None
    if any(k.arg is None or k.arg == "out" or not isinstance(k.value, ast.Constant)
           for k in c.keywords) or any(isinstance(a, ast.Starred) for a in c.args):
        return None
    first = c.args[0]
    if _is_name(first, name):
        return 0, c.args[1:]
    if len(c.args) == 1 and isinstance(first, (ast.List, ast.Tuple)) and first.elts \
            and _is_name(first.elts[0], name) \
            and not any(isinstance(e, ast.Starred) for e in first.elts):
        return (1 if isinstance(first, ast.List) else 2), first.elts[1:]
    return None


def _dotted(f):
    """Is f a name or a chain of attributes of a name (np.maximum)?"""
    while isinstance(f, ast.Attribute):
        f = f.value
    return isinstance(f, ast.Name)


def _blocks(loop):
    """The statement lists of loop's body and else, and of the blocks nested
    in them (not in nested scopes)."""
    todo = [loop.body, loop.orelse]
    while todo:
        block = todo.pop()
        yield block
        for s in block:
            if isinstance(s, _NESTED):
                continue
            for part in ("body", "orelse", "finalbody"):
                sub = getattr(s, part, None)
                if isinstance(sub, list) and sub and isinstance(sub[0], ast.stmt):
                    todo.append(sub)
            for h in getattr(s, "handlers", None) or ():
                todo.append(h.body)
            for c in getattr(s, "cases", None) or ():
                todo.append(c.body)


def _augitem_at(block, j, names):
    """The name if block[j:j + 3] is `name[key] op= value` as the targets
    pass lowers it, with name in names:
        t1 = name
        t2 = key
        __pydron__.setitem(t1, t2, __pydron__.aug(op, t1[t2], value))"""
    s1, s2, s3 = block[j:j + 3]
    if not (isinstance(s1, ast.Assign) and len(s1.targets) == 1 and isinstance(s1.targets[0], ast.Name)
            and isinstance(s1.value, ast.Name) and s1.value.id in names
            and isinstance(s2, ast.Assign) and len(s2.targets) == 1
            and isinstance(s2.targets[0], ast.Name) and isinstance(s3, ast.Expr)):
        return None
    t1, t2, c = s1.targets[0].id, s2.targets[0].id, s3.value
    if not (is_rt(c) and c.func.attr == "setitem" and len(c.args) == 3
            and _is_name(c.args[0], t1) and _is_name(c.args[1], t2)):
        return None
    a = c.args[2]
    if not (is_rt(a) and a.func.attr == "aug" and len(a.args) == 3
            and isinstance(a.args[1], ast.Subscript) and _is_name(a.args[1].value, t1)
            and _is_name(a.args[1].slice, t2)):
        return None
    return s1.value.id


def _is_name(n, name):
    return isinstance(n, ast.Name) and n.id == name


def _store_into(n, names):
    """Is n `__pydron__.setitem(name, key, value)` (targets pass) with name in names?"""
    return is_rt(n) and n.func.attr == "setitem" and len(n.args) == 3 \
        and isinstance(n.args[0], ast.Name) and n.args[0].id in names


def _aug_into(n, names):
    """Is n `name = __pydron__.aug(op, name, value)` (`name op= value`,
    targets pass) with name in names?"""
    if not (isinstance(n, ast.Assign) and len(n.targets) == 1
            and isinstance(n.targets[0], ast.Name) and n.targets[0].id in names):
        return False
    v = n.value
    return is_rt(v) and v.func.attr == "aug" and len(v.args) == 3 \
        and isinstance(v.args[1], ast.Name) and v.args[1].id == n.targets[0].id
