import h5py
import numpy as np
import pytest

from neusdf.errors import SampleFileError
from neusdf.mesh.samples import PointSet, read_attrs, read_samples, write_samples


def _sets(n=100, seed=0):
    rng = np.random.default_rng(seed)

    def one(k, source=False):
        return PointSet(
            rng.uniform(-1, 1, (k, 3)).astype(np.float32),
            rng.normal(size=k).astype(np.float32),
            np.zeros(k, np.uint8) if source else None,
        )

    return {"train": one(n, True), "test/surface": one(n), "test/volume": one(2 * n)}


def test_round_trip_keeps_arrays_and_attributes(tmp_path):
    path = tmp_path / "s.h5"
    sets = _sets()
    write_samples(path, sets, {"engine": "pysdf", "seeds": {"a": 1}, "counts": {"train": 100}})
    for split, expected in sets.items():
        got = read_samples(path, split)
        np.testing.assert_array_equal(got.points, expected.points)
        np.testing.assert_array_equal(got.sdf, expected.sdf)
    attrs = read_attrs(path)
    assert attrs["engine"] == "pysdf" and attrs["seeds"] == {"a": 1}
    assert attrs["sign_convention"] == "negative inside"


def _corrupt(path, fn):
    with h5py.File(path, "r+") as h5:
        fn(h5)


@pytest.mark.parametrize(
    ("corruption", "message"),
    [
        (lambda h5: h5["train"].pop("sdf"), "missing train"),
        (
            lambda h5: (
                h5["train"].pop("sdf"),
                h5["train"].create_dataset("sdf", data=np.zeros(100)),
            ),
            "float32",
        ),
        (
            lambda h5: (
                h5["train"].pop("points"),
                h5["train"].create_dataset("points", data=np.zeros((100, 2), np.float32)),
            ),
            "shape",
        ),
        (lambda h5: h5["train/sdf"].__setitem__(5, np.nan), "NaN"),
        (lambda h5: h5.attrs.__setitem__("format", "other"), "not a neusdf sample file"),
    ],
)
def test_invalid_files_are_rejected_with_the_reason(tmp_path, corruption, message):
    path = tmp_path / "s.h5"
    write_samples(path, _sets(), {})
    _corrupt(path, corruption)
    with pytest.raises(SampleFileError, match=message):
        read_samples(path, "train")


def test_not_hdf5_is_rejected(tmp_path):
    path = tmp_path / "s.h5"
    path.write_bytes(b"definitely not hdf5")
    with pytest.raises(SampleFileError, match="not a readable HDF5"):
        read_samples(path, "train")
