import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neusdf.evaluation.plots import plot_sdf_slices, plot_summary, slice_points, summary_figure_size

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails unless the file is a PNG."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def sphere(radius, offset=(0.0, 0.0, 0.0)):
    def sdf(points):
        return np.linalg.norm(points - np.asarray(offset, np.float32), axis=1) - radius

    return sdf


def no_temporaries_left(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".tmp" in p.name]


def test_slice_points_layout():
    points = slice_points("y", resolution=5, bound=0.5)
    assert points.shape == (5, 5, 3) and points.dtype == np.float32
    assert np.all(points[..., 1] == 0)
    # Columns walk x (horizontal), rows walk z (vertical), both increasing.
    np.testing.assert_allclose(points[0, :, 0], np.linspace(-0.5, 0.5, 5))
    np.testing.assert_allclose(points[:, 0, 2], np.linspace(-0.5, 0.5, 5))


def test_sdf_slices_png(tmp_path):
    out = tmp_path / "plots" / "hashgrid" / "sphere.png"
    written = plot_sdf_slices(
        sphere(0.5),
        sphere(0.48, (0.05, 0.02, 0.0)),
        out,
        resolution=32,
        title="hashgrid / sphere",
        batch_size=500,
        figsize=(6.0, 6.5),
        dpi=50,
    )
    assert written == out and out.is_file()
    assert png_size(out) == (300, 325)
    assert no_temporaries_left(out.parent)


@pytest.mark.parametrize(
    "pred",
    [
        lambda p: np.full(len(p), np.nan),  # a broken network
        lambda p: np.full(len(p), 1.0),  # no surface at all
        lambda p: np.zeros(len(p)),  # identical to nothing, error still defined
    ],
)
def test_sdf_slices_tolerate_nan_and_missing_surfaces(tmp_path, pred):
    out = tmp_path / "slices.png"
    plot_sdf_slices(sphere(0.5), pred, out, resolution=16, figsize=(6.0, 6.0), dpi=40)
    assert png_size(out) == (240, 240)


def test_sdf_slices_identical_fields(tmp_path):
    # Zero error everywhere must not break the error colour scale.
    out = tmp_path / "same.png"
    plot_sdf_slices(sphere(0.5), sphere(0.5), out, resolution=16, figsize=(6.0, 6.0), dpi=40)
    assert png_size(out) == (240, 240)


def summary_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b", "b"],
            "object": ["sphere", "torus", "plate", "sphere", "torus", "plate"],
            "status": ["ok", "ok", "failed", "ok", "ok", "ok"],
            "surface_f1": [0.99, 0.95, np.nan, 0.9, 0.8, 0.5],
            "volume_f1": [0.999, 0.99, np.nan, 0.98, 0.97, np.nan],
            "chamfer_l1": [0.002, 0.004, np.nan, 0.006, 0.01, np.nan],
        }
    )


def test_summary_png(tmp_path):
    out = tmp_path / "summary.png"
    plot_summary(summary_frame(), out, dpi=40)
    width, height = summary_figure_size(n_models=2, n_objects=3, n_metrics=3)
    assert png_size(out) == (round(width * 40), round(height * 40))
    assert no_temporaries_left(tmp_path)


def test_summary_without_chamfer_column(tmp_path):
    out = tmp_path / "summary.png"
    plot_summary(summary_frame().drop(columns=["chamfer_l1", "status"]), out, dpi=40)
    width, height = summary_figure_size(n_models=2, n_objects=3, n_metrics=2)
    assert png_size(out) == (round(width * 40), round(height * 40))


def test_summary_all_nan_and_empty(tmp_path):
    frame = summary_frame()
    frame[["surface_f1", "volume_f1", "chamfer_l1"]] = np.nan
    plot_summary(frame, tmp_path / "nan.png", dpi=30)
    assert png_size(tmp_path / "nan.png")[0] > 0
    empty = pd.DataFrame(columns=["model", "object", "surface_f1", "volume_f1"])
    plot_summary(empty, tmp_path / "empty.png", dpi=30)
    assert png_size(tmp_path / "empty.png")[0] > 0
