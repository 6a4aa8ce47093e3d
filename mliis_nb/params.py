"""The old path of `mliis_nb.checks` (the checks of experiment parameters), for one release: the same objects, and a DeprecationWarning."""

# Hand-written, like __init__.py: nbdev exports mliis_nb.checks from its notebook; this shim goes in the next release.
import warnings as _warnings

from .checks import *  # noqa: F403
from .checks import __all__  # noqa: F401

_warnings.warn(
    "mliis_nb.params is now mliis_nb.checks; the old path goes in the next release",
    DeprecationWarning,
    stacklevel=2,
)
