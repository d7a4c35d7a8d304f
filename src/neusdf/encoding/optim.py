"""Adam, one optimizer family for every model: one base class; the variants differ only in how a
step touches the parameters.

* :class:`Adam` — ``torch.optim.Adam``'s update (no weight decay, no amsgrad; tested step for step
  against it) over a few dense tensors: the MLPs, the lattices. Written out because the first
  ``torch.optim`` optimizer a process builds imports ``torch._dynamo``, a second or two of every
  training job.
* :class:`MaskedAdam` — for a hash table: entries whose gradient is exactly zero keep their value
  and their moments (Instant-NGP updates only the entries a batch touched); bias correction uses
  the global step count. Plain torch on any device: the ``reference`` and ``tcnn`` backends, and
  the specification of the next one.
* :class:`SparseHashGridAdam` — the fast backend's: the masked update streamed through only the
  blocks of 64 entries the backward scatter flagged (numba), so a step costs O(touched blocks).
  Same float32 operations in the same order as :class:`MaskedAdam`: they agree to the last bit.

Every variant: ``step()`` after ``loss.backward()``, then ``zero_grad()``, after which the next
backward starts from a zero gradient; the training loop sets :attr:`Adam.lr` before each step.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neusdf.encoding import kernels
from neusdf.encoding.memory import large_zeros


class Adam:
    """Adam over dense tensors (the base of every variant).

    Parameters
    ----------
    params : iterable of torch.Tensor
        Leaf tensors with ``requires_grad``; their ``.grad`` is read by :meth:`step`.
    lr : float
        Step size.
    betas : (float, float)
        Decay rates of the first and second moment estimates, in [0, 1).
    eps : float
        Added to the bias-corrected root of the second moment.
    """

    def __init__(self, params, lr: float, betas: tuple[float, float], eps: float):
        if not lr > 0.0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if not eps >= 0.0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.params = list(params)
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.step_count = 0
        self.exp_avg = [self._zeros(p) for p in self.params]
        self.exp_avg_sq = [self._zeros(p) for p in self.params]

    def _zeros(self, param: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(param, memory_format=torch.contiguous_format)

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        self.step_count += 1
        for param, exp_avg, exp_avg_sq in zip(
            self.params, self.exp_avg, self.exp_avg_sq, strict=True
        ):
            if param.grad is not None:
                self._update(param, param.grad, exp_avg, exp_avg_sq)

    def _update(self, param, grad, exp_avg, exp_avg_sq) -> None:
        """``torch.optim.Adam``'s update of one tensor (its own operations and rounding)."""
        beta1, beta2 = self.betas
        step_size = self.lr / (1.0 - beta1**self.step_count)
        bias2_sqrt = math.sqrt(1.0 - beta2**self.step_count)
        exp_avg.lerp_(grad, 1.0 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        denom = (exp_avg_sq.sqrt() / bias2_sqrt).add_(self.eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)

    def zero_grad(self) -> None:
        """Drop the gradients (autograd allocates fresh ones in the next backward)."""
        for param in self.params:
            param.grad = None

    def float32_terms(self) -> dict[str, np.float32]:
        """The hyper-parameter terms of the current step, each rounded once to float32 (the
        masked and sparse updates use exactly these)."""
        beta1, beta2 = self.betas
        t = self.step_count
        return {
            "beta1": np.float32(beta1),
            "one_minus_beta1": np.float32(1.0 - beta1),
            "beta2": np.float32(beta2),
            "one_minus_beta2": np.float32(1.0 - beta2),
            "bias2_sqrt": np.float32(math.sqrt(1.0 - beta2**t)),
            "step_size": np.float32(self.lr / (1.0 - beta1**t)),
            "eps": np.float32(self.eps),
        }


class MaskedAdam(Adam):
    """Adam over one flat hash table, skipping entries whose gradient is exactly zero.

    Parameters
    ----------
    params : torch.nn.Parameter
        Flat float32 table (any device).
    lr, betas, eps
        As :class:`Adam`.
    """

    def __init__(self, params, lr, betas, eps):
        super().__init__([params], lr, betas, eps)

    def _update(self, param, grad, exp_avg, exp_avg_sq) -> None:
        c = {k: torch.tensor(v) for k, v in self.float32_terms().items()}
        mask = grad != 0
        g = grad[mask]
        # Same float32 operations, in the same order, as kernels.sparse_adam_step.
        m = exp_avg[mask] * c["beta1"] + g * c["one_minus_beta1"]
        v = exp_avg_sq[mask] * c["beta2"] + (g * g) * c["one_minus_beta2"]
        # Correctly rounded float32 sqrt (torch's vectorised float32 sqrt can be 1 ulp off) and a
        # full-size divisor (torch turns division by a scalar into a reciprocal multiply).
        sqrt_v = torch.sqrt(v.double()).float()
        denom = sqrt_v / torch.full_like(v, c["bias2_sqrt"].item()) + c["eps"]
        param[mask] = param[mask] - (m / denom) * c["step_size"]
        exp_avg[mask] = m
        exp_avg_sq[mask] = v


class SparseHashGridAdam(MaskedAdam):
    """The masked update over only the blocks flagged by the fast backend's backward scatter.

    Parameters
    ----------
    params : torch.nn.Parameter
        The fast encoding's flat CPU float32 table.
    fast_state : neusdf.encoding.module.FastGradState
        The encoding's dense gradient buffer (also ``params.grad``) and dirty-block flags.
    lr, betas, eps
        As :class:`Adam`.
    threads : int or None
        numba threads for the update (None: the fast state's count).
    """

    def __init__(self, params, fast_state, lr, betas, eps, threads=None):
        self.fast_state = fast_state
        self.threads = threads
        super().__init__(params, lr=lr, betas=betas, eps=eps)

    def _zeros(self, param: torch.Tensor) -> torch.Tensor:
        # Huge-page backed moments, like the table (fewer TLB misses when streaming blocks).
        return large_zeros(param.numel())

    def _update(self, param, grad, exp_avg, exp_avg_sq) -> None:
        state = self.fast_state
        with state.thread_limit(self.threads):
            kernels.sparse_adam_step(
                param.detach().numpy(), grad.numpy(), exp_avg.numpy(), exp_avg_sq.numpy(),
                state.dirty, state.n_features << kernels.DIRTY_SHIFT, **self.float32_terms(),
            )  # fmt: skip

    def zero_grad(self) -> None:
        """Zero the gradient of the dirty blocks only (everything else is zero already); the
        buffer stays ``params.grad``."""
        self.fast_state.clear(self.threads)
