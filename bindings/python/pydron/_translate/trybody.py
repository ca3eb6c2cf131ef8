"""Pass: `try` and `with` bodies that run in parallel.

A `try` body used to run its calls one at a time, so that a task's exception
reaches the handlers at the right point. Here the body runs like any other
code (tasks are added without waiting) and the exception is brought back to
its sequential point instead:

    __pydron__.barrier()                  # (barriers pass) nothing pending here
    _pd_tk1 = __pydron__.try_enter()
    try:
        try:
            BODY                          # lazy; before each store of a local
                                          # name while tasks are pending:
                                          # __pydron__.lsave(_pd_tk1, locals(), names)
            __pydron__.try_exit(_pd_tk1)  # wait: a failure is raised in here
        except BaseException as _pd_e1:
            _pd_rb1, _pd_x1 = __pydron__.try_fail(_pd_tk1, _pd_e1)
            if 'x' in _pd_rb1: ...        # locals stored after the failing call
            raise _pd_x1                  # get their earlier values back
    except ...:                           # the user's handlers, as written
        ...

Effects after the failing call are otherwise undone or never happen as
elsewhere (undo log, deferred operations, barriers before unknown code). A
`return`, `break` or `continue` that leaves the body waits first. Bodies with
stores the log cannot follow (walrus, `del name`, nested def/class/import,
`nonlocal` names, `with`, `match`, nested `try`, `yield`) keep running their
calls one at a time.
"""

import ast

from .util import RT, SCOPES, internal, rt, stmt
from .zones import LAZY, TRANSPARENT, Zones

_REJECT = (ast.Yield, ast.YieldFrom, ast.Await, ast.NamedExpr, ast.FunctionDef,
           ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Global,
           ast.Nonlocal, ast.Try, ast.TryStar, ast.With, ast.AsyncWith, ast.Match,
           ast.AsyncFor)
_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _walk_scope(node):
    """Nodes of the body in the function's own scope."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, _SCOPES):
                todo.append(c)


def _stored(target):
    return [n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]


def lazy_ok(node, outer_names):
    """May this Try's (or With's) body run lazily? outer_names: global/nonlocal names."""
    if isinstance(node, (ast.TryStar, ast.AsyncWith)):
        return False
    for s in node.body:
        for n in _walk_scope(s):
            if isinstance(n, _REJECT):
                return False
            if isinstance(n, ast.Delete) and any(isinstance(t, ast.Name) for t in n.targets):
                return False
            if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)) \
                    and n.id in outer_names and outer_names[n.id] != "Global":
                return False
    return True


class _Body:
    def __init__(self, tk, temps, outer_names):
        self.tk = tk
        self.temps = temps
        self.outer = outer_names
        self.names = []  # every local name stored in the body, in order

    def _save(self, names):
        names = [n for n in dict.fromkeys(names) if n not in self.outer]
        if not names:
            return []
        for n in names:
            if n not in self.names:
                self.names.append(n)
        call = rt("lsave", ast.Name(id=self.tk, ctx=ast.Load()),
                  internal(ast.Call(func=ast.Name(id="locals", ctx=ast.Load()), args=[], keywords=[])),
                  ast.Tuple(elts=[ast.Constant(value=n) for n in names], ctx=ast.Load()))
        test = ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr="_pending", ctx=ast.Load())
        return [ast.If(test=test, body=[stmt(call)], orelse=[])]

    def _exit(self):
        return stmt(rt("try_exit", ast.Name(id=self.tk, ctx=ast.Load())))

    def stmts(self, body, in_loop):
        out = []
        for s in body:
            out.extend(self.stmt(s, in_loop))
        return out

    def stmt(self, s, in_loop):
        if isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and s.value is not None:
            targets = s.targets if isinstance(s, ast.Assign) else [s.target]
            save = self._save([n for t in targets for n in _stored(t)])
            if not save:
                return [s]
            # The value first: if its task fails, the store is one that
            # sequential code never made (it is logged after that task).
            tmp = self.temps.new()
            first = ast.Assign(targets=[ast.Name(id=tmp, ctx=ast.Store())], value=s.value)
            s.value = ast.Name(id=tmp, ctx=ast.Load())
            return [first] + save + [s]
        if isinstance(s, ast.For):
            names = _stored(s.target)
            if names:
                tmp = self.temps.new()
                assign = ast.Assign(targets=[s.target], value=ast.Name(id=tmp, ctx=ast.Load()))
                s.target = ast.Name(id=tmp, ctx=ast.Store())
                s.body = self._save(names) + [assign] + self.stmts(s.body, True)
            else:
                s.body = self.stmts(s.body, True)
            s.orelse = self.stmts(s.orelse, in_loop)
            return [s]
        if isinstance(s, ast.While):
            s.body = self.stmts(s.body, True)
            s.orelse = self.stmts(s.orelse, in_loop)
            return [s]
        if isinstance(s, ast.If):
            s.body = self.stmts(s.body, in_loop)
            s.orelse = self.stmts(s.orelse, in_loop)
            return [s]
        if isinstance(s, ast.Return):
            if s.value is None:
                return [self._exit(), s]
            tmp = self.temps.new()
            keep = ast.Assign(targets=[ast.Name(id=tmp, ctx=ast.Store())], value=s.value)
            s.value = ast.Name(id=tmp, ctx=ast.Load())
            return [keep, self._exit(), s]
        if isinstance(s, (ast.Break, ast.Continue)) and not in_loop:
            return [self._exit(), s]
        return [s]


def lazy_try(node, tk, err, rb, exc, temps, outer_names):
    """The statements replacing Try or With `node` (whose body was already visited)."""
    b = _Body(tk, temps, outer_names)
    body = b.stmts(node.body, False) + [b._exit()]
    restore = []
    for n in b.names:
        got = ast.Subscript(value=ast.Name(id=rb, ctx=ast.Load()), slice=ast.Constant(value=n),
                            ctx=ast.Load())
        unbound = ast.Compare(left=got, ops=[ast.Is()],
                              comparators=[ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()),
                                                         attr="UNBOUND", ctx=ast.Load())])
        restore.append(ast.If(
            test=ast.Compare(left=ast.Constant(value=n), ops=[ast.In()],
                             comparators=[ast.Name(id=rb, ctx=ast.Load())]),
            body=[ast.If(test=unbound, body=[ast.Delete(targets=[ast.Name(id=n, ctx=ast.Del())])],
                         orelse=[ast.Assign(targets=[ast.Name(id=n, ctx=ast.Store())],
                                            value=got)])],
            orelse=[]))
    fail = ast.Assign(
        targets=[ast.Tuple(elts=[ast.Name(id=rb, ctx=ast.Store()), ast.Name(id=exc, ctx=ast.Store())],
                           ctx=ast.Store())],
        value=rt("try_fail", ast.Name(id=tk, ctx=ast.Load()), ast.Name(id=err, ctx=ast.Load())))
    handler = ast.ExceptHandler(type=ast.Name(id="BaseException", ctx=ast.Load()), name=err,
                                body=[fail] + restore + [ast.Raise(exc=ast.Name(id=exc, ctx=ast.Load()),
                                                                   cause=None)])
    inner = ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[])
    setattr(inner, TRANSPARENT, True)
    enter = ast.Assign(targets=[ast.Name(id=tk, ctx=ast.Store())], value=rt("try_enter"))
    if isinstance(node, ast.With):
        # `with`: the same, inside the block, so that __exit__ sees the failure
        node.body = [enter, inner]
        return [node]
    node.body = [inner]
    return [enter, node]


class TryBodies(Zones):
    """Marks the try/with statements whose body runs lazily (zones.LAZY) and
    rewrites them (lazy_try); the others stay eager."""

    def __init__(self, generator):
        super().__init__(generator)
        self.outer = [{}]  # per function: names declared global/nonlocal
        self.n = 0

    def new(self, prefix="y"):
        self.n += 1
        return f"_pd_{prefix}{self.n}"

    def visit_FunctionDef(self, node):
        self.outer.append(_declared(node))
        try:
            return super().visit_FunctionDef(node)
        finally:
            self.outer.pop()

    def _lazy(self, node):
        return not self.eager and lazy_ok(node, self.outer[-1])

    def visit_Try(self, node):
        if not self._lazy(node):
            return self._eager(node)
        setattr(node, LAZY, True)
        node = super().visit_Try(node)
        return self._rewrite(node)

    def visit_With(self, node):
        if not self._lazy(node):
            return self._eager(node)
        setattr(node, LAZY, True)
        node = super().visit_With(node)
        return self._rewrite(node)

    def _rewrite(self, node):
        return lazy_try(node, self.new("tk"), self.new("e"), self.new("rb"), self.new("x"),
                        self, self.outer[-1])


def _declared(fdef):
    declared = {}
    todo = list(fdef.body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            declared.update(dict.fromkeys(n.names, type(n).__name__))
        elif not isinstance(n, SCOPES):
            todo.extend(ast.iter_child_nodes(n))
    return declared


def lazy_bodies(tree, generator):
    return TryBodies(generator).visit(tree)
