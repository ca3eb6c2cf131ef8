"""Pass: lower stores that are not plain name bindings into runtime calls.

`a[i] = v`, `o.x = v`, `a, b = v`, `x += v`, `del a[i]`, and the targets of
`for`/`with`/comprehensions become `__pydron__.setitem/setattr_/it/aug/...`, so the
runtime decides whether a placeholder may be stored (builtin list/dict: yes, the
container is tainted and the store can be undone) or must be resolved first.
The value is always evaluated before the target, as Python does."""

import ast

from .util import Located, Temps, rt, stmt


def slice_expr(node):
    """A Subscript's slice as an ordinary expression (Slice nodes become slice())."""
    if isinstance(node, ast.Slice):
        none = ast.Constant(value=None)
        return rt("slice_", node.lower or none, node.upper or ast.Constant(value=None),
                  node.step or ast.Constant(value=None))
    if isinstance(node, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.elts):
        return ast.Tuple(elts=[slice_expr(e) for e in node.elts], ctx=ast.Load())
    return node


def _simple(target):
    """A target made only of names (possibly nested tuples/starred)."""
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return _simple(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_simple(e) for e in target.elts)
    return False


class Targets(Located):
    def __init__(self):
        self.temps = Temps()

    def store(self, target, value):
        """Statements that store expression `value` (evaluated once) into `target`."""
        if isinstance(target, ast.Name):
            return [ast.Assign(targets=[target], value=value)]
        if isinstance(target, ast.Attribute):
            return [stmt(rt("setattr_", target.value, ast.Constant(value=target.attr), value))]
        if isinstance(target, ast.Subscript):
            return [stmt(rt("setitem", target.value, slice_expr(target.slice), value))]
        if isinstance(target, (ast.Tuple, ast.List)):
            later = []
            elts = []
            for e in target.elts:
                starred = isinstance(e, ast.Starred)
                inner = e.value if starred else e
                if isinstance(inner, ast.Name):
                    elts.append(e)
                    continue
                t = self.temps.new()
                name = ast.Name(id=t, ctx=ast.Store())
                elts.append(ast.Starred(value=name, ctx=ast.Store()) if starred else name)
                later.append((inner, ast.Name(id=t, ctx=ast.Load())))
            # unpack(v, n): may defer unpacking a result not computed yet (the
            # look-ahead pass makes it it(v) in eager zones)
            star = any(isinstance(e, ast.Starred) for e in elts)
            source = rt("it", value) if star or not elts else \
                rt("unpack", value, ast.Constant(value=len(elts)))
            out = [ast.Assign(targets=[ast.Tuple(elts=elts, ctx=ast.Store())], value=source)]
            for inner, tname in later:
                out.extend(self.store(inner, tname))
            return out
        raise TypeError(f"unexpected store target {ast.dump(target)}")

    def visit_ClassDef(self, node):
        # Statements directly in a class body bind class attributes: temporaries
        # would leak into the class, so only the methods are lowered.
        node.body = [self.visit(s) if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) else s
                     for s in node.body]
        return node

    def visit_Assign(self, node):
        self.generic_visit(node)
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            return node
        if len(node.targets) == 1 and not isinstance(node.targets[0], (ast.Attribute, ast.Subscript)):
            return self.store(node.targets[0], node.value)
        t = self.temps.new()
        out = [ast.Assign(targets=[ast.Name(id=t, ctx=ast.Store())], value=node.value)]
        for target in node.targets:
            out.extend(self.store(target, ast.Name(id=t, ctx=ast.Load())))
        return out

    def visit_AnnAssign(self, node):
        self.generic_visit(node)
        if node.value is None or isinstance(node.target, ast.Name):
            return node
        return self.visit_Assign(ast.Assign(targets=[node.target], value=node.value))

    def visit_AugAssign(self, node):
        self.generic_visit(node)
        op = _OPS[type(node.op)]
        target = node.target
        if isinstance(target, ast.Name):
            load = ast.Name(id=target.id, ctx=ast.Load())
            return ast.Assign(targets=[target], value=rt("aug", ast.Constant(value=op), load, node.value))
        out = []
        o = self.temps.new()
        out.append(ast.Assign(targets=[ast.Name(id=o, ctx=ast.Store())], value=target.value))
        oload = ast.Name(id=o, ctx=ast.Load())
        if isinstance(target, ast.Attribute):
            cur = ast.Attribute(value=oload, attr=target.attr, ctx=ast.Load())
            new = rt("aug", ast.Constant(value=op), cur, node.value)
            out.append(stmt(rt("setattr_", oload, ast.Constant(value=target.attr), new)))
            return out
        k = self.temps.new()
        out.append(ast.Assign(targets=[ast.Name(id=k, ctx=ast.Store())], value=slice_expr(target.slice)))
        kload = ast.Name(id=k, ctx=ast.Load())
        cur = ast.Subscript(value=oload, slice=kload, ctx=ast.Load())
        new = rt("aug", ast.Constant(value=op), cur, node.value)
        out.append(stmt(rt("setitem", oload, kload, new)))
        return out

    def visit_Delete(self, node):
        self.generic_visit(node)
        out = []
        keep = []
        for target in node.targets:
            out.extend(self._delete(target, keep))
        return out

    def _delete(self, target, keep):
        if isinstance(target, ast.Name):
            return [ast.Delete(targets=[target])]
        if isinstance(target, ast.Attribute):
            return [stmt(rt("delattr_", target.value, ast.Constant(value=target.attr)))]
        if isinstance(target, ast.Subscript):
            return [stmt(rt("delitem", target.value, slice_expr(target.slice)))]
        out = []
        for e in target.elts:
            out.extend(self._delete(e, keep))
        return out

    def _loop_target(self, node):
        if isinstance(node.target, ast.Name):
            return
        t = self.temps.new()
        lowered = self.store(node.target, ast.Name(id=t, ctx=ast.Load()))
        node.target = ast.Name(id=t, ctx=ast.Store())
        node.body = lowered + node.body

    def visit_For(self, node):
        self.generic_visit(node)
        self._loop_target(node)
        return node

    def visit_With(self, node):
        self.generic_visit(node)
        pre = []
        for item in node.items:
            v = item.optional_vars
            if v is None or isinstance(v, ast.Name):
                continue
            t = self.temps.new()
            item.optional_vars = ast.Name(id=t, ctx=ast.Store())
            pre.extend(self.store(v, ast.Name(id=t, ctx=ast.Load())))
        node.body = pre + node.body
        return node

    def _comp(self, node):
        self.generic_visit(node)
        gens = []
        for g in node.generators:
            if isinstance(g.target, ast.Name):
                gens.append(g)
                continue
            # `for a, b in xs` -> `for t in xs for a, b in [it(t)]`: the element may
            # be a placeholder, unpacking must see its value.
            t = self.temps.new()
            gens.append(ast.comprehension(target=ast.Name(id=t, ctx=ast.Store()), iter=g.iter,
                                          ifs=[], is_async=0))
            if not _simple(g.target):
                raise_unsupported(g.target)
            gens.append(ast.comprehension(
                target=g.target,
                iter=ast.List(elts=[rt("it", ast.Name(id=t, ctx=ast.Load()))], ctx=ast.Load()),
                ifs=g.ifs, is_async=0))
        node.generators = gens
        return node

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comp


def raise_unsupported(target):
    from .validate import TranslationError
    raise TranslationError(
        f"line {target.lineno}: comprehension target '{ast.unparse(target)}' stores into an "
        "attribute or item, which pydron cannot translate")


_OPS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&",
    ast.BitOr: "|", ast.BitXor: "^", ast.MatMult: "@",
}


def lower_targets(tree):
    return Targets().visit(tree)
