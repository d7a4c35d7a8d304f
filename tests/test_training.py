import numpy as np
import pytest
import torch

from neusdf.config import MODEL_SCHEMA
from neusdf.mesh.points import sample_near_surface, sample_volume
from neusdf.nn.models import SDFNetwork, predict_sdf
from neusdf.nn.training import epoch_indices, sdf_loss, train_sdf
from tests.helpers import sphere_sdf


@pytest.fixture
def sphere_data(sphere_mesh):
    points = np.concatenate(
        [
            sample_near_surface(sphere_mesh.vertices, sphere_mesh.faces, 8000, 0.01, seed=0),
            sample_volume(8000, seed=1),
        ]
    )
    return points, sphere_sdf(points, 0.8).astype(np.float32)


def test_losses_match_their_definitions():
    pred = torch.tensor([0.1, -0.2, 0.0])
    target = torch.tensor([0.0, -0.1, 0.5])
    assert sdf_loss(pred, target, "l1", 0.01).item() == pytest.approx((0.1 + 0.1 + 0.5) / 3)
    mape = (0.1 / 0.01 + 0.1 / 0.11 + 0.5 / 0.51) / 3
    assert sdf_loss(pred, target, "mape", 0.01).item() == pytest.approx(mape, rel=1e-6)
    with pytest.raises(ValueError, match="unknown loss"):
        sdf_loss(pred, target, "huber", 0.01)


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_training_lowers_the_loss_and_learns_the_sign(sphere_data, tiny_model_config, backend):
    points, sdf = sphere_data
    model = SDFNetwork(tiny_model_config, backend=backend, seed=0)
    before = np.mean(np.abs(predict_sdf(model, points) - sdf))
    result = train_sdf(model, points, sdf, tiny_model_config["training"], seed=0, progress=False)
    losses = [row["loss"] for row in result.history]
    # The first epoch's mean includes the fast initial descent: the last must still be lower.
    assert losses[-1] < 0.75 * losses[0]
    assert result.steps == tiny_model_config["training"]["epochs"] * 16
    pred = predict_sdf(model, points)
    assert np.mean(np.abs(pred - sdf)) < 0.5 * before
    assert np.mean((pred < 0) == (sdf < 0)) > 0.9


def test_training_is_deterministic_on_cpu(sphere_data, tiny_model_config):
    points, sdf = sphere_data
    preds = []
    for _ in range(2):
        model = SDFNetwork(tiny_model_config, backend="fast", seed=7)
        train_sdf(model, points, sdf, tiny_model_config["training"], seed=7, progress=False)
        preds.append(predict_sdf(model, points))
    np.testing.assert_array_equal(preds[0], preds[1])


def test_fast_and_reference_backends_train_alike(sphere_data, tiny_model_config):
    points, sdf = sphere_data
    tiny_model_config["training"]["epochs"] = 1
    preds = {}
    for backend in ("reference", "fast"):
        model = SDFNetwork(tiny_model_config, backend=backend, seed=3)
        train_sdf(model, points, sdf, tiny_model_config["training"], seed=3, progress=False)
        preds[backend] = predict_sdf(model, points)
    np.testing.assert_allclose(preds["fast"], preds["reference"], atol=1e-3)


# Per-epoch subsampling and the surface:volume mix


def _source(n_surface: int, n_volume: int) -> np.ndarray:
    return np.concatenate([np.zeros(n_surface, np.uint8), np.ones(n_volume, np.uint8)])


def _indices(source, points_per_epoch, surface_fraction, seed):
    generator = torch.Generator().manual_seed(seed)
    n = len(source)
    return epoch_indices(n, source, points_per_epoch, surface_fraction, generator).numpy()


def test_epoch_indices_without_options_are_a_permutation():
    order = _indices(_source(600, 400), None, None, seed=0)
    assert sorted(order.tolist()) == list(range(1000))
    assert not np.array_equal(order, np.arange(1000))


def test_epoch_indices_are_seeded():
    source = _source(600, 400)
    first = _indices(source, 300, 0.75, seed=5)
    assert np.array_equal(first, _indices(source, 300, 0.75, seed=5))
    assert not np.array_equal(first, _indices(source, 300, 0.75, seed=6))


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.75, 1.0])
def test_epoch_indices_honor_the_surface_fraction(fraction):
    source = _source(600, 400)
    order = _indices(source, 300, fraction, seed=1)
    assert len(order) == 300
    assert int(np.sum(source[order] == 0)) == round(fraction * 300)
    assert len(np.unique(order)) == 300  # no repeats while a pool lasts


def test_epoch_indices_cycle_a_pool_smaller_than_its_share():
    source = _source(50, 950)
    order = _indices(source, 400, 0.5, seed=2)  # 200 near-surface draws from 50 points
    surface = order[source[order] == 0]
    assert len(surface) == 200
    assert np.array_equal(np.bincount(surface, minlength=50), np.full(50, 4))


def test_epoch_indices_need_source_labels_for_a_fraction():
    with pytest.raises(ValueError, match="source labels"):
        epoch_indices(100, None, 50, 0.5, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="volume points"):
        _indices(_source(100, 0), 50, 0.5, seed=0)


def test_subsampled_training_takes_the_configured_steps_and_is_deterministic(
    sphere_data, tiny_model_config
):
    points, sdf = sphere_data
    source = _source(8000, 8000)
    training = {**tiny_model_config["training"], "points_per_epoch": 3000, "surface_fraction": 0.8}
    preds = []
    for _ in range(2):
        model = SDFNetwork(tiny_model_config, backend="fast", seed=4)
        result = train_sdf(model, points, sdf, training, seed=4, progress=False, source=source)
        preds.append(predict_sdf(model, points))
    epochs = training["epochs"]
    assert result.steps == epochs * 3  # ceil(3000 / 1024) steps per epoch
    assert [row["points"] for row in result.history] == [3000] * epochs
    np.testing.assert_array_equal(preds[0], preds[1])


def test_schema_defaults_keep_the_full_shuffled_epoch(tiny_model_config):
    from snakemake.utils import validate

    training = tiny_model_config["training"]
    for key in ("points_per_epoch", "surface_fraction", "lr_schedule", "lr_final_factor"):
        del training[key]
    validate(tiny_model_config, str(MODEL_SCHEMA))
    assert training["points_per_epoch"] is None and training["surface_fraction"] is None
    assert training["lr_schedule"] == "cosine" and training["lr_final_factor"] == 0.01


def test_adam_matches_torch_adam_and_never_imports_dynamo():
    """Our Adam (nn.layers) is torch.optim.Adam's update, step for step, with a changing lr; a
    fresh process that trains never imports torch._dynamo (the 1.8 s it was written to avoid)."""
    import subprocess
    import sys

    from neusdf.nn.layers import Adam, build_mlp

    ours, theirs = build_mlp(3, 16, 2, seed=1), build_mlp(3, 16, 2, seed=1)
    opt_ours = Adam(ours.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=1e-2, betas=(0.9, 0.99), eps=1e-15)
    points = torch.rand(64, 3, generator=torch.Generator().manual_seed(0))
    for step in range(25):
        opt_ours.lr = 1e-2 / (1 + step)
        opt_theirs.param_groups[0]["lr"] = 1e-2 / (1 + step)
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            (model(points) - points.norm(dim=1, keepdim=True) + 0.5).abs().mean().backward()
            opt.step()
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not all(
        torch.equal(a, b)
        for a, b in zip(ours.parameters(), build_mlp(3, 16, 2, 1).parameters(), strict=True)
    )

    code = (
        "import sys, torch\n"
        "from neusdf.nn.layers import adam, build_mlp\n"
        "m = build_mlp(3, 8, 1, seed=0)\n"
        "opt = adam(m.parameters(), 1e-2, {'betas': [0.9, 0.99], 'eps': 1e-15})\n"
        "m(torch.rand(4, 3)).sum().backward(); opt.step()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
