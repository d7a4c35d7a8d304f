import numpy as np
import pytest
import torch

from neusdf.mesh.points import sample_near_surface, sample_volume
from neusdf.nn.models import SDFNetwork, predict_sdf
from neusdf.nn.training import sdf_loss, train_sdf
from tests.conftest import sphere_sdf


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
