"""The old path of `mliis_nb.distances` (weight distances; `weights=` elsewhere means an encoder's weights), for one release: the same objects, and a DeprecationWarning."""

# Hand-written, like __init__.py: nbdev exports mliis_nb.distances from its notebook; this shim goes in the next release.
import warnings as _warnings

from .distances import *  # noqa: F403
from .distances import __all__  # noqa: F401

_warnings.warn(
    "mliis_nb.weights is now mliis_nb.distances; the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)
