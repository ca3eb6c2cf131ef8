import pytest

from pydron._translate import TranslationError
from pydron._translate.validate import validate
from _passes import fdef


@pytest.mark.parametrize("body, what", [
    ("async def g():\n        pass", "'async def'"),
    ("x = [i async for i in y]", "async comprehension"),
])
def test_rejects_async_constructs_with_line(body, what):
    src = f"def f(y):\n    x = 1\n    {body}\n"
    with pytest.raises(TranslationError) as e:
        validate(fdef(src), "prog.py", "f")
    assert what in str(e.value)
    assert "prog.py:3" in str(e.value)
    assert "'f'" in str(e.value)


def test_accepts_everything_else():
    validate(fdef("""
        def f(a, *b, c=1, **d):
            global g
            x = [i for i in a if i]
            with open(a) as fh:
                yield from fh
            match x:
                case [1, *rest]:
                    pass
            try:
                pass
            except* ValueError:
                pass
    """), "p.py", "f")


def test_schedule_async_def_fails_at_decoration():
    from pydron import schedule

    async def coro():
        return 1

    with pytest.raises(TranslationError, match="async def"):
        schedule(coro)


def test_await_inside_nested_async_named():
    from pydron import schedule

    def outer():
        async def inner():
            await something()  # noqa: F821
        return inner

    with pytest.raises(TranslationError, match=r"test_translate_validate.py:\d+: .*'async def'"):
        schedule(outer)


def test_source_unavailable_is_clear():
    from pydron import schedule

    ns = {}
    exec("def made():\n    return 1\n", ns)
    with pytest.raises(TranslationError, match="source code of 'made'.*PYDRON_DISABLE=1"):
        schedule(ns["made"])


def test_lambda_is_not_a_def():
    from pydron import schedule

    f = lambda x: x  # noqa: E731
    with pytest.raises(TranslationError, match="'def'"):
        schedule(f)
