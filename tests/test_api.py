"""neusdf.load: distances and normals in both frames, meshes, backends, errors, the documented
checkpoint format (its plain-PyTorch snippet), and the progress helper."""

from __future__ import annotations

import copy
import logging
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import neusdf
from neusdf.errors import CheckpointError
from neusdf.nn.checkpoint import read_checkpoint, write_checkpoint
from neusdf.nn.models import SDFNetwork, save_checkpoint
from neusdf.nn.training import train_sdf
from neusdf.progress import LogProgress, counted, progress
from tests.helpers import REPO, TINY_MODEL

# An off-center, non-unit sphere: the original frame differs from the normalized one by a real
# translation and a scale far from 1.
CENTER = np.array([10.0, -5.0, 2.5])
RADIUS = 3.7
SCALE = 0.9 / RADIUS


def ball_sdf(points: np.ndarray) -> np.ndarray:
    """Ground truth in original units."""
    return np.linalg.norm(points - CENTER, axis=1) - RADIUS


def ball_model_config() -> dict:
    """The default model's design in small: a prior lattice of exact distances, a hash grid."""
    config = copy.deepcopy(TINY_MODEL)
    config["encoding"].update(n_levels=6, finest_resolution=64, log2_hashmap_size=14)
    config["network"]["n_neurons"] = 32
    config["training"].update(epochs=6, batch_size=2048)
    config["prior"] = {"resolution": 9, "storage": "float16"}
    return config


def train_ball(backend: str, seed: int = 0) -> SDFNetwork:
    """A small hash-grid model fitted to the sphere of radius 0.9 in the normalized frame."""
    config = ball_model_config()
    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(10000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    near = directions * 0.9 + rng.normal(scale=0.02, size=directions.shape)
    points = np.concatenate([rng.uniform(-1, 1, (10000, 3)), near]).astype(np.float32)
    target = (np.linalg.norm(points, axis=1) - 0.9).astype(np.float32)
    model = SDFNetwork(config, backend=backend, seed=seed)
    model.fill(lambda p: np.linalg.norm(p, axis=1) - 0.9)
    train_sdf(model, points, target, config["training"], seed=seed, progress=False)
    return model


@pytest.fixture(scope="module")
def ball_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "ball.safetensors"
    normalization = {"center": CENTER.tolist(), "scale": SCALE}
    save_checkpoint(path, train_ball("fast"), "small", normalization, {"seconds": 1.0})
    return path


@pytest.fixture(scope="module")
def ball(ball_checkpoint):
    return neusdf.load(ball_checkpoint)


def random_points(n: int, seed: int = 1) -> np.ndarray:
    """Points in the original frame, within the normalized cube."""
    return CENTER + np.random.default_rng(seed).uniform(-1, 1, (n, 3)) / SCALE


def test_original_frame_matches_the_ground_truth_in_the_meshs_units(ball):
    points = random_points(5000)
    d = ball(points)
    assert d.shape == (5000,) and d.dtype == np.float64
    error = np.abs(d - ball_sdf(points))
    # Wrong scaling (multiplied instead of divided) would be off by a factor 1 / SCALE**2 ≈ 17.
    assert error.mean() < 0.02 * RADIUS
    assert np.mean(np.sign(d) == np.sign(ball_sdf(points))) > 0.97


def test_the_two_frames_differ_exactly_by_the_stored_transform(ball):
    points = random_points(2000)
    normalized = (points - CENTER) * SCALE
    d_orig = ball(points)
    d_norm = ball(normalized, frame="normalized")
    np.testing.assert_allclose(d_orig, d_norm / SCALE, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_norm, ball.field(normalized.astype(np.float32)))
    np.testing.assert_allclose(ball.to_normalized(points), normalized, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ball.to_original(normalized), points, rtol=1e-12, atol=1e-9)
    lo, hi = ball.bounds  # the normalized cube [-1, 1]^3 in the original frame
    np.testing.assert_allclose(lo, CENTER - 1 / SCALE)
    np.testing.assert_allclose(hi, CENTER + 1 / SCALE)


def test_outputs_follow_the_input_kind_and_track_no_gradient(ball):
    points = random_points(100)
    assert ball(points.astype(np.float32)).dtype == np.float32
    assert ball(points.astype(np.int64)).dtype == np.float32
    tensor = torch.tensor(points, dtype=torch.float32, requires_grad=True)
    out = ball(tensor)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (100,)
    assert not out.requires_grad
    np.testing.assert_allclose(out.numpy(), ball(points), rtol=1e-5, atol=1e-5)
    normals = ball.gradient(tensor.double())
    assert isinstance(normals, torch.Tensor) and normals.dtype == torch.float64


def test_large_inputs_are_batched_with_the_same_results(ball_checkpoint):
    from neusdf.nn.field import load_field

    points = ((random_points(10_000) - CENTER) * SCALE).astype(np.float32)
    whole = neusdf.load(ball_checkpoint).normalized_sdf(points)
    # Equal up to float32 rounding (BLAS blocks a matrix product differently per batch size).
    np.testing.assert_allclose(
        load_field(ball_checkpoint, batch_size=777)(points), whole, rtol=1e-6, atol=1e-6
    )


def test_normals_match_the_analytic_normal_of_the_sphere(ball):
    rng = np.random.default_rng(3)
    directions = rng.normal(size=(2000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    on_surface = CENTER + directions * RADIUS * rng.uniform(0.97, 1.03, (2000, 1))
    normals = ball.gradient(on_surface)
    assert normals.shape == (2000, 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-9)
    cosine = np.sum(normals * directions, axis=1)
    assert cosine.mean() > 0.98 and np.percentile(cosine, 5) > 0.9
    # Unit normals do not depend on the frame.
    in_normalized = ball.gradient((on_surface - CENTER) * SCALE, frame="normalized")
    np.testing.assert_allclose(in_normalized, normals, atol=1e-6)


def test_mesh_lies_on_the_sphere_in_the_chosen_frame(ball):
    mesh = ball.mesh(resolution=48)
    assert len(mesh.faces) > 100
    radii = np.linalg.norm(mesh.vertices - CENTER, axis=1)
    assert abs(np.median(radii) - RADIUS) < 0.03 * RADIUS
    assert mesh.metadata["extraction"]["frame"] == "original"
    normalized = ball.mesh(resolution=48, frame="normalized")
    np.testing.assert_allclose(normalized.vertices, (mesh.vertices - CENTER) * SCALE, atol=1e-9)


def test_info_describes_the_checkpoint(ball, ball_checkpoint):
    info = ball.info
    assert info["model_name"] == "small"
    assert info["format_version"] == 2 and info["format"] == "neusdf-checkpoint"
    assert info["normalization"] == {"center": CENTER.tolist(), "scale": SCALE}
    np.testing.assert_allclose(info["bounds"], [CENTER - 1 / SCALE, CENTER + 1 / SCALE])
    assert info["n_parameters"] == info["n_encoding_parameters"] + info["n_network_parameters"]
    assert info["n_network_parameters"] == 12 * 32 + 32
    assert info["trained_backend"] == "fast" and info["backend"] == "fast-numpy"
    assert info["file_bytes"] == ball_checkpoint.stat().st_size
    assert info["metrics"] is None  # not inside a results/ tree


def test_every_backend_reads_a_checkpoint_from_any_backend(tmp_path, ball_checkpoint):
    points = random_points(3000)
    fast = neusdf.load(ball_checkpoint)
    reference = neusdf.load(ball_checkpoint, backend="reference")
    assert (fast.backend, reference.backend) == ("fast-numpy", "reference")
    np.testing.assert_allclose(reference(points), fast(points), atol=1e-5)
    # A checkpoint written by the reference backend, and one recorded as trained by tcnn on a GPU
    # (the stored weights are backend-independent), both load on this CPU-only machine.
    model = SDFNetwork(ball_model_config(), backend="reference", seed=1)
    with torch.no_grad():
        model.encoding.params.uniform_(-0.1, 0.1)  # any weights will do: only reading is tested
    save_checkpoint(tmp_path / "ref.safetensors", model, "small",
                    {"center": [0, 0, 0], "scale": 1.0}, {"device": "cuda"})  # fmt: skip
    checkpoint = read_checkpoint(tmp_path / "ref.safetensors")
    meta = {k: v for k, v in checkpoint.meta.items() if k not in ("format", "format_version")}
    write_checkpoint(tmp_path / "tcnn.safetensors", checkpoint.arrays, {**meta, "backend": "tcnn"})
    expected = model(torch.as_tensor(points / 20, dtype=torch.float32)).detach().numpy()
    for name in ("ref.safetensors", "tcnn.safetensors"):
        sdf = neusdf.load(tmp_path / name)
        assert sdf.backend == "fast-numpy"
        np.testing.assert_allclose(sdf(points / 20), expected, atol=1e-5)
    with pytest.raises(ValueError, match="tcnn"):
        neusdf.load(tmp_path / "tcnn.safetensors", backend="tcnn")


def test_bad_points_get_one_clear_error(ball):
    with pytest.raises(ValueError, match=r"shape \(N, 3\), got \(10, 2\)"):
        ball(np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"shape \(N, 3\), got \(3,\)"):
        ball(np.zeros(3))
    points = random_points(20)
    points[3, 1] = np.nan
    points[7, 0] = np.inf
    with pytest.raises(ValueError, match=r"2 row\(s\) with NaN or infinite values: 3, 7$"):
        ball(points)
    many = np.full((30, 3), np.nan)
    with pytest.raises(ValueError, match=r"30 row\(s\).*: 0, 1, .*, 9 and 20 more"):
        ball.gradient(many)
    with pytest.raises(ValueError, match="frame must be one of"):
        ball(random_points(2), frame="world")
    with pytest.raises(ValueError, match="dtype"):
        ball(np.array([["a", "b", "c"]]))


def test_bad_checkpoints_are_refused_with_one_line(tmp_path, ball_checkpoint):
    """Every refusal reaches the API user as one CheckpointError naming the file (the cases
    themselves: tests/test_checkpoint.py)."""
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(CheckpointError, match=re.escape("missing.safetensors: file not found")):
        neusdf.load(missing)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=re.escape("junk.safetensors: not a neusdf")):
        neusdf.load(junk)
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "neusdf-checkpoint", "model": torch.nn.Linear(2, 2)}, pickled)
    with pytest.raises(CheckpointError, match=re.escape("pickled.pt: not a neusdf checkpoint")):
        neusdf.load(pickled)


def test_import_neusdf_does_not_import_torch():
    code = "import sys, neusdf; assert 'torch' not in sys.modules; print(neusdf.__version__)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == neusdf.__version__
    assert neusdf.load.__module__ == "neusdf.api"


def test_load_and_query_on_a_cpu_never_import_torch(ball_checkpoint):
    code = (
        "import sys, numpy as np, neusdf\n"
        f"sdf = neusdf.load({str(ball_checkpoint)!r})\n"
        "d = sdf(np.zeros((5, 3))); n = sdf.gradient(np.ones((5, 3)))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print(sdf.backend)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "fast-numpy"


def test_checkpoint_doc_snippet_gives_the_same_distances_as_load(tmp_path, ball, ball_checkpoint):
    text = (REPO / "docs" / "checkpoint.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    assert not re.search(r"^\s*(import|from)\s+neusdf", blocks[0], flags=re.M)
    script = tmp_path / "eval_sdf.py"
    script.write_text(blocks[0])
    points = random_points(4000, seed=5)
    points[:10] += 3.0 / SCALE  # a few points outside the normalized cube: the extension
    points[10:20] *= 100.0  # and far away
    np.save(tmp_path / "points.npy", points)
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(script), str(ball_checkpoint), "points.npy", "out.npy"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), ball(points), rtol=1e-5, atol=1e-5)


def test_log_progress_writes_periodic_and_final_lines(caplog):
    caplog.set_level(logging.INFO, logger="neusdf.progress")
    bar = progress(4, "demo", "step", interval=0.05)
    assert isinstance(bar, LogProgress)  # stderr is not a terminal under pytest
    bar.update(1)
    import time

    time.sleep(0.2)  # the caller is busy: the reporter keeps writing lines
    bar.update(3)
    bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "demo: started (0/4 steps, 0%)"
    assert any(line.startswith("demo: 1/4 steps, 25%") for line in lines[1:-1])
    assert lines[-1].startswith("demo: done, 4/4 steps, 100%")
    fn = counted(lambda p: np.zeros(len(p)), bar := progress(10, "x", enabled=False))
    fn(np.zeros((5, 3)))
    assert bar.n == 0  # disabled: counts nothing


def test_progress_draws_a_tqdm_bar_on_a_terminal(monkeypatch):
    import fcntl
    import os
    import select
    import struct
    import termios

    from tqdm import tqdm

    leader, follower = os.openpty()
    # A fresh pty is 0 columns wide, which tqdm would fill with nothing: make it 100 x 30.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    drawn = b""
    with open(follower, "w") as terminal:
        monkeypatch.setattr(sys, "stderr", terminal)
        bar = progress(3, "demo", "step")
        assert isinstance(bar, tqdm)
        bar.update(3)
        bar.close()
        terminal.flush()
        while select.select([leader], [], [], 0.2)[0]:
            drawn += os.read(leader, 4096)
    os.close(leader)
    assert "demo: 100%" in drawn.decode() and "3/3" in drawn.decode()
