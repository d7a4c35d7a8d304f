"""Hash-grid configuration and the per-level layout shared by every backend.

All layout arithmetic follows tiny-cuda-nn's ``GridEncodingTemplated`` (HashGrid type, 3-D input)
so that a flat parameter vector means the same thing on every backend:

* level ``l`` has scale ``exp2(l * log2(per_level_scale)) * base_resolution - 1`` computed in
  float32 (tcnn stores ``per_level_scale`` as a float and uses ``exp2f``/``log2f``);
* its resolution is ``ceil(scale) + 1`` vertices per axis;
* it owns ``min(next_multiple_of_8(res**3), 2**log2_hashmap_size)`` table entries of
  ``n_features_per_level`` floats each; levels are concatenated in order, features innermost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_POS_DIMS = 3
# tcnn's coherent prime hash, one prime per axis; x uses 1 to keep x-neighbours adjacent in memory.
HASH_PRIMES = (1, 2654435761, 805459861)
# tcnn pads every level's entry count to a multiple of 8 for aligned memory access.
LEVEL_ALIGNMENT = 8
INIT_RANGE = 1e-4


@dataclass(frozen=True)
class HashGridConfig:
    """Multiresolution hash-grid encoding of 3-D points in [0, 1]^3 (tcnn ``HashGrid``).

    Parameters
    ----------
    n_levels : int
        Number of resolution levels ``L``.
    n_features_per_level : int
        Features per level ``F``; tcnn supports 1, 2, 4 and 8.
    log2_hashmap_size : int
        log2 of the maximum number of table entries per level ``T``.
    base_resolution : int
        Coarsest level's scale + 1, in vertices per axis.
    per_level_scale : float
        Ratio between consecutive levels' scales (stored by tcnn as float32).
    """

    n_levels: int = 16
    n_features_per_level: int = 2
    log2_hashmap_size: int = 19
    base_resolution: int = 16
    per_level_scale: float = 2.0

    def __post_init__(self) -> None:
        if self.n_levels < 1:
            raise ValueError(f"n_levels must be >= 1, got {self.n_levels}")
        if self.n_features_per_level not in (1, 2, 4, 8):
            raise ValueError(
                f"n_features_per_level must be 1, 2, 4 or 8 (as in tcnn), got "
                f"{self.n_features_per_level}"
            )
        if not 1 <= self.log2_hashmap_size <= 30:
            raise ValueError(f"log2_hashmap_size must be in [1, 30], got {self.log2_hashmap_size}")
        if self.base_resolution < 1:
            raise ValueError(f"base_resolution must be >= 1, got {self.base_resolution}")
        if not self.per_level_scale >= 1.0:
            raise ValueError(f"per_level_scale must be >= 1, got {self.per_level_scale}")
        if max(self.level_resolutions()) > 65535:
            # Beyond this res**2 overflows uint32 in tcnn's dense-index loop.
            raise ValueError("finest level resolution must be <= 65535")

    @classmethod
    def from_finest_resolution(
        cls,
        n_levels: int = 16,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        finest_resolution: int = 2048,
    ) -> HashGridConfig:
        """Config whose levels grow geometrically from ``base_resolution`` to ``finest_resolution``.

        ``per_level_scale = exp2(log2(finest / base) / (n_levels - 1))`` (1.0 for one level), as in
        the Instant-NGP paper and torch-ngp.
        """
        if n_levels > 1:
            per_level_scale = math.exp2(
                math.log2(finest_resolution / base_resolution) / (n_levels - 1)
            )
        else:
            per_level_scale = 1.0
        return cls(
            n_levels=n_levels,
            n_features_per_level=n_features_per_level,
            log2_hashmap_size=log2_hashmap_size,
            base_resolution=base_resolution,
            per_level_scale=per_level_scale,
        )

    @property
    def output_dim(self) -> int:
        """Width of the encoding, ``L * F``."""
        return self.n_levels * self.n_features_per_level

    @property
    def n_params(self) -> int:
        """Total number of float parameters (all levels' entries times ``F``)."""
        return self.n_entries * self.n_features_per_level

    def level_scales(self) -> np.ndarray:
        """Per-level float32 scale, shape (L,), exactly as tcnn computes it (float32 math)."""
        log2_scale = np.log2(np.float32(self.per_level_scale))
        levels = np.arange(self.n_levels, dtype=np.float32)
        return (np.exp2(levels * log2_scale) * np.float32(self.base_resolution)) - np.float32(1.0)

    def level_resolutions(self) -> list[int]:
        """Vertices per axis of each level, ``ceil(scale) + 1``."""
        return [math.ceil(float(s)) + 1 for s in self.level_scales()]

    def level_sizes(self) -> list[int]:
        """Table entries of each level (not floats: multiply by ``F`` for parameters)."""
        cap = 1 << self.log2_hashmap_size
        sizes = []
        for res in self.level_resolutions():
            dense = res**N_POS_DIMS
            dense = -(-dense // LEVEL_ALIGNMENT) * LEVEL_ALIGNMENT
            sizes.append(min(dense, cap))
        return sizes

    @property
    def n_entries(self) -> int:
        """Table entries over all levels (``n_params / F``)."""
        return int(sum(self.level_sizes()))

    def level_offsets(self) -> list[int]:
        """First entry of each level in the concatenated table (multiply by ``F`` for floats)."""
        offsets = [0]
        for size in self.level_sizes()[:-1]:
            offsets.append(offsets[-1] + size)
        return offsets

    def level_is_hashed(self) -> list[bool]:
        """Whether a level uses the hash (its dense grid does not fit in its table)."""
        return [
            res**N_POS_DIMS > size
            for res, size in zip(self.level_resolutions(), self.level_sizes(), strict=True)
        ]

    def to_tcnn_dict(self) -> dict:
        """tcnn ``encoding_config`` for ``tcnn.Encoding(3, config)``."""
        return {
            "otype": "HashGrid",
            "n_levels": int(self.n_levels),
            "n_features_per_level": int(self.n_features_per_level),
            "log2_hashmap_size": int(self.log2_hashmap_size),
            "base_resolution": int(self.base_resolution),
            "per_level_scale": float(self.per_level_scale),
            "interpolation": "Linear",
        }


def encoding_config(model_config: dict) -> HashGridConfig:
    """The hash-grid config of a named model configuration (``model_config["encoding"]``)."""
    enc = model_config["encoding"]
    return HashGridConfig.from_finest_resolution(
        n_levels=int(enc["n_levels"]),
        n_features_per_level=int(enc["n_features_per_level"]),
        log2_hashmap_size=int(enc["log2_hashmap_size"]),
        base_resolution=int(enc["base_resolution"]),
        finest_resolution=float(enc["finest_resolution"]),
    )
