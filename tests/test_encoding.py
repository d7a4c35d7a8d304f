"""Hash-grid encoding: layout arithmetic, reference vs. scalar spec, fast kernel vs. reference,
determinism, sparse Adam vs. dense reference, tcnn interchange."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch

from neusdf.encoding.config import HashGridConfig
from neusdf.encoding.module import HashGridEncoding, available_backends, resolve_backend
from neusdf.encoding.optim import MaskedAdam
from neusdf.encoding.reference import hashgrid_encode_reference

DEFAULT = HashGridConfig.from_finest_resolution(
    n_levels=16, n_features_per_level=2, log2_hashmap_size=19, base_resolution=16,
    finest_resolution=2048,
)  # fmt: skip
# Small config with both dense (levels 0-1) and hashed (levels 2-3) levels, and F = 2.
SMALL = HashGridConfig.from_finest_resolution(
    n_levels=4, n_features_per_level=2, log2_hashmap_size=12, base_resolution=6,
    finest_resolution=40,
)  # fmt: skip


def _points(config: HashGridConfig, n_random: int, seed: int) -> torch.Tensor:
    """Random points plus corners of the cube, cell borders of every level and points slightly
    outside [0, 1] (which tcnn does not clamp)."""
    gen = torch.Generator().manual_seed(seed)
    parts = [torch.rand(n_random, 3, generator=gen)]
    parts.append(torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.5], [1.0, 0.0, 0.0]]))
    for scale in config.level_scales():
        # pos = scale * x + 0.5 is an integer on a cell border: x = (k - 0.5) / scale.
        k = torch.randint(1, int(scale) + 1, (16, 3), generator=gen).double()
        parts.append(((k - 0.5) / float(scale)).float())
    parts.append(torch.rand(32, 3, generator=gen) * 1.2 - 0.1)
    parts.append(torch.tensor([[-1e-3, 0.5, 1.0 + 1e-3], [-0.05, -0.05, -0.05]]))
    return torch.cat(parts).contiguous()


def _scalar_spec(x: list[float], params: np.ndarray, config: HashGridConfig) -> list[float]:
    """tcnn's HashGrid for one point, transcribed with Python ints/floats (independent check)."""
    primes = (1, 2654435761, 805459861)
    feats = []
    n_feat = config.n_features_per_level
    for level in range(config.n_levels):
        scale = float(config.level_scales()[level])
        res = config.level_resolutions()[level]
        size = config.level_sizes()[level]
        offset = config.level_offsets()[level]
        pos, cell = [], []
        for d in range(3):
            p = float(np.float32(x[d] * scale + 0.5))  # exact product in float64, one rounding
            c = math.floor(p)
            pos.append(float(np.float32(p - c)))
            cell.append(c % 2**32)
        out = [np.float32(0.0)] * n_feat
        for corner in range(8):
            weight = np.float32(1.0)
            local = []
            for d in range(3):
                bit = (corner >> d) & 1
                weight = np.float32(weight * np.float32(pos[d] if bit else 1.0 - pos[d]))
                local.append((cell[d] + bit) % 2**32)
            if res**3 <= size:
                index = (local[0] + local[1] * res + local[2] * res * res) % 2**32
            else:
                index = 0
                for d in range(3):
                    index ^= (local[d] * primes[d]) % 2**32
            entry = offset + index % size
            for f in range(n_feat):
                out[f] = np.float32(out[f] + weight * params[entry * n_feat + f])
        feats.extend(float(v) for v in out)
    return feats


# ---------------------------------------------------------------------------------------------
# Layout arithmetic


def test_default_layout_matches_tcnn_arithmetic():
    assert math.isclose(DEFAULT.per_level_scale, 1.3819128799677760, rel_tol=1e-12)
    assert DEFAULT.n_params == 12_196_240
    assert DEFAULT.output_dim == 32
    assert DEFAULT.level_sizes()[:5] == [4096, 12168, 29792, 79512, 205384]
    assert DEFAULT.level_sizes()[5:] == [524288] * 11
    assert DEFAULT.level_resolutions()[0] == 16 and DEFAULT.level_resolutions()[-1] == 2048
    assert DEFAULT.level_is_hashed() == [False] * 5 + [True] * 11
    offsets = DEFAULT.level_offsets()
    assert (
        len(offsets) == 16
        and offsets[0] == 0
        and offsets[5] == 4096 + 12168 + 29792 + 79512 + 205384
    )
    assert (
        (offsets[-1] + DEFAULT.level_sizes()[-1]) * 2 == DEFAULT.n_params == DEFAULT.n_entries * 2
    )
    tcnn = DEFAULT.to_tcnn_dict()
    assert tcnn["otype"] == "HashGrid" and tcnn["n_levels"] == 16
    assert tcnn["log2_hashmap_size"] == 19 and tcnn["base_resolution"] == 16


def test_config_is_frozen_and_validated():
    with pytest.raises(AttributeError):
        DEFAULT.n_levels = 3  # type: ignore[misc]
    with pytest.raises(ValueError):
        HashGridConfig(n_features_per_level=3)


# ---------------------------------------------------------------------------------------------
# Reference vs. an independent scalar transcription


def test_reference_matches_scalar_spec():
    gen = torch.Generator().manual_seed(3)
    params = torch.empty(SMALL.n_params).uniform_(-1, 1, generator=gen)
    x = _points(SMALL, 6, seed=4)[::5]
    got = hashgrid_encode_reference(x, params, SMALL)
    for i in range(x.shape[0]):
        want = _scalar_spec([float(v) for v in x[i]], params.numpy(), SMALL)
        np.testing.assert_allclose(got[i].numpy(), want, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Fast kernel vs. reference


@pytest.mark.parametrize("config", [SMALL, DEFAULT], ids=["small", "default"])
def test_fast_matches_reference_forward_and_grad(config):
    x = _points(config, 2000, seed=1)
    fast = HashGridEncoding(config, backend="fast", seed=7)
    ref = HashGridEncoding(config, backend="reference", seed=7)
    assert torch.equal(fast.params.detach(), ref.params.detach())
    out_fast, out_ref = fast(x), ref(x)
    assert out_fast.shape == (x.shape[0], config.output_dim) and out_fast.dtype == torch.float32
    np.testing.assert_allclose(out_fast.detach().numpy(), out_ref.detach().numpy(), atol=1e-5)
    weights = torch.randn(out_ref.shape, generator=torch.Generator().manual_seed(2))
    (out_fast * weights).sum().backward()
    (out_ref * weights).sum().backward()
    grad_fast, grad_ref = fast.params.grad, ref.params.grad
    scale = grad_ref.abs().max().item()
    assert (grad_fast - grad_ref).abs().max().item() <= 1e-4 * scale
    # Same set of touched parameters (exact zeros where nothing landed).
    assert torch.equal(grad_fast != 0, grad_ref != 0)


def test_fast_is_deterministic_across_thread_counts():
    x = _points(SMALL, 3000, seed=5)
    weights = torch.randn(x.shape[0], SMALL.output_dim, generator=torch.Generator().manual_seed(6))
    results = []
    for threads in (1, 2, 2):
        enc = HashGridEncoding(SMALL, backend="fast", seed=1, threads=threads)
        out = enc(x)
        (out * weights).sum().backward()
        results.append((out.detach().clone(), enc.params.grad.clone()))
    for out, grad in results[1:]:
        assert torch.equal(out, results[0][0])
        assert torch.equal(grad, results[0][1])


def test_threads_argument_leaves_global_setting_alone():
    before = numba.get_num_threads()
    enc = HashGridEncoding(SMALL, backend="fast", seed=0, threads=1)
    enc(torch.rand(100, 3))
    assert numba.get_num_threads() == before


def test_no_grad_path_matches_grad_path():
    x = _points(SMALL, 500, seed=8)
    enc = HashGridEncoding(SMALL, backend="fast", seed=2)
    with torch.no_grad():
        out_nograd = enc(x)
    assert torch.equal(out_nograd, enc(x).detach())


def test_backward_accumulates_until_zero_grad():
    x = _points(SMALL, 300, seed=9)
    enc = HashGridEncoding(SMALL, backend="fast", seed=3)
    enc(x).sum().backward()
    once = enc.params.grad.clone()
    enc(x).sum().backward()
    np.testing.assert_allclose(enc.params.grad.numpy(), 2 * once.numpy(), rtol=1e-6, atol=1e-7)
    opt = enc.make_optimizer(lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    opt.zero_grad()
    assert enc.params.grad.abs().sum().item() == 0.0
    # Module.zero_grad() drops the shared buffer; the next forward re-attaches a clean one.
    enc(x).sum().backward()
    enc.zero_grad()
    enc(x).sum().backward()
    np.testing.assert_allclose(enc.params.grad.numpy(), once.numpy(), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# Optimizers


def test_sparse_adam_matches_dense_masked_adam_bitwise():
    fast = HashGridEncoding(SMALL, backend="fast", seed=4)
    dense_params = torch.nn.Parameter(fast.params.detach().clone())
    sparse_opt = fast.make_optimizer(lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    dense_opt = MaskedAdam(dense_params, lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    gen = torch.Generator().manual_seed(10)
    for _ in range(4):
        # Few points: most entries get no gradient and must be left alone.
        x = torch.rand(50, 3, generator=gen)
        (fast(x) * torch.randn(50, SMALL.output_dim, generator=gen)).sum().backward()
        dense_params.grad = fast.params.grad.clone()
        untouched = fast.params.grad == 0
        before = fast.params.detach().clone()
        sparse_opt.step()
        dense_opt.step()
        assert torch.equal(fast.params.detach(), dense_params.detach())
        assert torch.equal(sparse_opt.exp_avg[0], dense_opt.exp_avg[0])
        assert torch.equal(sparse_opt.exp_avg_sq[0], dense_opt.exp_avg_sq[0])
        assert torch.equal(fast.params.detach()[untouched], before[untouched])
        sparse_opt.zero_grad()
        dense_opt.zero_grad()
        # The next backward starts from zero: the fast buffer stays params.grad, all zero.
        assert fast.params.grad.abs().sum().item() == 0.0 and dense_params.grad is None
        assert not fast._fast.dirty.any()


def test_masked_adam_equals_torch_adam_when_every_grad_is_nonzero():
    gen = torch.Generator().manual_seed(11)
    ours = torch.nn.Parameter(torch.randn(1000, generator=gen))
    theirs = torch.nn.Parameter(ours.detach().clone())
    opt_ours = MaskedAdam(ours, lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    opt_theirs = torch.optim.Adam([theirs], lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    for _ in range(5):
        grad = torch.randn(1000, generator=gen)
        ours.grad = grad.clone()
        theirs.grad = grad.clone()
        opt_ours.step()
        opt_theirs.step()
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-7)


def test_training_loop_runs_on_every_cpu_backend():
    gen = torch.Generator().manual_seed(12)
    x = torch.rand(256, 3, generator=gen)
    target = torch.rand(256, 1, generator=gen)
    final = {}
    for backend in ("reference", "fast"):
        torch.manual_seed(0)
        enc = HashGridEncoding(SMALL, backend=backend, seed=0)
        mlp = torch.nn.Sequential(torch.nn.Linear(SMALL.output_dim, 16), torch.nn.ReLU(),
                                  torch.nn.Linear(16, 1))  # fmt: skip
        opt_enc = enc.make_optimizer(lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
        opt_mlp = torch.optim.Adam(mlp.parameters(), lr=1e-2)
        for _ in range(5):
            loss = ((mlp(enc(x)) - target) ** 2).mean()
            loss.backward()
            opt_enc.step()
            opt_mlp.step()
            opt_enc.zero_grad()
            opt_mlp.zero_grad()
        final[backend] = enc.params.detach().clone()
    np.testing.assert_allclose(final["fast"].numpy(), final["reference"].numpy(), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Backends, checkpoints, tcnn interchange


def test_resolve_backend():
    assert resolve_backend("auto", "cpu") == "fast"
    assert resolve_backend("reference", "cpu") == "reference"
    assert available_backends("cpu") == ["reference", "fast"]
    with pytest.raises(ValueError):
        resolve_backend("tcnn", "cpu")
    with pytest.raises(ValueError):
        resolve_backend("nonsense", "cpu")


def test_state_dict_holds_only_params_and_moves_between_backends():
    fast = HashGridEncoding(SMALL, backend="fast", seed=5)
    with torch.no_grad():
        fast.params.add_(torch.randn(SMALL.n_params) * 1e-2)
    state = fast.state_dict()
    assert list(state) == ["params"]
    assert state["params"].shape == (SMALL.n_params,) and state["params"].dtype == torch.float32
    ref = HashGridEncoding(SMALL, backend="reference", seed=99)
    ref.load_state_dict(state)
    x = torch.rand(200, 3)
    np.testing.assert_allclose(fast(x).detach().numpy(), ref(x).detach().numpy(), atol=1e-5)


def _tcnn_usable() -> bool:
    try:
        import tinycudann  # noqa: F401
    except Exception:
        return False
    return torch.cuda.is_available()


@pytest.mark.cuda
@pytest.mark.skipif(not _tcnn_usable(), reason="needs CUDA and tinycudann")
def test_tcnn_backend_matches_reference_on_gpu(tmp_path):
    # Parameters spread over (-1, 1), so a wrong layout (level order, hash, corner order) gives
    # visibly different features; tolerances are relative to those magnitudes.
    x = torch.rand(4096, 3)
    tcnn_enc = HashGridEncoding(DEFAULT, backend="tcnn", seed=3, device="cuda")
    assert tcnn_enc._tcnn[0].params.numel() == DEFAULT.n_params
    params = torch.rand(DEFAULT.n_params, generator=torch.Generator().manual_seed(5)) * 2 - 1
    tcnn_enc.load_state_dict({"params": params.cuda()})
    ref = HashGridEncoding(DEFAULT, backend="reference", seed=3)
    ref.load_state_dict({"params": params})
    xr = x.clone().requires_grad_(False)
    got = tcnn_enc(x.cuda()).float()
    want = ref(xr)
    np.testing.assert_allclose(
        got.detach().cpu().numpy(), want.detach().numpy(), rtol=1e-3, atol=1e-3
    )
    # Gradients of the parameters agree too (same upstream gradient).
    upstream = torch.rand(want.shape, generator=torch.Generator().manual_seed(6)) * 2 - 1
    (got * upstream.cuda()).sum().backward()
    (want * upstream).sum().backward()
    g_tcnn = tcnn_enc.params.grad.float().cpu().numpy()
    g_ref = ref.params.grad.numpy()
    np.testing.assert_allclose(g_tcnn, g_ref, rtol=1e-3, atol=1e-3 * np.abs(g_ref).max())
    # A checkpoint written on the GPU evaluates the same on the CPU.
    path = tmp_path / "enc.pt"
    torch.save({"params": tcnn_enc.state_dict()["params"].cpu()}, path)
    cpu = HashGridEncoding(DEFAULT, backend="fast", seed=0)
    cpu.load_state_dict(torch.load(path, weights_only=True))
    np.testing.assert_allclose(
        cpu(x).detach().numpy(), got.detach().cpu().numpy(), rtol=1e-3, atol=1e-3
    )
