import math

import numpy as np
import pytest

from neusdf.evaluation.scores import confusion_counts, sign_scores, time_inference


def test_hand_worked_example():
    # true inside: points 0,1,2 ; predicted inside: 1,2,3
    true = np.array([-1.0, -1.0, -1.0, 1.0, 1.0, 1.0])
    pred = np.array([1.0, -0.5, -0.2, -0.1, 0.3, 2.0])
    assert confusion_counts(pred, true) == {"tp": 2, "fp": 1, "fn": 1, "tn": 2}
    s = sign_scores(pred, true)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)
    assert s["iou"] == pytest.approx(2 / 4)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["mae"] == pytest.approx(np.mean([2.0, 0.5, 0.8, 1.1, 0.7, 1.0]))


def test_inside_is_the_positive_class():
    true = np.array([-1.0, 1.0, 1.0, 1.0])
    everything_outside = np.ones(4)
    assert sign_scores(everything_outside, true)["f1"] == 0.0
    assert sign_scores(everything_outside, true)["accuracy"] == 0.75


def test_undefined_scores_are_nan_not_zero():
    all_outside = np.ones(5)
    s = sign_scores(all_outside, all_outside)
    assert math.isnan(s["f1"]) and math.isnan(s["precision"]) and s["accuracy"] == 1.0


def test_zero_counts_as_outside():
    assert confusion_counts(np.array([0.0]), np.array([0.0]))["tn"] == 1


def test_timing_reports_median_of_repeats_after_warmup():
    calls = []
    result = time_inference(lambda: calls.append(1), device="cpu", repeats=5, warmup=2)
    assert len(calls) == 7
    assert result["repeats"] == 5
    assert result["min_ms"] <= result["median_ms"] <= result["max_ms"]
