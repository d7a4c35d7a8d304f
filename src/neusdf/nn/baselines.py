"""The alternatives to the hash grid that the reference study weighed, one class per kind.

Every class is an :class:`~neusdf.nn.layers.SDFModel`: (N, 3) float32 points in the normalized
frame [-1, 1]^3 to (N,) float32 signed distances, with the interface the training loop and the
checkpoints use. Their torch-free evaluators are in :mod:`neusdf.nn.numpy_field`.

* :class:`PlainMLP` (``kind: mlp``) — a ReLU MLP on raw coordinates, no encoding: the study's
  failing baseline.
* :class:`DeepSDFDecoder` (``kind: deepsdf``) — DeepSDF's decoder (Park et al. 2019): fully
  connected layers with weight normalization, the input re-injected at one layer, tanh output,
  trained with the clamped L1 loss. One object needs no latent code, so this is DeepSDF's
  network fitted to one shape, not its auto-decoder; dropout (a regulariser for the
  many-shape setting) is left out.
* :class:`DenseGrid` (``kind: densegrid``) — a learned R^3 lattice of SDF values read by
  trilinear interpolation, no network: the study's "grid without a neural network".
* :class:`ExactGrid` (``kind: exact_grid``) — explicit conversion: the exact ground-truth SDF on
  an N^3 lattice, trilinearly interpolated; nothing is trained.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.functional import grid_sample
from torch.nn.utils.parametrizations import weight_norm

from neusdf.nn.layers import SDFModel, adam, build_mlp, seeded


class PlainMLP(SDFModel):
    """ReLU MLP ``3 → n_neurons × n_hidden_layers → 1`` with biases, on raw coordinates.

    Parameters
    ----------
    model_config : dict
        ``network``: ``n_neurons``, ``n_hidden_layers``.
    seed : int
        Fixes the initialisation (torch's default uniform fan-in init).
    device : str
    """

    kind = "mlp"

    def __init__(self, model_config: dict, seed: int, device: str = "cpu"):
        super().__init__(model_config)
        net = model_config["network"]
        self.network = build_mlp(
            3, int(net["n_neurons"]), int(net["n_hidden_layers"]), seed, bias=True
        ).to(device)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) float32 points in [-1, 1]^3 → (N,) float32 signed distances."""
        return self.network(points.float()).squeeze(-1)


class DeepSDFDecoder(SDFModel):
    """DeepSDF's decoder without a latent code: ``n_layers`` weight-normalized linear layers.

    Layer ``skip_layer`` (0-based) takes the previous layer's output concatenated with the input
    point; to keep the width, the layer before it outputs ``n_neurons - 3`` features (as in the
    paper, where the latent code and the point are re-injected). ReLU after every hidden layer;
    ``tanh`` on the output (the paper's choice, harmless with the clamped loss |SDF| ≤ delta).

    Parameters
    ----------
    model_config : dict
        ``network``: ``n_neurons`` (the paper: 512), ``n_layers`` (8, counting the output
        layer), ``skip_layer`` (4), ``output_tanh`` (true).
    seed : int
    device : str
    """

    kind = "deepsdf"

    def __init__(self, model_config: dict, seed: int, device: str = "cpu"):
        super().__init__(model_config)
        net = model_config["network"]
        width = int(net["n_neurons"])
        n_layers = int(net["n_layers"])
        self.skip_layer = int(net["skip_layer"])
        self.output_tanh = bool(net["output_tanh"])
        if not 1 <= self.skip_layer < n_layers:
            raise ValueError(f"skip_layer must be in [1, n_layers), got {self.skip_layer}")
        with seeded(seed):
            layers = []
            for index in range(n_layers):
                n_in = 3 if index == 0 else width
                n_out = 1 if index == n_layers - 1 else width
                if index + 1 == self.skip_layer:
                    n_out = width - 3  # the point is concatenated back on to make `width`
                layers.append(weight_norm(nn.Linear(n_in, n_out)))
            self.layers = nn.ModuleList(layers).to(device)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) float32 points in [-1, 1]^3 → (N,) float32 signed distances."""
        x = points.float()
        h = x
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            if index == self.skip_layer:
                h = torch.cat([h, x], dim=1)
            h = layer(h)
            if index < last:
                h = torch.relu(h)
        if self.output_tanh:
            h = torch.tanh(h)
        return h.squeeze(-1)


def lattice_points(resolution: int) -> np.ndarray:
    """The (R^3, 3) float32 nodes of an R^3 lattice over [-1, 1]^3, in the memory order of a
    (D, H, W) = (z, y, x) grid as :func:`trilinear` reads it (x varies fastest)."""
    axis = np.linspace(-1.0, 1.0, int(resolution), dtype=np.float64)
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1).astype(np.float32)


def trilinear(values: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Trilinear interpolation of a lattice over [-1, 1]^3.

    Parameters
    ----------
    values : (R, R, R) float32
        Node values indexed ``[z, y, x]``; node ``i`` of an axis sits at ``-1 + 2 i / (R - 1)``.
    points : (N, 3) float32
        Query points (x, y, z); outside [-1, 1]^3 the border value is used.

    Returns
    -------
    (N,) float32, differentiable with respect to ``values``.
    """
    grid = points.float().reshape(1, -1, 1, 1, 3)
    out = grid_sample(
        values.reshape(1, 1, *values.shape), grid, mode="bilinear", padding_mode="border",
        align_corners=True,
    )  # fmt: skip
    return out.reshape(-1)


class DenseGrid(SDFModel):
    """A learned R^3 lattice of SDF values, trilinearly interpolated: no network.

    Initialised to zero; trained with the hash grid's loss and Adam at ``lr_encoding`` (the
    lattice plays the hash table's role). Nodes that no training point reaches keep their value.

    Parameters
    ----------
    model_config : dict
        ``grid``: ``resolution`` (nodes per axis).
    seed : int
        Unused (the initialisation is deterministic); kept for the common signature.
    device : str
    """

    kind = "densegrid"

    def __init__(self, model_config: dict, seed: int = 0, device: str = "cpu"):
        super().__init__(model_config)
        r = int(model_config["grid"]["resolution"])
        self.values = nn.Parameter(
            torch.zeros(r, r, r, dtype=torch.float32, device=device), requires_grad=self.trainable
        )

    @property
    def resolution(self) -> int:
        return int(self.values.shape[0])

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """(N, 3) float32 points in [-1, 1]^3 → (N,) float32 signed distances."""
        return trilinear(self.values, points)

    def make_optimizers(self, training_config: dict) -> list[tuple[object, float]]:
        """One Adam over the lattice at ``lr_encoding``; returns ``[(optimizer, base_lr)]``."""
        lr = float(training_config["lr_encoding"])
        return [(adam([self.values], lr, training_config), lr)]

    def n_table_parameters(self) -> int:
        """All values are the table: R^3."""
        return self.values.numel()


class ExactGrid(DenseGrid):
    """Explicit conversion: exact SDF values on an N^3 lattice, trilinearly interpolated.

    Built empty (zeros); :meth:`fill` stores the ground truth. Nothing is trained, so
    ``make_optimizers`` returns no optimizer.
    """

    kind = "exact_grid"
    trainable = False
    needs_ground_truth = True

    @torch.no_grad()
    def fill(self, sdf_fn) -> None:
        """Evaluate ``sdf_fn((M, 3) float32 points) -> (M,)`` on the lattice nodes and store it."""
        points = lattice_points(self.resolution)
        values = np.asarray(sdf_fn(points), dtype=np.float32)
        self.values.copy_(torch.from_numpy(values).reshape(self.values.shape))

    def make_optimizers(self, training_config: dict) -> list[tuple[object, float]]:
        """Nothing to optimise: ``[]``."""
        return []
