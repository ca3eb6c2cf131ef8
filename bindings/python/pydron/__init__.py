"""pydron: run a sequential Python program as a parallel data-flow graph.

(Minimal package init from the pyext helper; the translator's decorators
schedule/functional come with pytrans.)
"""

__version__ = "0.1.0"
__all__ = ["configure", "PydronError", "__version__"]


def __getattr__(name):
    # Lazy: `import pydron` must not load the extension or start anything.
    if name == "configure":
        from .config import configure
        return configure
    if name == "PydronError":
        from ._core import PydronError
        return PydronError
    raise AttributeError(f"module 'pydron' has no attribute {name!r}")
