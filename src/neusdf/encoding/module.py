"""``HashGridEncoding``: one torch module over three interchangeable backends.

* ``"reference"`` — :func:`~neusdf.encoding.reference.hashgrid_encode_reference` (any device);
* ``"fast"`` — numba CPU kernels (:mod:`neusdf.encoding.kernels`), the default on CPU;
* ``"tcnn"`` — ``tinycudann.Encoding`` on CUDA.

Whatever the backend, the module's only state is ``params``: one flat float32 vector in tcnn order,
so checkpoints move freely between backends (and between GPU and CPU).

Gradients w.r.t. the input positions are not computed by any backend here (the pipeline does not
need them): ``x01`` is treated as a constant.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch

from neusdf.encoding import kernels
from neusdf.encoding.config import HashGridConfig
from neusdf.encoding.fast import FastEncoder
from neusdf.encoding.memory import large_zeros
from neusdf.encoding.optim import MaskedAdam, SparseHashGridAdam
from neusdf.encoding.reference import hashgrid_encode_reference, init_params

BACKENDS = ("reference", "fast", "tcnn")


def _tcnn_importable() -> bool:
    return importlib.util.find_spec("tinycudann") is not None


def available_backends(device: str | torch.device = "cpu") -> list[str]:
    """Backends that can run on ``device`` in this environment."""
    device = torch.device(device)
    if device.type == "cpu":
        return ["reference", "fast"]
    names = ["reference"]
    if device.type == "cuda" and torch.cuda.is_available() and _tcnn_importable():
        names.append("tcnn")
    return names


def resolve_backend(backend: str, device: str | torch.device = "cpu") -> str:
    """Concrete backend name for a request.

    ``"auto"`` picks ``"tcnn"`` on a CUDA device when tinycudann is installed, ``"fast"`` on the
    CPU, ``"reference"`` otherwise. An explicit name that cannot run on ``device`` raises
    ``ValueError``. Logs nothing.
    """
    device = torch.device(device)
    usable = available_backends(device)
    if backend == "auto":
        for name in ("tcnn", "fast", "reference"):
            if name in usable:
                return name
    if backend not in BACKENDS:
        raise ValueError(f"unknown hash-grid backend {backend!r}; choose from auto, {BACKENDS}")
    if backend not in usable:
        raise ValueError(
            f"hash-grid backend {backend!r} cannot run on {device} here (usable: {usable})"
        )
    return backend


class FastGradState(FastEncoder):
    """The forward encoder plus the dense gradient buffer and dirty-block flags (fast backend).

    Attributes
    ----------
    grad : (n_params,) float32 tensor
        Accumulated gradient, zero outside dirty blocks; shared with ``params.grad``.
    grad_table, dirty
        numpy views used by the kernels (see :mod:`neusdf.encoding.kernels`).
    """

    def __init__(self, config: HashGridConfig, threads: int | None):
        super().__init__(config, threads)
        n_entries = config.n_entries
        self.grad = large_zeros(config.n_params)
        self.grad_table = self.grad.numpy().reshape(n_entries, self.n_features)
        n_dirty = (n_entries + (1 << kernels.DIRTY_SHIFT) - 1) >> kernels.DIRTY_SHIFT
        self.dirty = np.zeros(n_dirty, dtype=np.uint8)

    def accumulate(self, x01: np.ndarray, grad_out: np.ndarray) -> None:
        """Backward kernel: add d loss / d table into :attr:`grad` and flag touched blocks.

        ``grad_out`` is (N, L * F) float32, the gradient w.r.t. :meth:`encode`'s output.
        """
        grad_lm = self._level_major_scratch("grad", x01.shape[0])
        with self.thread_limit():
            kernels.point_major_to_level_major(grad_out, self.n_features, grad_lm)
            kernels.hashgrid_backward(
                x01, grad_lm, self.grad_table, self.scales, self.resolutions, self.sizes,
                self.offsets, self.hashed, self.dirty,
            )  # fmt: skip

    def clear(self, threads: int | None = None) -> None:
        """Zero the gradient of dirty blocks and reset the flags."""
        with self.thread_limit(threads):
            kernels.clear_dirty(self.grad_table, self.dirty)


def _as_points(x01: torch.Tensor) -> np.ndarray:
    """(N, 3) C-contiguous float32 numpy view (copying only if needed)."""
    return x01.detach().to(torch.float32).contiguous().numpy()


class _FastHashGrid(torch.autograd.Function):
    """Autograd glue: the backward scatters into the shared buffer and returns no param grad.

    Returning ``None`` for ``params`` keeps autograd from materialising (and adding) a dense
    12.2 M-float gradient every step; the gradient lives in ``FastGradState.grad``, which is also
    ``params.grad``.
    """

    @staticmethod
    def forward(ctx, x01, params, state):
        points = _as_points(x01)
        table = params.detach().numpy().reshape(-1, state.n_features)
        out = state.encode(points, table)
        ctx.points = points
        ctx.state = state
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad_out):
        grad = grad_out.detach().to(torch.float32).contiguous().numpy()
        ctx.state.accumulate(ctx.points, grad)
        ctx.points = None
        return None, None, None


class HashGridEncoding(torch.nn.Module):
    """Multiresolution hash-grid encoding of points in [0, 1]^3.

    Parameters
    ----------
    config : HashGridConfig
    backend : {"auto", "reference", "fast", "tcnn"}
        See :func:`resolve_backend`.
    seed : int
        Seeds the uniform [-1e-4, 1e-4] initialisation (identical for every backend).
    device : str or torch.device
        Where ``params`` live (``"fast"`` is CPU-only, ``"tcnn"`` CUDA-only).
    threads : int or None
        numba threads for the fast backend (None: numba's current setting, which the pipeline sets
        from Snakemake's ``threads``).

    Notes
    -----
    ``state_dict()`` holds only ``params``. With the fast backend ``params.grad`` is a persistent
    dense buffer that the backward pass accumulates into (autograd never sees a dense gradient);
    use :meth:`make_optimizer` (not a generic torch optimizer) so only the touched blocks are
    updated and re-zeroed. The fast backend's buffers are CPU-only: do not ``.to()`` the module.

    Points outside [0, 1]^3 are not clamped (as in tcnn): their cell index wraps as uint32 and the
    table index wraps modulo the level size; every backend gives the same (meaningless but
    finite) features there. No gradient w.r.t. the points is computed.
    """

    def __init__(
        self,
        config: HashGridConfig,
        backend: str = "auto",
        seed: int = 0,
        device: str | torch.device = "cpu",
        threads: int | None = None,
    ):
        super().__init__()
        self.config = config
        self.device = torch.device(device)
        self.backend = resolve_backend(backend, self.device)
        self.threads = threads
        impl = _BACKENDS[self.backend](config, threads)
        self.params = torch.nn.Parameter(impl.initial_table(init_params(config, seed, self.device)))
        impl.attach(self.params, seed)
        self._impl = [impl]  # a list hides it from state_dict()/children()

    @property
    def _fast(self) -> FastGradState | None:
        """The fast backend's gradient state (None on other backends)."""
        return getattr(self._impl[0], "state", None)

    @property
    def _tcnn(self) -> list:
        """The tinycudann module, in a list (empty on other backends)."""
        return getattr(self._impl[0], "modules", [])

    @property
    def output_dim(self) -> int:
        """Width of the encoding, ``L * F``."""
        return self.config.output_dim

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """Encode (N, 3) float32 points in [0, 1]^3 into (N, L * F) float32 features."""
        if x01.ndim != 2 or x01.shape[1] != 3:
            raise ValueError(f"expected points of shape (N, 3), got {tuple(x01.shape)}")
        return self._impl[0].encode(x01, self.params)

    def make_optimizer(self, lr: float, betas: tuple[float, float], eps: float) -> MaskedAdam:
        """Adam over ``params`` skipping zero-gradient entries (sparse for the fast backend).

        Returns an object with ``step()``, ``zero_grad()``, ``state_dict()`` and
        ``load_state_dict()``; call ``step()`` after ``loss.backward()``.
        """
        return self._impl[0].optimizer(self.params, lr, betas, eps)

    def extra_repr(self) -> str:
        return f"backend={self.backend!r}, config={self.config}"


class _ReferenceBackend:
    """Plain PyTorch (the specification); autograd does the backward, a masked Adam the update."""

    def __init__(self, config: HashGridConfig, threads: int | None):
        self.config = config

    def initial_table(self, initial: torch.Tensor) -> torch.Tensor:
        return initial

    def attach(self, params: torch.nn.Parameter, seed: int) -> None:
        pass

    def encode(self, x01: torch.Tensor, params: torch.nn.Parameter) -> torch.Tensor:
        return hashgrid_encode_reference(x01.to(torch.float32), params, self.config)

    def optimizer(self, params, lr, betas, eps) -> MaskedAdam:
        return MaskedAdam(params, lr, betas, eps)


class _FastBackend(_ReferenceBackend):
    """numba kernels: a persistent dense gradient buffer filled by the backward, a sparse Adam."""

    def __init__(self, config: HashGridConfig, threads: int | None):
        super().__init__(config, threads)
        self.threads = threads
        self.state = FastGradState(config, threads)

    def initial_table(self, initial: torch.Tensor) -> torch.Tensor:
        return large_zeros(self.config.n_params).copy_(initial)

    def attach(self, params: torch.nn.Parameter, seed: int) -> None:
        params.grad = self.state.grad

    def encode(self, x01: torch.Tensor, params: torch.nn.Parameter) -> torch.Tensor:
        state = self.state
        if params.grad is not state.grad:
            # Something (e.g. Module.zero_grad(set_to_none=True)) detached the shared buffer.
            state.clear()
            params.grad = state.grad
        if torch.is_grad_enabled() and params.requires_grad:
            return _FastHashGrid.apply(x01, params, state)
        table = params.detach().numpy().reshape(-1, state.n_features)
        return torch.from_numpy(state.encode(_as_points(x01), table))

    def optimizer(self, params, lr, betas, eps) -> SparseHashGridAdam:
        return SparseHashGridAdam(params, self.state, lr, betas, eps, self.threads)


class _TcnnBackend(_ReferenceBackend):
    """tinycudann's ``Encoding`` on CUDA, sharing our Parameter as its table."""

    def __init__(self, config: HashGridConfig, threads: int | None):
        super().__init__(config, threads)
        self.modules: list = []

    def attach(self, params: torch.nn.Parameter, seed: int) -> None:
        self.modules.append(_make_tcnn_encoding(self.config, params, seed))

    def encode(self, x01: torch.Tensor, params: torch.nn.Parameter) -> torch.Tensor:
        return self.modules[0](x01.to(torch.float32).contiguous()).to(torch.float32)


_BACKENDS = {"reference": _ReferenceBackend, "fast": _FastBackend, "tcnn": _TcnnBackend}


def _make_tcnn_encoding(config: HashGridConfig, params: torch.nn.Parameter, seed: int):
    """A ``tinycudann.Encoding`` that uses ``params`` (our seeded init, tcnn order) as its table."""
    import tinycudann as tcnn  # optional dependency, only on CUDA machines

    try:  # full-precision parameters where the bindings allow choosing (newer tinycudann)
        module = tcnn.Encoding(3, config.to_tcnn_dict(), seed=seed, dtype=torch.float32)
    except TypeError:
        module = tcnn.Encoding(3, config.to_tcnn_dict(), seed=seed)
    if module.params.numel() != params.numel():
        raise RuntimeError(
            f"tinycudann reports {module.params.numel()} encoding params, expected {params.numel()}"
        )
    # Share our Parameter so optimizers, checkpoints and the tcnn kernels see one tensor.
    module.params = params
    return module
