"""``python -m pydron worker``: the Python worker, same as ``python -m pydron.worker``
(and the same options as the C executable ``pydron-worker``)."""

from __future__ import annotations


def main_argv(argv: list[str]) -> int:
    from .. import worker

    return worker.main(argv)
