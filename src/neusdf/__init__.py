"""neusdf: triangle meshes to per-object neural signed distance functions."""

__version__ = "0.1.0"
