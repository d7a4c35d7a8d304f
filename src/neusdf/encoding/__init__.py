"""Multiresolution hash-grid encoding (Instant-NGP / tiny-cuda-nn ``HashGrid``) for neusdf.

Backends share one parameter layout (tcnn order), so checkpoints are interchangeable:

* ``reference`` — plain PyTorch, the specification (:mod:`neusdf.encoding.reference`);
* ``fast`` — numba CPU kernels with a deterministic scatter and a sparse Adam
  (:mod:`neusdf.encoding.kernels`, :mod:`neusdf.encoding.fast`, :mod:`neusdf.encoding.optim`);
* ``tcnn`` — tinycudann on CUDA (optional dependency).

:mod:`neusdf.encoding.module` puts them behind one torch module; :mod:`neusdf.encoding.config`
holds the layout arithmetic. Import from the submodules: the torch-free ones (config, fast,
kernels) never load torch.
"""
