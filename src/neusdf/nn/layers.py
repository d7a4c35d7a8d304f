"""Building blocks shared by every model kind: seeded initialisation, the MLP, Adam."""

from __future__ import annotations

import contextlib
import math
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


class Adam:
    """Adam over a few dense tensors: ``torch.optim.Adam``'s update (no weight decay, no
    amsgrad; tested against it), written out because the first ``torch.optim`` optimizer a
    process builds imports ``torch._dynamo``, about 1.8 s of every training job on this CPU.

    Parameters
    ----------
    parameters : iterable of torch.Tensor
        Leaf tensors with ``requires_grad``; their ``.grad`` is read by :meth:`step`.
    lr : float
        Step size (the training loop's schedule sets :attr:`lr` before each step).
    betas : (float, float)
        Decay rates of the first and second moment estimates.
    eps : float
        Added to the bias-corrected root of the second moment.
    """

    def __init__(self, parameters, lr: float, betas: tuple[float, float], eps: float):
        self.params = list(parameters)
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.step_count = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        self.step_count += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1.0 - beta1**self.step_count)
        bias2_sqrt = math.sqrt(1.0 - beta2**self.step_count)
        for param, exp_avg, exp_avg_sq in zip(
            self.params, self.exp_avg, self.exp_avg_sq, strict=True
        ):
            if param.grad is None:
                continue
            grad = param.grad
            exp_avg.lerp_(grad, 1.0 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
            denom = (exp_avg_sq.sqrt() / bias2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-step_size)

    def zero_grad(self) -> None:
        """Drop the gradients (as ``torch.optim`` does by default)."""
        for param in self.params:
            param.grad = None


def adam(parameters, lr: float, training_config: dict) -> Adam:
    """:class:`Adam` over ``parameters`` at ``lr`` with the config's ``betas`` and ``eps``."""
    betas = tuple(float(b) for b in training_config["betas"])
    return Adam(parameters, lr=lr, betas=betas, eps=float(training_config["eps"]))
