"""Translate a @schedule function: source -> AST -> passes -> a new function.

The passes, in order (each one job, each its own module and tests):
  validate   reject async constructs, before anything runs
  mangle     private names of methods (the new def is compiled outside its class)
  targets    stores into items/attributes, unpacking, augmented assignment, del
  npstores   item stores into a local a loop never reads: `npstore`, `npflush` after
  barriers   barriers before try/with/import/class; resolve global/nonlocal stores
  resolve    resolve placeholders where Python looks at a value (marks its wrappers)
  trybody    try/with bodies that run lazily, their failures brought back in order
  lookahead  operations over marked operands that may be deferred (bop, item, mcall, ...)
  calls      every call dispatched by the runtime (`ecall` in eager zones, zones.py);
             frame builtins (locals, dir, eval, ...) see nothing of pydron's
  closures   nested defs and lambdas registered: their defaults and cells get values
  nested     nested defs return placeholders only to translated code
"""

import ast
import inspect
import logging
import textwrap
import types

from .barriers import insert_barriers
from .calls import dispatch_calls
from .closures import register_closures
from .lookahead import look_ahead
from .mangle import mangle
from .npstores import defer_array_stores
from .nested import wrap_nested
from .resolve import insert_resolution
from .genexps import check_twins, key_genexps, twin_genexps
from .targets import lower_targets
from .trybody import lazy_bodies
from .util import RT, rt
from .validate import TranslationError, validate

__all__ = ["translate", "translate_source", "TranslationError", "RT"]

log = logging.getLogger("pydron")

_INNER = "__pydron_inner__"
_OUTER = "__pydron_outer__"


def _parse(fn):
    filename = fn.__code__.co_filename
    try:
        src = inspect.getsource(fn)
    except (OSError, TypeError):
        raise TranslationError(
            f"{filename}:{fn.__code__.co_firstlineno}: @schedule needs the source code of "
            f"'{fn.__qualname__}', and a function typed into `python -c`, `python -`, exec() "
            f"or the interactive prompt has none: put it in a .py file and run or import "
            f"that file, or set PYDRON_DISABLE=1 to run it as plain Python") from None
    tree = ast.parse(textwrap.dedent(src))
    ast.increment_lineno(tree, fn.__code__.co_firstlineno - 1)
    if not tree.body or not isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise TranslationError(
            f"{filename}:{fn.__code__.co_firstlineno}: @schedule applies to a 'def' "
            f"statement, not to '{fn.__name__}'")
    return tree


def translate_source(fdef, qualname="f", filename="<pydron>", generator=False):
    """Run the passes over a FunctionDef node; returns the new node. (Also used by tests.)"""
    validate(fdef, filename, fdef.name)
    mangle(fdef, qualname)
    fdef = key_genexps(fdef)
    fdef = twin_genexps(fdef)
    fdef = lower_targets(fdef)
    fdef = defer_array_stores(fdef)
    fdef = insert_barriers(fdef)
    fdef = insert_resolution(fdef, generator)
    fdef = lazy_bodies(fdef, generator)
    fdef = look_ahead(fdef, generator)
    fdef = dispatch_calls(fdef, generator)
    fdef = check_twins(fdef)
    fdef = register_closures(fdef)
    fdef = wrap_nested(fdef)
    fdef = tidy_handlers(fdef)
    return fdef


def tidy_handlers(fdef):
    """`__pydron__.caught()` first in each `except` clause of the program
    (not the passes' own, whose names start with _pd_): the exception it
    handles shows the program's frames only (errors.caught)."""
    for node in ast.walk(fdef):
        if isinstance(node, ast.Try):
            for h in node.handlers:
                if not (h.name or "").startswith("_pd_"):
                    call = ast.Expr(value=rt("caught"))
                    ast.copy_location(call, h.body[0])
                    ast.fix_missing_locations(call)
                    h.body.insert(0, call)
    return fdef


def _requalify(code, old, new):
    """Qualified names as if the def had been compiled where it was written."""
    consts = tuple(_requalify(c, old, new) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    qual = code.co_qualname
    if qual.startswith(old):
        qual = new + qual[len(old):]
    return code.replace(co_qualname=qual, co_consts=consts)


def _code_objects(code):
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield c
            yield from _code_objects(c)


def translate(fn):
    """Returns (new function, is_generator, set of nested code objects)."""
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"@schedule expects a function, got {type(fn).__name__}")
    code = fn.__code__
    if code.co_flags & (inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR):
        raise TranslationError(
            f"{code.co_filename}:{code.co_firstlineno}: @schedule function '{fn.__name__}' "
            "is 'async def', which pydron cannot translate")
    generator = bool(code.co_flags & inspect.CO_GENERATOR)
    tree = _parse(fn)
    fdef = tree.body[0]
    # The original function already holds its defaults and annotations.
    fdef.decorator_list = []
    fdef.returns = None
    a = fdef.args
    a.defaults = []
    a.kw_defaults = [None] * len(a.kwonlyargs)
    for arg in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg]:
        if arg is not None:
            arg.annotation = None
    fdef = translate_source(fdef, fn.__qualname__, code.co_filename, generator)
    fdef.name = _INNER
    ast.fix_missing_locations(fdef)  # (ast.unparse below needs them too)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("translated %s (%s:%d):\n%s", fn.__qualname__, code.co_filename,
                  code.co_firstlineno, ast.unparse(fdef))

    # Compile the def nested in a function that binds the same free variables, so
    # that they stay free variables and take the original closure cells. The
    # runtime is reached the same way (a free variable `__pydron__`), so that the
    # program's globals hold nothing of pydron's.
    outer_body = [ast.Assign(targets=[ast.Name(id=v, ctx=ast.Store())], value=ast.Constant(value=None))
                  for v in code.co_freevars + (RT,)]
    outer_body.append(fdef)
    outer = ast.FunctionDef(name=_OUTER, args=ast.arguments(posonlyargs=[], args=[], vararg=None,
                            kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
                            body=outer_body, decorator_list=[], returns=None, type_comment=None)
    module = ast.Module(body=[outer], type_ignores=[])
    ast.fix_missing_locations(module)
    try:
        compiled = compile(module, code.co_filename, "exec")
    except SyntaxError as e:  # a pass produced something Python rejects: our bug
        raise TranslationError(f"{code.co_filename}:{e.lineno}: pydron failed to translate "
                               f"'{fn.__qualname__}': {e.msg}") from e
    outer_code = next(c for c in compiled.co_consts if isinstance(c, types.CodeType))
    inner = next(c for c in outer_code.co_consts if isinstance(c, types.CodeType) and c.co_name == _INNER)
    inner = _requalify(inner, f"{_OUTER}.<locals>.{_INNER}", fn.__qualname__)
    inner = inner.replace(co_name=code.co_name)
    from .. import _runtime

    cells = dict(zip(code.co_freevars, fn.__closure__ or ()))
    cells[RT] = types.CellType(_runtime)
    closure = tuple(cells[v] for v in inner.co_freevars) or None
    new = types.FunctionType(inner, fn.__globals__, fn.__name__, fn.__defaults__, closure)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__qualname__ = fn.__qualname__
    new.__module__ = fn.__module__
    new.__doc__ = fn.__doc__
    new.__annotations__ = fn.__annotations__
    new.__dict__.update(fn.__dict__)
    return new, generator, set(_code_objects(inner))
