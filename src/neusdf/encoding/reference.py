"""Reference hash-grid encoding in plain PyTorch (readable, differentiable, any device).

This is the specification the fast kernel and tcnn are tested against. Per level ``l`` and point
``x`` in [0, 1]^3 (see :mod:`neusdf.encoding.config` for the layout):

1. ``pos = fma(scale_l, x, 0.5)`` in float32, ``cell = floor(pos)``, ``frac = pos - cell``;
2. the 8 cell corners ``cell + {0,1}^3`` are indexed, in uint32 arithmetic, densely
   (``cx + cy*res + cz*res**2``) if the level's grid fits its table, else by the xor-of-primes hash,
   always modulo the level's size;
3. the corners' features are blended trilinearly, corners in tcnn's order (bit ``d`` of the corner
   number selects ``+1`` on axis ``d``) with weight ``w_x * w_y * w_z``.

Outside [0, 1]: like tcnn, positions are not clamped. ``cell`` is converted to uint32 with
wrap-around (so -1 becomes 2**32 - 1) and indices wrap modulo the table size; the output is a
smooth-but-meaningless blend of table entries. Both implementations agree bit-for-bit on the
indices there.
"""

from __future__ import annotations

import torch

from neusdf.encoding.config import HASH_PRIMES, INIT_RANGE, N_POS_DIMS, HashGridConfig

_U32 = 0xFFFFFFFF


def _mul_u32(a: torch.Tensor, prime: int) -> torch.Tensor:
    """``(a * prime) mod 2**32`` for int64 ``a`` in [0, 2**32) without int64 overflow."""
    lo, hi = prime & 0xFFFF, prime >> 16
    return (a * lo + (((a * hi) & 0xFFFF) << 16)) & _U32


def corner_indices(cell: torch.Tensor, resolution: int, size: int, hashed: bool) -> torch.Tensor:
    """Table entry (within the level) of grid vertices.

    Parameters
    ----------
    cell : (..., 3) int64 tensor
        Integer vertex coordinates (any sign; they are taken modulo 2**32 like tcnn's uint32).
    resolution, size : int
        The level's vertices per axis and table entries.
    hashed : bool
        Whether the level uses the hash instead of dense indexing.

    Returns
    -------
    (...,) int64 tensor of entries in [0, size).
    """
    c = cell & _U32
    if hashed:
        index = c[..., 0]
        for dim in range(1, N_POS_DIMS):
            index = index ^ _mul_u32(c[..., dim], HASH_PRIMES[dim])
    else:
        # c < 2**32 and res**2 <= size < 2**31 keep every product below 2**63.
        index = (c[..., 0] + c[..., 1] * resolution + c[..., 2] * (resolution * resolution)) & _U32
    return index % size


def _corner_offsets(device: torch.device) -> torch.Tensor:
    """(8, 3) int64 offsets of the cell corners; bit ``d`` of the row number is axis ``d``."""
    rows = torch.arange(8, device=device)
    return torch.stack([(rows >> d) & 1 for d in range(N_POS_DIMS)], dim=-1)


def level_positions(x01: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell and fractional position of points on one level.

    ``scale * x + 0.5`` is formed in float64 and rounded once to float32, which reproduces tcnn's
    single-rounding ``fmaf`` (the float32 product is exact in float64).

    Parameters
    ----------
    x01 : (N, 3) float32 tensor
    scale : float
        The level's float32 scale.

    Returns
    -------
    cell : (N, 3) int64 tensor
    frac : (N, 3) float32 tensor in [0, 1)
    """
    pos = (x01.double() * scale + 0.5).float()
    cell_f = torch.floor(pos)
    return cell_f.long(), pos - cell_f


def hashgrid_encode_reference(
    x01: torch.Tensor, params: torch.Tensor, config: HashGridConfig
) -> torch.Tensor:
    """Encode points with the hash grid (reference implementation, autograd w.r.t. ``params``).

    Parameters
    ----------
    x01 : (N, 3) float32 tensor
        Points, nominally in [0, 1]^3 (not clamped, see module docstring). No gradient w.r.t.
        ``x01`` is computed (the cell/fraction split is treated as a constant).
    params : (config.n_params,) float32 tensor
        Flat table in tcnn order.
    config : HashGridConfig

    Returns
    -------
    (N, L * F) float32 tensor, level-major (level 0's F features first).
    """
    n_feat = config.n_features_per_level
    x01 = x01.detach()
    offsets_xyz = _corner_offsets(x01.device)
    scales = config.level_scales()
    resolutions = config.level_resolutions()
    sizes = config.level_sizes()
    offsets = config.level_offsets()
    hashed = config.level_is_hashed()
    outputs = []
    for level in range(config.n_levels):
        cell, frac = level_positions(x01, float(scales[level]))
        corners = cell[:, None, :] + offsets_xyz[None, :, :]  # (N, 8, 3)
        entries = corner_indices(corners, resolutions[level], sizes[level], hashed[level])
        start, stop = offsets[level] * n_feat, (offsets[level] + sizes[level]) * n_feat
        table = params[start:stop].view(-1, n_feat)
        values = table[entries]  # (N, 8, F)
        # Per-axis weights: frac where the corner takes +1, 1 - frac otherwise.
        per_axis = torch.where(offsets_xyz[None].bool(), frac[:, None, :], 1.0 - frac[:, None, :])
        weights = per_axis[..., 0] * per_axis[..., 1] * per_axis[..., 2]  # (N, 8)
        outputs.append((weights[..., None] * values).sum(dim=1))
    return torch.cat(outputs, dim=-1)


def init_params(
    config: HashGridConfig, seed: int, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Table initialised uniformly in [-1e-4, 1e-4] from ``torch.Generator`` seeded with ``seed``.

    Returns
    -------
    (config.n_params,) float32 tensor on ``device`` (drawn on the CPU so results do not depend on
    the device).
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    table = torch.empty(config.n_params, dtype=torch.float32)
    table.uniform_(-INIT_RANGE, INIT_RANGE, generator=gen)
    return table.to(device)
