import json

import pandas as pd
import pytest

from neusdf.evaluation.summary import SUMMARY_COLUMNS, model_means, write_summary


def _metrics(tmp_path, model, obj, f1s, status="ok"):
    path = tmp_path / f"{model}-{obj}.json"
    record = {"model": model, "object": obj, "status": status, "error": "", "extra_key": 1.0}
    record.update({"surface_f1": f1s[0], "volume_f1": f1s[1], "train_seconds": 2.0})
    path.write_text(json.dumps(record))
    return path


def test_summary_has_stable_columns_rows_and_means(tmp_path):
    paths = [
        _metrics(tmp_path, "m", "b", (0.9, 0.95)),
        _metrics(tmp_path, "m", "a", (0.8, 0.85)),
        _metrics(tmp_path, "big", "a", (1.0, 1.0)),
    ]
    frame = write_summary(paths, tmp_path / "s.csv", tmp_path / "s.md")
    on_disk = pd.read_csv(tmp_path / "s.csv")
    assert list(on_disk.columns[: len(SUMMARY_COLUMNS)]) == SUMMARY_COLUMNS
    assert on_disk.columns[-1] == "extra_key"
    assert list(zip(frame["model"], frame["object"], strict=True)) == [
        ("big", "a"),
        ("m", "a"),
        ("m", "b"),
    ]
    md = (tmp_path / "s.md").read_text()
    assert "Per-model means" in md
    means = model_means(frame).set_index("model")
    assert means.loc["m", "surface_f1"] == pytest.approx(0.85)
    assert means.loc["m", "volume_f1"] == pytest.approx(0.9)
    assert means.loc["m", "objects"] == 2
    assert "| m " in md.split("## Per object")[0]


def test_failed_objects_are_listed_but_not_averaged(tmp_path):
    paths = [
        _metrics(tmp_path, "m", "good", (0.9, 0.9)),
        _metrics(tmp_path, "m", "bad", (float("nan"), float("nan")), status="failed"),
    ]
    frame = write_summary(paths, tmp_path / "s.csv", tmp_path / "s.md")
    assert set(frame["status"]) == {"ok", "failed"}
    md = (tmp_path / "s.md").read_text()
    means = model_means(frame)
    assert means["objects"].tolist() == [1]
    assert means["surface_f1"].tolist() == [pytest.approx(0.9)]
    assert means.to_markdown(index=False, floatfmt=".4g") in md
    assert frame.loc[frame.object == "good", "surface_f1"].item() == pytest.approx(0.9)


def test_outputs_doc_lists_exactly_the_summary_columns():
    from neusdf.evaluation.record import markdown_table
    from tests.helpers import REPO

    assert markdown_table() in (REPO / "docs" / "outputs.md").read_text()
