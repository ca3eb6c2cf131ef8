from pydron._translate.barriers import insert_barriers
from _passes import apply


def b(src):
    return apply(insert_barriers, src)


def test_barrier_before_try_and_with():
    out = b("def f():\n    x = g()\n    try:\n        h()\n    except E:\n        pass\n    with m():\n        pass\n")
    assert "x = g()\n    __pydron__.barrier()\n    try:" in out
    assert "__pydron__.barrier()\n    with m():" in out


def test_sync_before_import_and_class():
    out = b("def f():\n    import os\n    from a import b\n    class C:\n        pass\n")
    assert "__pydron__.sync()\n    import os" in out
    assert "__pydron__.sync()\n    from a import b" in out
    assert "__pydron__.sync()\n\n    class C:" in out


def test_global_and_nonlocal_stores_resolved_local_not():
    """A global store alone is undone if an earlier task fails (gstore); a
    nonlocal one waits for the tasks first (ostore: a barrier)."""
    out = b("def f():\n    global G\n    G = t()\n    x = t()\n    def g():\n        nonlocal x\n        x = t()\n")
    assert "G = __pydron__.gstore(globals(), 'G', t())" in out
    assert "    x = t()" in out
    assert "        x = __pydron__.ostore(t())" in out


def test_unpacking_into_declared_name_resolved_after_the_tasks():
    out = b("def f():\n    global a\n    a, b = v\n")
    assert "a, b = __pydron__.ostore(v)" in out


def test_class_body_item_store_left_alone():
    out = b("def f():\n    class C:\n        x[0] = 1\n")
    assert "x[0] = 1" in out
