import numpy as np
import torch

from neusdf.nn.field import load_field
from neusdf.nn.models import SDFNetwork, predict_sdf, save_checkpoint


def test_default_model_has_tcnn_parameter_counts():
    config = {
        "encoding": {
            "n_levels": 16,
            "n_features_per_level": 2,
            "log2_hashmap_size": 19,
            "base_resolution": 16,
            "finest_resolution": 2048,
        },
        "network": {"n_neurons": 64, "n_hidden_layers": 2},
    }
    model = SDFNetwork(config, backend="reference", seed=0)
    assert model.encoding.params.numel() == 12_196_240
    assert sum(p.numel() for p in model.network.parameters()) == 32 * 64 + 64 * 64 + 64 * 1


def test_checkpoint_round_trip_across_backends(tmp_path, tiny_model_config):
    model = SDFNetwork(tiny_model_config, backend="fast", seed=0)
    with torch.no_grad():
        model.encoding.params.uniform_(-0.1, 0.1)
    path = tmp_path / "m.safetensors"
    size = save_checkpoint(path, model, "tiny", {"center": [1, 2, 3], "scale": 0.5}, {"s": 1.0})
    assert size == path.stat().st_size
    points = np.random.default_rng(0).uniform(-1, 1, (500, 3)).astype(np.float32)
    for backend in ("reference", "fast"):
        field = load_field(path, backend=backend)
        np.testing.assert_allclose(field(points), predict_sdf(model, points), atol=1e-6)
    assert field.checkpoint.meta["normalization"] == {"center": [1, 2, 3], "scale": 0.5}
    assert field.checkpoint.meta["model_name"] == "tiny"
