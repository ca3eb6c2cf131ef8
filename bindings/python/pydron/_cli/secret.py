"""``python -m pydron secret``: print a new shared secret (64 hex characters,
256 random bits) for a remote driver and its workers, made by the library
(pydron_secret_generate, as the C tool ``pydron-secret``)."""

from __future__ import annotations

DESCRIPTION = """\
Print a new random shared secret. Keep it in a file only you can read:
  umask 077; python -m pydron secret > ~/.pydron/secret
then give the driver configure(secret_file=...) or PYDRON_SECRET_FILE, and
the workers --secret-file. Whoever holds it can run code on the driver and
on every worker (docs/wire.md, "Trust model")."""


def add_arguments(parser) -> None:
    pass


def main(args) -> int:
    from .. import _core

    print(_core.secret_generate())
    return 0
