"""The fast backend's forward pass without torch: per-level constants, reused scratch, the numba
encode kernel. :class:`~neusdf.encoding.module.FastGradState` adds the gradient buffers for
training; torch-free CPU inference (:mod:`neusdf.nn.numpy_field`) uses this class alone, so jobs
that only evaluate a trained field need not import torch (~1.1 s each on this CPU)."""

from __future__ import annotations

import numba
import numpy as np

from neusdf.encoding import kernels
from neusdf.encoding.config import HashGridConfig
from neusdf.threads import numba_threads


class FastEncoder:
    """Per-level constants and the forward kernel of one hash-grid configuration.

    Parameters
    ----------
    config : HashGridConfig
    threads : int or None
        numba threads of the kernels (None: numba's current setting).
    """

    def __init__(self, config: HashGridConfig, threads: int | None):
        self.n_features = config.n_features_per_level
        self.n_levels = config.n_levels
        self.threads = threads
        self.scales = np.ascontiguousarray(config.level_scales(), dtype=np.float32)
        self.resolutions = np.asarray(config.level_resolutions(), dtype=np.int64)
        self.sizes = np.asarray(config.level_sizes(), dtype=np.int64)
        self.offsets = np.asarray(config.level_offsets(), dtype=np.int64)
        self.hashed = np.asarray(config.level_is_hashed(), dtype=np.int64)
        # Reused level-major scratch (fresh multi-MB arrays would page-fault on every call).
        self._scratch: dict[str, np.ndarray] = {}

    def _level_major_scratch(self, name: str, n_points: int) -> np.ndarray:
        """(L, n_points, F) float32 scratch, grown on demand and reused between calls."""
        n_floats = self.n_levels * n_points * self.n_features
        buf = self._scratch.get(name)
        if buf is None or buf.size < n_floats:
            buf = np.empty(n_floats, dtype=np.float32)
            self._scratch[name] = buf
        # A prefix of the flat buffer keeps the view C-contiguous (one numba specialisation).
        return buf[:n_floats].reshape(self.n_levels, n_points, self.n_features)

    def thread_limit(self, threads: int | None = None):
        """Context running numba kernels on ``threads`` threads (None: this encoder's count,
        and when that is None too, the count in effect)."""
        return numba_threads(self.threads if threads is None else threads)

    def encode(
        self, x01: np.ndarray, table: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Forward kernel: (N, 3) float32 points in [0, 1]^3, C-contiguous, and the
        (n_entries, F) float32 table -> (N, L * F) float32 features (into ``out`` when given,
        a C-contiguous array of that shape)."""
        n_points = x01.shape[0]
        out_lm = self._level_major_scratch("out", n_points)
        if out is None:
            out = np.empty((n_points, self.n_levels * self.n_features), dtype=np.float32)
        with self.thread_limit():
            kernels.hashgrid_forward(
                x01, table, self.scales, self.resolutions, self.sizes, self.offsets,
                self.hashed, out_lm, out, numba.get_num_threads(),
            )  # fmt: skip
        return out
