"""``python -m pydron``: see pydron._cli (one module per subcommand)."""

import sys

from pydron._cli import main

if __name__ == "__main__":
    sys.exit(main())
