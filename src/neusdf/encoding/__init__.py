"""Multiresolution hash-grid encoding (Instant-NGP / tiny-cuda-nn ``HashGrid``) for neusdf.

Backends share one parameter layout (tcnn order), so checkpoints are interchangeable:

* ``reference`` — plain PyTorch, the specification;
* ``fast`` — numba CPU kernels with a deterministic scatter and a sparse Adam (CPU default);
* ``tcnn`` — tinycudann on CUDA (optional dependency).
"""

import importlib

# Names resolve on first use (PEP 562), so importing a torch-free submodule (config, fast,
# kernels) does not import torch through this package.
_WHERE = {
    "HashGridConfig": "config",
    "HashGridEncoding": "module",
    "MaskedAdam": "optim",
    "SparseHashGridAdam": "optim",
    "available_backends": "module",
    "hashgrid_encode_reference": "reference",
    "init_params": "reference",
    "resolve_backend": "module",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"neusdf.encoding.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'neusdf.encoding' has no attribute {name!r}")
