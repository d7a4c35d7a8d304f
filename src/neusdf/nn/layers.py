"""Building blocks shared by every model kind: seeded initialisation, the MLP, Adam."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


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


def adam(parameters, lr: float, training_config: dict) -> torch.optim.Adam:
    """torch Adam over ``parameters`` at ``lr`` with the config's ``betas`` and ``eps``."""
    betas = tuple(float(b) for b in training_config["betas"])
    return torch.optim.Adam(parameters, lr=lr, betas=betas, eps=float(training_config["eps"]))
