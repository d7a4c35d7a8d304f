"""The checkpoint file (neusdf.nn.checkpoint): a safetensors file any reader opens, written and
read back exactly, and every malformed or foreign file refused with one line naming it."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from neusdf.errors import CheckpointError
from neusdf.nn.checkpoint import FORMAT, VERSION, read_checkpoint, write_checkpoint
from tests.helpers import NORMALIZATION, TINY_CONFIGS, saved


@pytest.mark.parametrize("kind", sorted(TINY_CONFIGS))
def test_round_trip_keeps_every_array_and_the_metadata(tmp_path, kind):
    path, model = saved(tmp_path, kind)
    checkpoint = read_checkpoint(path)
    state = model.state_dict()
    assert checkpoint.arrays.keys() == state.keys()
    for key, tensor in state.items():
        stored = checkpoint.arrays[key]  # float16 where the configuration says so
        np.testing.assert_array_equal(stored, tensor.numpy().astype(stored.dtype), err_msg=key)
    assert checkpoint.meta["format"] == FORMAT and checkpoint.meta["format_version"] == VERSION
    assert checkpoint.meta["normalization"] == NORMALIZATION
    assert checkpoint.meta["model_config"] == model.model_config
    assert checkpoint.kind == TINY_CONFIGS[kind]["kind"] and checkpoint.meta["model_name"] == "m"
    assert checkpoint.n_parameters == sum(p.numel() for p in model.parameters())


def test_float16_storage_halves_the_table_on_disk(tmp_path):
    full, model = saved(tmp_path, "hashgrid", "float32")
    half, _ = saved(tmp_path, "hashgrid", "float16")
    n_table = model.n_table_parameters()
    assert full.stat().st_size - half.stat().st_size == pytest.approx(2 * n_table, abs=64)
    table = read_checkpoint(half).arrays["encoding.params"]
    assert table.dtype == np.float16


def test_any_safetensors_reader_opens_it(tmp_path):
    """The official safetensors library (torch and numpy front ends) reads what we write."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path, model = saved(tmp_path, "deepsdf")
    tensors = load_file(path)
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensors[key], tensor), key
    with safe_open(path, framework="np") as handle:
        meta = json.loads(handle.metadata()["neusdf"])
    assert meta["model_config"]["kind"] == "deepsdf"


def write_raw(path, header: dict, body: bytes) -> None:
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + body)


def test_foreign_and_broken_files_are_refused_with_one_line(tmp_path):
    good, _ = saved(tmp_path, "mlp")
    data = good.read_bytes()
    cases = {}

    class Sneaky:
        def __reduce__(self):
            return (print, ("this would run code on load",))

    pickled = tmp_path / "pickled.pt"
    torch.save({"format": FORMAT, "payload": Sneaky()}, pickled)  # a torch zip pickle
    cases[pickled] = "not a neusdf checkpoint"
    raw = tmp_path / "raw.safetensors"
    raw.write_bytes(pickle.dumps(Sneaky()))
    cases[raw] = "not a neusdf checkpoint"
    cases[tmp_path / "missing.safetensors"] = "file not found"
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[:-10])
    cases[truncated] = "do not add up \\(truncated file\\?\\)"
    padded = tmp_path / "padded.safetensors"
    padded.write_bytes(data + b"\0" * 8)
    cases[padded] = "bytes after the last array"
    foreign = tmp_path / "foreign.safetensors"
    write_checkpoint(foreign, {"w": np.zeros(3, np.float32)}, {})
    foreign.write_bytes(foreign.read_bytes().replace(FORMAT.encode(), b"other-checkpoin"))
    cases[foreign] = "not a neusdf checkpoint"
    meta = {"format": FORMAT, "normalization": NORMALIZATION}
    newer = tmp_path / "newer.safetensors"
    write_raw(newer, {"__metadata__": {"neusdf": json.dumps({**meta, "format_version": 99})}}, b"")
    cases[newer] = "written by a newer neusdf \\(format 99 > 2\\); upgrade neusdf"
    lacking = tmp_path / "lacking.safetensors"
    write_raw(lacking, {"__metadata__": {"neusdf": json.dumps({**meta, "format_version": 2})}}, b"")
    cases[lacking] = "metadata lacks"
    nan = tmp_path / "nan.safetensors"
    header = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    full = {"format_version": 2, "neusdf_version": "x", "model_name": "m", "model_config": {},
            "training": {}, **meta}  # fmt: skip
    write_raw(nan, {**header, "__metadata__": {"neusdf": json.dumps(full)}},
              np.array([1.0, np.nan], np.float32).tobytes())  # fmt: skip
    cases[nan] = "NaN or infinite"
    for path, reason in cases.items():
        with pytest.raises(CheckpointError, match=reason) as caught:
            read_checkpoint(path)
        message = str(caught.value)
        assert message.startswith(str(path)) and "\n" not in message, message
