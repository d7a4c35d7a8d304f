"""Multiresolution hash-grid encoding (Instant-NGP / tiny-cuda-nn ``HashGrid``) for neusdf.

Backends share one parameter layout (tcnn order), so checkpoints are interchangeable:

* ``reference`` — plain PyTorch, the specification;
* ``fast`` — numba CPU kernels with a deterministic scatter and a sparse Adam (CPU default);
* ``tcnn`` — tinycudann on CUDA (optional dependency).
"""

from neusdf.encoding.config import HashGridConfig
from neusdf.encoding.module import (
    HashGridEncoding,
    available_backends,
    resolve_backend,
)
from neusdf.encoding.optim import MaskedAdam, SparseHashGridAdam
from neusdf.encoding.reference import hashgrid_encode_reference, init_params

__all__ = [
    "HashGridConfig",
    "HashGridEncoding",
    "MaskedAdam",
    "SparseHashGridAdam",
    "available_backends",
    "hashgrid_encode_reference",
    "init_params",
    "resolve_backend",
]
