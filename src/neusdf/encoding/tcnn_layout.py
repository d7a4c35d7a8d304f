"""tiny-cuda-nn parameter layouts: the hash table and FullyFusedMLP weights as flat vectors.

Checkpoints store the encoding as one flat float32 vector in tcnn order (which is also the order
of every backend here) and the MLP in tcnn's FullyFusedMLP order, so a model trained on the CPU
loads into tinycudann and back.

FullyFusedMLP layout (checked against tiny-cuda-nn's ``src/fully_fused_mlp.cu`` and
``network_with_input_encoding.h``):

* no biases; weight matrices stored one after the other: input layer, hidden layers, output layer;
* each matrix is row-major with shape (out, in) — the same memory order as ``nn.Linear.weight``;
* the input width is padded to a multiple of 16 (the encoding's output alignment for
  FullyFusedMLP); the padded input columns are stored and multiply zero inputs;
* the output layer has ``next_multiple(n_output, 16)`` rows; rows past ``n_output`` are padding.

For input 32, 64 neurons, 2 hidden layers, output 1: 64*32 + 64*64 + 16*64 = 7,168 parameters.
"""

from __future__ import annotations

import torch

TENSORCORE_WIDTH = 16


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def mlp_layer_shapes(
    n_input: int, n_neurons: int, n_hidden_layers: int, n_output: int
) -> list[tuple[int, int]]:
    """Padded (rows, cols) of each FullyFusedMLP weight matrix, in storage order."""
    if n_hidden_layers < 1:
        raise ValueError("FullyFusedMLP needs at least one hidden layer")
    shapes = [(n_neurons, _round_up(n_input, TENSORCORE_WIDTH))]
    shapes += [(n_neurons, n_neurons)] * (n_hidden_layers - 1)
    shapes.append((_round_up(n_output, TENSORCORE_WIDTH), n_neurons))
    return shapes


def mlp_n_params(n_input: int, n_neurons: int, n_hidden_layers: int, n_output: int) -> int:
    """Number of parameters of a tcnn FullyFusedMLP (7,168 for 32 -> 64 x 2 -> 1)."""
    return sum(r * c for r, c in mlp_layer_shapes(n_input, n_neurons, n_hidden_layers, n_output))


def mlp_weights_to_tcnn(weights: list[torch.Tensor]) -> torch.Tensor:
    """Flatten bias-free ``nn.Linear`` weights into tcnn's FullyFusedMLP parameter vector.

    Parameters
    ----------
    weights : list of tensors
        ``weights[i]`` has ``nn.Linear`` shape (out, in): first (n_neurons, n_input), then
        ``n_hidden_layers - 1`` of (n_neurons, n_neurons), last (n_output, n_neurons).

    Returns
    -------
    (n_params,) float32 tensor, zero in the padding.
    """
    if len(weights) < 2:
        raise ValueError("need at least an input and an output layer")
    n_neurons, n_input = weights[0].shape
    n_output = weights[-1].shape[0]
    shapes = mlp_layer_shapes(n_input, n_neurons, len(weights) - 1, n_output)
    pieces = []
    for w, (rows, cols) in zip(weights, shapes, strict=True):
        if w.shape[0] > rows or w.shape[1] > cols:
            raise ValueError(f"weight of shape {tuple(w.shape)} does not fit ({rows}, {cols})")
        padded = torch.zeros(rows, cols, dtype=torch.float32, device=w.device)
        padded[: w.shape[0], : w.shape[1]] = w.detach().to(torch.float32)
        pieces.append(padded.reshape(-1))
    return torch.cat(pieces)


def tcnn_to_mlp_weights(
    flat: torch.Tensor, n_input: int, n_neurons: int, n_hidden_layers: int, n_output: int
) -> list[torch.Tensor]:
    """Inverse of :func:`mlp_weights_to_tcnn`: unpad into ``nn.Linear``-shaped (out, in) weights."""
    shapes = mlp_layer_shapes(n_input, n_neurons, n_hidden_layers, n_output)
    expected = sum(r * c for r, c in shapes)
    if flat.numel() != expected:
        raise ValueError(f"expected {expected} FullyFusedMLP params, got {flat.numel()}")
    flat = flat.detach().reshape(-1).to(torch.float32)
    true_shapes = [(n_neurons, n_input)] + [(n_neurons, n_neurons)] * (n_hidden_layers - 1)
    true_shapes.append((n_output, n_neurons))
    weights, start = [], 0
    for (rows, cols), (out_dim, in_dim) in zip(shapes, true_shapes, strict=True):
        matrix = flat[start : start + rows * cols].reshape(rows, cols)
        weights.append(matrix[:out_dim, :in_dim].clone())
        start += rows * cols
    return weights
