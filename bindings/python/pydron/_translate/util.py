"""Small AST helpers shared by the passes."""

import ast

RT = "__pydron__"  # the one global name translated code uses to reach pydron._runtime


def rt(name, *args):
    """`__pydron__.name(*args)` as an expression node."""
    return ast.Call(
        func=ast.Attribute(value=ast.Name(id=RT, ctx=ast.Load()), attr=name, ctx=ast.Load()),
        args=list(args),
        keywords=[],
    )


def is_rt(node):
    """Is `node` a call of a runtime helper inserted by a pass?"""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == RT
    )


def stmt(expr):
    return ast.Expr(value=expr)


class Temps:
    """Fresh local names for values a pass must evaluate once."""

    def __init__(self):
        self.n = 0

    def new(self):
        self.n += 1
        return f"_pd_t{self.n}"


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def own_scope(node, scopes=SCOPES):
    """The nodes of a function's own scope (not those of nested defs/lambdas/classes,
    or of whatever `scopes` names: yielded, not entered)."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        n = todo.pop()
        yield n
        if not isinstance(n, scopes):
            todo.extend(ast.iter_child_nodes(n))


def is_generator(fdef):
    return any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in own_scope(fdef))


def locate(new, old):
    """Give generated nodes the source position of the node they replace, so that
    tracebacks point at the user's line."""
    for stmt_ in (new if isinstance(new, list) else [new]):
        for n in ast.walk(stmt_):
            if "lineno" in n._attributes and not hasattr(n, "lineno"):
                ast.copy_location(n, old)
    return new


class Located(ast.NodeTransformer):
    """A NodeTransformer whose replacement statements keep the original position."""

    def visit(self, node):
        new = super().visit(node)
        if isinstance(node, ast.stmt) and new is not node and new is not None:
            locate(new, node)
        return new


# Marks: attributes set on AST nodes by one pass and read by a later one, so that
# no pass has to recognise another's output by its shape.
INTERNAL = "pd_internal"  # a node made by a pass for the runtime (not the program's)
RESOLVED = "pd_resolved"  # on a runtime call the resolve pass wrapped around an operand


def internal(node):
    setattr(node, INTERNAL, True)
    return node


def is_internal(node):
    return getattr(node, INTERNAL, False)


def resolved(node, how):
    """`__pydron__.how(node)`, marked as made by the resolve pass."""
    call = rt(how, node)
    setattr(call, RESOLVED, how)
    return call


def operand(node, *hows):
    """The operand the resolve pass wrapped in `node` with one of `hows`, else None."""
    if getattr(node, RESOLVED, None) in hows:
        return node.args[0]
    return None
