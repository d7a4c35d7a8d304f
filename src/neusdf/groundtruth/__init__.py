"""Ground truth of a triangle mesh: exact distances, closest points, inside tests, SDF."""

from neusdf.groundtruth.sdf import (
    build_tree,
    encloses_volume,
    exact_unsigned_distance,
    parity_inside,
    pysdf_unsigned_distance,
    signed_distance,
    winding_number,
)

__all__ = [
    "build_tree",
    "encloses_volume",
    "exact_unsigned_distance",
    "parity_inside",
    "pysdf_unsigned_distance",
    "signed_distance",
    "winding_number",
]
