"""neusdf: triangle meshes to per-object neural signed distance functions.

``neusdf.load(path)`` opens a trained checkpoint (see :mod:`neusdf.api`); it is imported on first
use so that ``import neusdf`` stays cheap (no torch).
"""

import os

__version__ = "0.1.0"

# torch and the numba kernels each bring their own OpenMP runtime (two libgomp copies, one thread
# pool each). With libgomp's default wait policy an idle pool spins after every parallel region,
# stealing the cores the other pool is about to use: a training step alternates between them
# dozens of times. Sleeping instead cut the training loop's CPU time ~3x and its wall time ~3x
# on a loaded 2-core machine (bench/training_curve.py, README "Performance"). Must be set before
# torch or numba load libgomp, hence here; a value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["SDF", "__version__", "load"]


def __getattr__(name: str):
    if name in ("load", "SDF"):
        from neusdf import api

        return getattr(api, name)
    raise AttributeError(f"module 'neusdf' has no attribute {name!r}")
