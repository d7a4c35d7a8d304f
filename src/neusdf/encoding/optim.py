"""Adam for the hash table that skips entries whose gradient is exactly zero.

Instant-NGP only updates hash entries a batch touched; entries with ``grad == 0`` keep both their
value and their Adam moments. Bias correction uses the *global* step count.

* :class:`MaskedAdam` — the plain, dense reference (any device): scans the whole gradient. Used by
  the ``reference`` and ``tcnn`` backends and by the tests as the specification.
* :class:`SparseHashGridAdam` — the ``fast`` backend's optimizer: streams only through the
  blocks of 64 entries the backward scatter flagged, so a step costs O(touched blocks), not
  O(12.2 M) (and never re-zeroes untouched gradient).

Both use the same float32 operations in the same order (torch.optim.Adam's formula, no weight
decay), so they agree to the last bit.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from neusdf.encoding import kernels
from neusdf.encoding.memory import large_zeros


def _check_hyper(lr: float, betas: tuple[float, float], eps: float) -> None:
    if not lr > 0.0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
        raise ValueError(f"betas must be in [0, 1), got {betas}")
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")


class MaskedAdam:
    """Dense reference: ``torch.optim.Adam`` restricted to parameters with nonzero gradient.

    Parameters
    ----------
    params : torch.nn.Parameter
        Flat float32 table; its ``.grad`` is read and zeroed.
    lr, betas, eps : float
        As in ``torch.optim.Adam`` (no weight decay, no amsgrad).
    """

    def __init__(
        self,
        params: torch.nn.Parameter,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.99),
        eps: float = 1e-15,
    ):
        _check_hyper(lr, betas, eps)
        self.params = params
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.step_count = 0
        self.exp_avg = torch.zeros_like(params, memory_format=torch.contiguous_format)
        self.exp_avg_sq = torch.zeros_like(params, memory_format=torch.contiguous_format)

    def _float32_terms(self) -> dict[str, np.float32]:
        """Hyper-parameter terms for the current step, rounded once to float32."""
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

    @torch.no_grad()
    def step(self) -> None:
        """Update parameters with nonzero gradient, then zero the gradient."""
        grad = self.params.grad
        self.step_count += 1
        if grad is None:
            return
        c = {k: torch.tensor(v) for k, v in self._float32_terms().items()}
        mask = grad != 0
        g = grad[mask]
        # Same float32 operations, in the same order, as kernels.sparse_adam_step.
        m = self.exp_avg[mask] * c["beta1"] + g * c["one_minus_beta1"]
        v = self.exp_avg_sq[mask] * c["beta2"] + (g * g) * c["one_minus_beta2"]
        # Correctly rounded float32 sqrt (torch's vectorised float32 sqrt can be 1 ulp off) and a
        # full-size divisor (torch turns division by a scalar into a reciprocal multiply).
        sqrt_v = torch.sqrt(v.double()).float()
        denom = sqrt_v / torch.full_like(v, c["bias2_sqrt"].item()) + c["eps"]
        self.params[mask] = self.params[mask] - (m / denom) * c["step_size"]
        self.exp_avg[mask] = m
        self.exp_avg_sq[mask] = v
        grad.zero_()

    def zero_grad(self) -> None:
        """Zero the gradient (kept allocated)."""
        if self.params.grad is not None:
            self.params.grad.zero_()

    def state_dict(self) -> dict:
        """Step count, moments and hyper-parameters (moments are flat, tcnn order)."""
        return {
            "step": self.step_count,
            "exp_avg": self.exp_avg.detach().cpu().clone(),
            "exp_avg_sq": self.exp_avg_sq.detach().cpu().clone(),
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` produced (from either optimizer class)."""
        self.step_count = int(state["step"])
        self.exp_avg.copy_(state["exp_avg"])
        self.exp_avg_sq.copy_(state["exp_avg_sq"])
        self.lr, self.eps = float(state["lr"]), float(state["eps"])
        self.betas = (float(state["betas"][0]), float(state["betas"][1]))


class SparseHashGridAdam(MaskedAdam):
    """Sparse Adam over the blocks flagged by the fast backend's backward scatter.

    Parameters
    ----------
    params : torch.nn.Parameter
        The fast encoding's flat CPU float32 table.
    fast_state : neusdf.encoding.module.FastGradState
        The encoding's dense gradient buffer and dirty-block flags.
    lr, betas, eps : float
        As in ``torch.optim.Adam``.
    threads : int or None
        numba threads for the update (None: numba's current setting).
    """

    def __init__(self, params, fast_state, lr=1e-2, betas=(0.9, 0.99), eps=1e-15, threads=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        # Huge-page backed moments, like the table (fewer TLB misses when streaming dirty blocks).
        self.exp_avg = large_zeros(params.numel())
        self.exp_avg_sq = large_zeros(params.numel())
        self.fast_state = fast_state
        self.threads = threads

    @torch.no_grad()
    def step(self) -> None:
        """Update entries with nonzero gradient in dirty blocks, zero their gradient and flags."""
        self.step_count += 1
        fs = self.fast_state
        n_feat = fs.n_features
        with fs.thread_limit(self.threads):
            kernels.sparse_adam_step(
                self.params.detach().numpy(),
                fs.grad.numpy(),
                self.exp_avg.numpy(),
                self.exp_avg_sq.numpy(),
                fs.dirty,
                n_feat << kernels.DIRTY_SHIFT,
                **self._float32_terms(),
            )

    def zero_grad(self) -> None:
        """Zero the gradient of dirty blocks only (everything else is already zero)."""
        self.fast_state.clear(self.threads)
