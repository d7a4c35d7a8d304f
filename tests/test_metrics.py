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


def test_distance_errors_are_reported_by_band_of_the_true_distance():
    from neusdf.evaluation.scores import distance_errors

    true = np.array([0.001, -0.01, 0.05, -0.08, 0.2, 0.5, -0.9, 0.31])
    pred = true + np.array([0.001, -0.002, 0.0, 0.03, 0.1, -0.2, 0.4, 0.0])
    record = distance_errors(pred, true)
    assert record["sdf_error_n_near"] == 2 and record["sdf_error_max_near"] == pytest.approx(0.002)
    assert record["sdf_error_p50_near"] == pytest.approx(0.0015)
    assert record["sdf_error_max_shell"] == pytest.approx(0.03)
    assert record["sdf_error_n_mid"] == 1 and record["sdf_error_p99_mid"] == pytest.approx(0.1)
    assert record["sdf_error_n_far"] == 3 and record["sdf_error_max_far"] == pytest.approx(0.4)
    empty = distance_errors(np.array([0.5]), np.array([0.5]))
    assert math.isnan(empty["sdf_error_p99_near"]) and empty["sdf_error_n_near"] == 0


def test_normal_angles_against_the_exact_normals_of_a_sphere(sphere_mesh):
    from neusdf.evaluation.surface import normal_angles, prepare_surface

    truth = prepare_surface(sphere_mesh, 1000, seed=0)
    rng = np.random.default_rng(4)
    directions = rng.normal(size=(2000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    points = directions * rng.uniform(0.75, 0.85, (2000, 1))
    sdf = np.linalg.norm(points, axis=1) - 0.8
    exact = normal_angles(directions, points, sdf, truth)
    # Faceting of the icosphere (subdivision 3) tilts the exact normal by a few degrees.
    assert exact["normal_points"] == 2000 and exact["normal_angle_p95"] < 6.0
    tilted = directions + 0.2 * np.cross(directions, [0.0, 0.0, 1.0])
    tilted /= np.linalg.norm(tilted, axis=1, keepdims=True)
    assert (
        normal_angles(tilted, points, sdf, truth)["normal_angle_mean"]
        > exact["normal_angle_mean"] + 3.0
    )
    flipped = normal_angles(-directions, points, sdf, truth)
    assert flipped["normal_angle_mean"] > 170.0
