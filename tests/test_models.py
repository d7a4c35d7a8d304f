import pickle

import numpy as np
import pytest
import torch

from neusdf.errors import CheckpointError
from neusdf.nn.models import (
    SDFNetwork,
    count_parameters,
    load_checkpoint,
    predict_sdf,
    read_checkpoint,
    save_checkpoint,
)


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
    assert count_parameters(model.network) == 32 * 64 + 64 * 64 + 64 * 1


def test_checkpoint_round_trip_across_backends(tmp_path, tiny_model_config):
    model = SDFNetwork(tiny_model_config, backend="fast", seed=0)
    with torch.no_grad():
        model.encoding.params.uniform_(-0.1, 0.1)
    path = tmp_path / "m.pt"
    size = save_checkpoint(path, model, "tiny", {"center": [1, 2, 3], "scale": 0.5}, {"s": 1.0})
    assert size == path.stat().st_size
    points = np.random.default_rng(0).uniform(-1, 1, (500, 3)).astype(np.float32)
    for backend in ("reference", "fast"):
        loaded, payload = load_checkpoint(path, backend=backend)
        np.testing.assert_allclose(
            predict_sdf(loaded, points), predict_sdf(model, points), atol=1e-6
        )
    assert payload["normalization"] == {"center": [1, 2, 3], "scale": 0.5}
    assert payload["model_name"] == "tiny"


class Sneaky:
    def __reduce__(self):
        return (print, ("this would run code on load",))


def test_pickled_object_checkpoint_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "neusdf-checkpoint", "payload": Sneaky()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(Sneaky()))
    with pytest.raises(CheckpointError, match=str(raw)):
        read_checkpoint(raw)


def test_foreign_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a neusdf checkpoint"):
        read_checkpoint(path)
