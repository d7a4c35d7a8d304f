"""A trained hash-grid SDF evaluated on the CPU without torch: the fast backend's numba encoder
and the bias-free ReLU MLP as numpy matrix products.

The extract, evaluate and plot jobs only evaluate a trained field; on a CPU they use this path,
which spares each of them torch's import (~1.1 s of a 3–4 s job on this 2-core CPU). Its
reference is the torch model (:class:`neusdf.nn.models.SDFNetwork`, any backend): the two agree
to float32 rounding (tested).
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from neusdf.encoding.config import encoding_config
from neusdf.encoding.fast import FastEncoder
from neusdf.encoding.memory import large_zeros_array

__all__ = ["HashGridField"]

# Rows per MLP block: 16384 x 64 float32 activations (4 MiB) stay in cache (1.4x faster than
# 65536-row blocks on this CPU).
MLP_ROWS = 16384


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


class HashGridField:
    """``(N, 3) points -> (N,) signed distances`` of a hash-grid checkpoint's weights.

    Parameters
    ----------
    model_config : dict
        The checkpoint's ``model_config`` (``kind`` hashgrid).
    state_dict : dict of numpy arrays
        The checkpoint's weights (:func:`neusdf.nn.weights.read_checkpoint_arrays`): the flat
        table ``encoding.params`` (float32 or float16, tcnn order; a writable float32 table is
        used in place, not copied) and the MLP's ``network.<i>.weight`` matrices (out, in).
    threads : int or None
        Threads of the encoder (numba) and of the MLP (that many Python workers, each running
        one-thread BLAS products on whole row blocks, see :meth:`_mlp`); None: numba's setting
        for the encoder, the CPU count for the MLP.

    Notes
    -----
    Calls reuse scratch buffers: one field serves one thread at a time. Results do not depend
    on ``threads``: every row block is one fixed-shape product, whichever worker runs it.
    """

    def __init__(self, model_config: dict, state_dict: dict, threads: int | None = None):
        config = encoding_config(model_config)
        self.encoder = FastEncoder(config, threads)
        table = stored = np.asarray(state_dict["encoding.params"]).ravel()
        if stored.dtype != np.float32 or not stored.flags.writeable:
            # Huge pages, as in training: random lookups into a 49 MB table miss the TLB
            # otherwise (read_checkpoint_arrays already puts a float32 table there).
            table = large_zeros_array(stored.size)
            table[:] = stored
        self.table = table.reshape(-1, config.n_features_per_level)
        layers = sorted(
            (int(key.split(".")[1]), value)
            for key, value in state_dict.items()
            if key.startswith("network.") and key.endswith(".weight")
        )
        # Stored (out, in) as nn.Linear; kept transposed, C-contiguous, for points @ weight.
        self.weights = [np.ascontiguousarray(np.asarray(w, np.float32).T) for _, w in layers]
        self.n_parameters = int(table.size + sum(w.size for w in self.weights))
        self.n_table_parameters = int(table.size)
        self.mlp_workers = max(1, threads if threads is not None else os.cpu_count() or 1)
        self._buffers: list[list[np.ndarray]] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._features = np.empty((0, config.output_dim), dtype=np.float32)

    def _mlp(self, features: np.ndarray, out: np.ndarray) -> None:
        """The MLP on (M, L * F) features into (M,) ``out``, in row blocks of ``MLP_ROWS`` that
        keep the activations in cache, dealt round-robin to the workers. numpy releases the GIL
        in its products, so the workers share the cores that the encoder used a moment before
        (on one BLAS thread the MLP took ~40 % of an evaluation on this 2-core CPU)."""
        starts = range(0, len(features), MLP_ROWS)
        workers = min(self.mlp_workers, len(starts))
        if self._buffers is None:
            widths = [w.shape[1] for w in self.weights]
            self._buffers = [
                [np.empty((MLP_ROWS, width), dtype=np.float32) for width in widths]
                for _ in range(self.mlp_workers)
            ]
        if workers == 1:
            self._mlp_blocks(features, out, starts, 0)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.mlp_workers, thread_name_prefix="neusdf-mlp")
        jobs = [
            self._pool.submit(self._mlp_blocks, features, out, starts[w::workers], w)
            for w in range(workers)
        ]
        for job in jobs:
            job.result()

    def _mlp_blocks(self, features, out, starts, worker: int) -> None:
        """Row blocks beginning at ``starts`` through ``worker``'s buffers (reused: fresh
        multi-MB results cost page faults, ~1.3x the time)."""
        buffers = self._buffers[worker]
        for start in starts:
            rows = min(MLP_ROWS, len(features) - start)
            hidden = features[start : start + rows]
            for weight, buffer in zip(self.weights, buffers, strict=True):
                result = buffer[:rows]
                np.matmul(hidden, weight, out=result)
                if buffer is not buffers[-1]:
                    np.maximum(result, 0.0, out=result)
                hidden = result
            out[start : start + rows] = hidden[:, 0]

    def __call__(self, points: np.ndarray, batch_size: int = 2**16) -> np.ndarray:
        """Signed distances (N,) float32 of (N, 3) points in the normalized frame [-1, 1]^3."""
        points = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        out = np.empty(len(points), dtype=np.float32)
        # One BLAS thread per product: OpenBLAS's own idle threads spin after each product and
        # take the cores from the numba encoder that runs next (1.5 -> 2.1 M points/s on this
        # 2-core CPU); the MLP's parallelism comes from its workers instead.
        with _blas_controller().limit(limits=1, user_api="blas"):
            self._evaluate(points, out, batch_size)
        return out

    def _evaluate(self, points: np.ndarray, out: np.ndarray, batch_size: int) -> None:
        for start in range(0, len(points), batch_size):
            unit = np.ascontiguousarray((points[start : start + batch_size] + 1.0) * 0.5)
            if len(self._features) < len(unit):
                self._features = np.empty((len(unit), self._features.shape[1]), np.float32)
            features = self.encoder.encode(unit, self.table, out=self._features[: len(unit)])
            self._mlp(features, out[start : start + batch_size])
