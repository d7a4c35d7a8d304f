"""Torch-free CPU inference (nn.weights, nn.numpy_field, pipeline.field) against its reference,
the torch model: the same payload, the same values, the same refusals, and evaluating jobs that
really run without importing torch."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from neusdf.errors import CheckpointError
from neusdf.nn.models import (
    build_model,
    load_checkpoint,
    predict_sdf,
    read_checkpoint,
    save_checkpoint,
)
from neusdf.nn.numpy_field import HashGridField
from neusdf.nn.weights import read_checkpoint_arrays
from neusdf.pipeline.compute import Compute
from neusdf.pipeline.field import load_trained_field, runs_without_torch
from tests.conftest import REPO, TINY_KINDS
from tests.test_models import Sneaky
from tests.test_throughput import ENV

POINTS = np.random.default_rng(0).uniform(-1.1, 1.1, (3000, 3)).astype(np.float32)


def _checkpoint(tmp_path, kind: str, storage: str = "float32"):
    config = {**TINY_KINDS[kind]}
    if kind == "hashgrid":
        config["encoding"] = {**config["encoding"], "storage": storage}
    model = build_model(config, backend="fast", seed=3)
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.3, 0.3)  # not the initial values: every weight matters
    path = tmp_path / f"{kind}-{storage}.pt"
    training = dict(seconds=1.0, points_per_second=1.0, final_loss=0.1, backend="fast")
    training.update(device="cpu", seed=3, kind=kind)
    save_checkpoint(path, model, "m", {"center": [0.5, 0, 0], "scale": 2.0}, training)
    return path, model


@pytest.mark.parametrize(
    ("kind", "storage"),
    [("hashgrid", "float32"), ("hashgrid", "float16"), ("deepsdf", "float32")],
)
@pytest.mark.parametrize("huge_pages", [False, True])
def test_reader_gives_torch_loads_payload(tmp_path, monkeypatch, kind, storage, huge_pages):
    if huge_pages:  # every storage through the huge-page path of the large tables
        monkeypatch.setattr("neusdf.nn.weights._LARGE_STORAGE_BYTES", 0)
    path, _ = _checkpoint(tmp_path, kind, storage)
    ours, theirs = read_checkpoint_arrays(path), read_checkpoint(path)
    assert ours.keys() == theirs.keys()
    assert {k: v for k, v in ours.items() if k != "state_dict"} == {
        k: v for k, v in theirs.items() if k != "state_dict"
    }
    assert ours["state_dict"].keys() == theirs["state_dict"].keys()
    for key, tensor in theirs["state_dict"].items():
        array = ours["state_dict"][key]
        assert array.dtype == tensor.numpy().dtype and array.flags.writeable, key
        np.testing.assert_array_equal(array, tensor.numpy(), err_msg=key)


@pytest.mark.parametrize("storage", ["float32", "float16"])
def test_numpy_field_matches_the_torch_model(tmp_path, storage):
    path, _ = _checkpoint(tmp_path, "hashgrid", storage)
    model, _ = load_checkpoint(path, backend="fast")
    arrays = read_checkpoint_arrays(path)
    field = HashGridField(arrays["model_config"], arrays["state_dict"], threads=1)
    expected = predict_sdf(model, POINTS)
    for batch_size in (2**16, 777):
        np.testing.assert_allclose(field(POINTS, batch_size=batch_size), expected, atol=2e-6)
    assert field.n_parameters == sum(p.numel() for p in model.parameters())
    assert field.n_table_parameters == model.n_table_parameters()


def test_numpy_field_gives_the_same_bits_on_any_number_of_threads(tmp_path):
    from neusdf.nn.numpy_field import MLP_ROWS

    path, _ = _checkpoint(tmp_path, "hashgrid")
    arrays = read_checkpoint_arrays(path)
    # Several MLP row blocks per batch, a short last one: the workers split them differently.
    points = np.random.default_rng(1).uniform(-1, 1, (2 * MLP_ROWS + 123, 3)).astype(np.float32)
    one = HashGridField(arrays["model_config"], arrays["state_dict"], threads=1)(points)
    for threads in (2, 3):
        field = HashGridField(arrays["model_config"], arrays["state_dict"], threads=threads)
        np.testing.assert_array_equal(field(points), one)
        assert field._pool is not None  # the rows really were split between workers


def test_reader_refuses_what_torch_refuses(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "neusdf-checkpoint", "payload": Sneaky()}, evil)
    with pytest.raises(
        CheckpointError, match=r"refused: holds a pickled \w+\.print, which is not plain data"
    ):
        read_checkpoint_arrays(evil)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Sneaky()))
    foreign = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "neusdf-checkpoint", "format_version": 99}, newer)
    for path, reason in ((raw, "not a readable"), (foreign, "not a neusdf"), (newer, "newer")):
        with pytest.raises(CheckpointError, match=reason) as caught:
            read_checkpoint_arrays(path)
        assert str(path) in str(caught.value)


def test_reader_refuses_a_truncated_storage(tmp_path):
    import zipfile

    path, _ = _checkpoint(tmp_path, "hashgrid")
    cut = tmp_path / "cut.pt"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(cut, "w") as dst:
        members = [info for info in src.infolist() if "/data/" in info.filename]
        largest = max(members, key=lambda info: info.file_size).filename
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, data[: len(data) // 2] if info.filename == largest else data)
    with pytest.raises(CheckpointError, match="truncated"):
        read_checkpoint_arrays(cut)


def test_trained_field_takes_the_torch_free_path_only_for_cpu_hash_grids(tmp_path):
    hashgrid, _ = _checkpoint(tmp_path, "hashgrid")
    mlp, model = _checkpoint(tmp_path, "mlp")
    cpu = Compute("fast", "cpu", 1)
    assert runs_without_torch(cpu) and runs_without_torch(Compute("auto", "cpu", 1))
    assert not runs_without_torch(Compute("reference", "cpu", 1))
    assert not runs_without_torch(Compute("fast", "cuda", 1))
    numpy_field = load_trained_field(str(hashgrid), cpu, 4096)
    torch_field = load_trained_field(str(hashgrid), Compute("reference", "cpu", 1), 4096)
    assert (numpy_field.backend, torch_field.backend) == ("fast-numpy", "reference")
    np.testing.assert_allclose(numpy_field.sdf(POINTS), torch_field.sdf(POINTS), atol=2e-6)
    assert numpy_field.normalization == torch_field.normalization
    assert numpy_field.n_parameters == torch_field.n_parameters
    other = load_trained_field(str(mlp), cpu, 4096)  # other kinds: the torch model
    assert other.backend == model.backend
    np.testing.assert_allclose(other.sdf(POINTS), predict_sdf(model, POINTS), atol=1e-6)


def test_extract_evaluate_and_plot_jobs_run_without_torch(tmp_path):
    """The three evaluating stages, on a real normalized mesh, real samples and a trained tiny
    hash grid, in a fresh process: torch, trimesh and pandas are never imported."""
    from neusdf.pipeline.normalize import normalize_object
    from neusdf.pipeline.sample import sample_object

    out = tmp_path
    normalize_object(str(REPO / "data/raw/sphere.obj"), f"{out}/n.ply", f"{out}/n.json", 0.9)
    sample_cfg = dict(
        train_surface=500, train_volume=500, test_surface=2000, test_volume=2000,
        near_surface_std=0.01, engine="pysdf", sign="auto",
    )  # fmt: skip
    sample_object(f"{out}/n.ply", f"{out}/n.json", f"{out}/s.h5", sample_cfg, 0, 1)
    checkpoint, _ = _checkpoint(tmp_path, "hashgrid")
    code = textwrap.dedent(
        f"""
        import sys
        from neusdf.pipeline.compute import Compute
from neusdf.threads import set_threads
        from neusdf.pipeline.evaluate import evaluate_object
        from neusdf.pipeline.extract import extract_object
        from neusdf.pipeline.plot import plot_object
        set_threads(1, torch_too=False)
        out, ckpt, compute = {str(out)!r}, {str(checkpoint)!r}, Compute("auto", "cpu", 1)
        extract_object(ckpt, out + "/m.ply", dict(resolution=32, batch_size=4096,
                       original_frame=False), compute)
        record = evaluate_object(ckpt, out + "/s.h5", out + "/m.ply", out + "/m.json",
                                 out + "/n.ply", out + "/metrics.json", "sphere", "m",
                                 dict(batch_size=4096, timing_points=1000, timing_repeats=2,
                                      timing_warmup=1), dict(n_samples=1000), compute, 0)
        plot_object(ckpt, out + "/n.ply", out + "/n.json", out + "/p.png", "m", dict(resolution=32),
                    {sample_cfg!r}, compute)
        print(record["eval_backend"], record["n_parameters"] > 0)
        print(sorted(name for name in ("torch", "trimesh", "pandas") if name in sys.modules))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-2:] == ["fast-numpy True", "[]"]
    assert (tmp_path / "p.png").stat().st_size > 0
