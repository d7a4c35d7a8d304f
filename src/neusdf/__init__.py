"""neusdf: triangle meshes to per-object neural signed distance functions."""

import os

__version__ = "0.1.0"

# torch and the numba kernels each bring their own OpenMP runtime (two libgomp copies, one thread
# pool each). With libgomp's default wait policy an idle pool spins after every parallel region,
# stealing the cores the other pool is about to use: a training step alternates between them
# dozens of times. Sleeping instead cut the training loop's CPU time ~3x and its wall time ~3x
# on a loaded 2-core machine (bench/training_curve.py, README "Performance"). Must be set before
# torch or numba load libgomp, hence here; a value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
