"""neusdf: triangle meshes to per-object neural signed distance functions.

``neusdf.load(path)`` opens a trained checkpoint (see :mod:`neusdf.api`); it is imported on first
use so that ``import neusdf`` stays cheap (no torch) and has no side effects.
"""

from neusdf.version import __version__

__all__ = ["SDF", "__version__", "load"]


def __getattr__(name: str):
    if name in ("load", "SDF"):
        from neusdf import api

        return getattr(api, name)
    raise AttributeError(f"module 'neusdf' has no attribute {name!r}")
