"""numba kernel of the MLPs of every model kind, for evaluation without torch.

Each output value is accumulated over its inputs in ascending order, one row at a time, with
float32 multiplies and adds (no fused multiply-add): a point's result is the same bits whatever
batch it comes in and whatever the thread count. A BLAS product is not: its tiling, and so its
rounding, depends on where a row sits in the matrix, which would make the dense and narrow-band
extractions (different batches of the same grid nodes) differ in the last bit. Rows are independent,
so the kernel is parallel over blocks of rows; the inner loop over a layer's outputs vectorises.
Its reference is the torch model of each kind (tested to float32 rounding).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Rows per parallel task.
ROW_BLOCK = 64


@njit(parallel=True, fastmath=False, error_model="numpy", cache=True, nogil=True)
def mlp_forward(x, weights, biases, skip_layer, output_tanh, out):
    """Evaluate an MLP on rows of inputs.

    Parameters
    ----------
    x : (N, D) float32
        Inputs (point coordinates or encoded features).
    weights : tuple of (n_in, n_out) float32, C-contiguous
        Layer weights, transposed from ``nn.Linear``'s (out, in); the last layer has one output.
    biases : tuple of (n_out,) or (0,) float32
        Layer biases; an empty array means none.
    skip_layer : int
        Index of the layer whose input is the previous layer's output followed by the first 3
        input columns (DeepSDF's re-injected point); -1 for none.
    output_tanh : bool
        tanh on the output.
    out : (N,) float32
        Written.

    Notes
    -----
    A block of ``ROW_BLOCK`` rows is one task; within it, each weight row ``w[k]`` is loaded once
    and added into every row's accumulators (the loop over outputs vectorises). Each output
    still sums its inputs in ascending ``k`` from its bias, so a row's bits do not depend on the
    other rows of its block.
    """
    n = x.shape[0]
    n_layers = len(weights)
    width = x.shape[1] + 3
    for w in weights:
        width = max(width, w.shape[1] + 3)
    for block in prange((n + ROW_BLOCK - 1) // ROW_BLOCK):
        first = block * ROW_BLOCK
        rows = min(ROW_BLOCK, n - first)
        current = np.empty((ROW_BLOCK, width), dtype=np.float32)
        following = np.empty((ROW_BLOCK, width), dtype=np.float32)
        n_current = x.shape[1]
        for r in range(rows):
            for k in range(n_current):
                current[r, k] = x[first + r, k]
        for layer in range(n_layers):
            w = weights[layer]
            b = biases[layer]
            if layer == skip_layer:
                for r in range(rows):
                    for k in range(3):
                        current[r, n_current + k] = x[first + r, k]
                n_current += 3
            n_out = w.shape[1]
            for r in range(rows):
                for j in range(n_out):
                    following[r, j] = b[j] if b.shape[0] else np.float32(0.0)
            for k in range(n_current):
                w_k = w[k]
                for r in range(rows):
                    value = current[r, k]
                    for j in range(n_out):
                        following[r, j] += value * w_k[j]
            relu = layer < n_layers - 1
            for r in range(rows):
                for j in range(n_out):
                    current[r, j] = (
                        max(following[r, j], np.float32(0.0)) if relu else following[r, j]
                    )
            n_current = n_out
        for r in range(rows):
            out[first + r] = np.tanh(current[r, 0]) if output_tanh else current[r, 0]
