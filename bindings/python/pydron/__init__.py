"""pydron: run a sequential Python program as a parallel data-flow graph.

(Minimal package init from the pyext helper; the translator's decorators
schedule/functional are added by pytrans.)
"""

from ._core import PydronError
from .config import configure

__version__ = "0.1.0"

__all__ = ["PydronError", "configure", "__version__"]
