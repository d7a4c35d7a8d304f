"""Building blocks shared by every model kind: the base class, seeded initialisation, the MLP,
the optimizer for dense weights."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from neusdf.encoding.optim import Adam


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Context in which torch's global generator is seeded with ``seed`` and restored after, so
    building a model never disturbs the caller's random stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def build_mlp(
    n_input: int, n_neurons: int, n_hidden_layers: int, seed: int, bias: bool = False
) -> nn.Sequential:
    """ReLU MLP ``n_input → n_neurons × n_hidden_layers → 1``, no output activation.

    Bias-free by default (tiny-cuda-nn's FullyFusedMLP layout, behind the hash grid); the plain
    coordinate MLP baseline uses biases. ``seed`` fixes torch's default fan-in initialisation.
    """
    with seeded(seed):
        layers: list[nn.Module] = []
        width = n_input
        for _ in range(n_hidden_layers):
            layers += [nn.Linear(width, n_neurons, bias=bias), nn.ReLU()]
            width = n_neurons
        layers.append(nn.Linear(width, 1, bias=bias))
        return nn.Sequential(*layers)


def adam(parameters, lr: float, training_config: dict) -> Adam:
    """:class:`~neusdf.encoding.optim.Adam` over ``parameters`` at ``lr`` with the config's
    ``betas`` and ``eps``."""
    betas = tuple(float(b) for b in training_config["betas"])
    return Adam(parameters, lr=lr, betas=betas, eps=float(training_config["eps"]))


# Backend name recorded in checkpoints of the kinds that are plain torch modules.
TORCH_BACKEND = "torch"


class SDFModel(nn.Module):
    """Base of every model kind: (N, 3) float32 points of the normalized cube -> (N,) float32
    signed distances, with what the training loop and the checkpoints need.

    Attributes
    ----------
    kind : str
        The model family (``model_config["kind"]``).
    model_config : dict
        The named configuration it was built from.
    backend : str
        What computes it (a hash grid's encoding backend, else ``"torch"``).
    trainable : bool
        False for models filled, not fitted (the exact lattice).
    """

    kind = ""
    backend = TORCH_BACKEND
    trainable = True
    # Whether the model holds exact distances to fill before training (:meth:`fill`).
    needs_ground_truth = False

    def __init__(self, model_config: dict):
        super().__init__()
        self.model_config = model_config

    def make_optimizers(self, training_config: dict) -> list[tuple[Adam, float]]:
        """``[(optimizer, base_lr), ...]``: by default one Adam over every weight at
        ``lr_network``."""
        lr = float(training_config["lr_network"])
        return [(adam(self.parameters(), lr, training_config), lr)]

    def n_table_parameters(self) -> int:
        """Scalars in a feature table or lattice (the rest are network weights): 0 by default."""
        return 0

    def fill(self, sdf_fn) -> None:
        """Store the exact SDF (``sdf_fn((M, 3) float32 points) -> (M,)``) where the model holds
        exact distances; only models with :attr:`needs_ground_truth` have such a part."""
        raise TypeError(f"a {self.kind!r} model holds no exact distances")
