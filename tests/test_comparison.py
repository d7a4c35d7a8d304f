"""models.csv and models.png from a summary: exact means and spreads, failures left out."""

from __future__ import annotations

import math

import pandas as pd
from PIL import Image

from neusdf.evaluation.comparison import model_comparison, write_model_comparison


def summary_frame() -> pd.DataFrame:
    rows = [
        ("hashgrid", "a", "ok", 0.99, 0.8, 48_813_693),
        ("hashgrid", "b", "ok", 0.97, 0.9, 48_813_693),
        ("exact", "a", "ok", 0.90, 0.1, 500),
        ("exact", "b", "failed", math.nan, math.nan, math.nan),
        ("mlp", "a", "ok", 0.50, 2.0, 100),
    ]
    frame = pd.DataFrame(
        rows,
        columns=["model", "object", "status", "surface_f1", "train_seconds", "checkpoint_bytes"],
    )
    frame["kind"] = frame["model"].map(
        {"hashgrid": "hashgrid", "exact": "exact_grid", "mlp": "mlp"}
    )
    frame.loc[frame["status"] == "failed", "kind"] = ""
    return frame


def test_means_spreads_and_order():
    table = model_comparison(summary_frame(), models=["exact", "hashgrid"])
    assert list(table["model"]) == ["exact", "hashgrid", "mlp"]  # given order, then the rest
    hashgrid = table.set_index("model").loc["hashgrid"]
    assert hashgrid["surface_f1_mean"] == (0.99 + 0.97) / 2
    assert (hashgrid["surface_f1_min"], hashgrid["surface_f1_max"]) == (0.97, 0.99)
    assert hashgrid["train_seconds"] == (0.8 + 0.9) / 2
    exact = table.set_index("model").loc["exact"]
    assert (exact["kind"], exact["objects"], exact["failed"]) == ("exact_grid", 1, 1)
    assert exact["surface_f1_mean"] == 0.90 and exact["checkpoint_bytes"] == 500
    # metrics absent from the summary are NaN, not an error
    assert math.isnan(hashgrid["hausdorff_95_mean"])


def test_write_csv_and_figure(tmp_path):
    summary = tmp_path / "summary.csv"
    summary_frame().to_csv(summary, index=False)
    table = write_model_comparison(summary, tmp_path / "models.csv", tmp_path / "models.png")
    written = pd.read_csv(tmp_path / "models.csv")
    assert written["model"].tolist() == table["model"].tolist()
    assert written["checkpoint_bytes"].tolist() == [500, 48_813_693, 100]  # exact, not %.6g
    with Image.open(tmp_path / "models.png") as image:
        assert image.size == (1200, 500)


def test_figure_of_objects_with_equal_scores(tmp_path):
    """Many objects with one score: their mean can round past it, and the figure still draws."""
    value = 0.9966
    frame = pd.DataFrame(
        {
            "model": ["tiny"] * 100,
            "object": [f"o{i}" for i in range(100)],
            "status": ["ok"] * 100,
            "surface_f1": [value] * 100,
            "train_seconds": [0.5] * 100,
            "checkpoint_bytes": [1000] * 100,
            "kind": ["hashgrid"] * 100,
        }
    )
    assert frame["surface_f1"].mean() > value  # the mean rounds past every value
    summary = tmp_path / "summary.csv"
    frame.to_csv(summary, index=False)
    write_model_comparison(summary, tmp_path / "models.csv", tmp_path / "models.png")
    assert (tmp_path / "models.png").stat().st_size > 0
