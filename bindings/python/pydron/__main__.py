"""``python -m pydron COMMAND``: the pydron command line.

  python -m pydron secret > FILE   print a new shared secret (then chmod 600 FILE)
  python -m pydron worker --connect URL --secret-file FILE ...
                                   a worker process (python -m pydron.worker)
"""

from __future__ import annotations

import sys

USAGE = __doc__.split("\n\n", 1)[1]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m pydron COMMAND ...\n" + USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "secret":
        if rest:
            print("usage: python -m pydron secret > FILE   (then chmod 600 FILE)", file=sys.stderr)
            return 2
        from . import _core

        print(_core.secret_generate())
        return 0
    if cmd == "worker":
        from . import worker

        return worker.main(rest)
    print(f"python -m pydron: unknown command {cmd!r}\n" + USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
