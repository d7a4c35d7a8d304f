"""Ground truth of a triangle mesh: closest points, winding numbers, inside tests, exact SDF."""

from neusdf.groundtruth.closest import (
    ClosestPoints,
    TriangleTree,
    build_tree,
    closest_point,
    closest_point_naive,
)
from neusdf.groundtruth.sdf import (
    GroundTruth,
    parity_inside,
    pysdf_unsigned_distance,
    resolve_sign_method,
    signed_distance,
)
from neusdf.groundtruth.winding import (
    closed_oriented_volume,
    encloses_volume,
    is_closed,
    is_closed_oriented,
    ray_crossings,
    require_volume,
    winding_number,
)

__all__ = [
    "ClosestPoints",
    "GroundTruth",
    "TriangleTree",
    "build_tree",
    "closed_oriented_volume",
    "closest_point",
    "closest_point_naive",
    "encloses_volume",
    "is_closed",
    "is_closed_oriented",
    "parity_inside",
    "pysdf_unsigned_distance",
    "ray_crossings",
    "require_volume",
    "resolve_sign_method",
    "signed_distance",
    "winding_number",
]
