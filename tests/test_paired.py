"""Accuracy differences with their uncertainty: exact McNemar, paired bootstrap, images that would decide."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.core.paired import _binomial_two_sided, describe, images_to_decide, paired_difference


def test_exact_binomial_matches_known_values():
    assert _binomial_two_sided(0, 0) == 1.0
    assert _binomial_two_sided(0, 5) == pytest.approx(2 / 32)  # P(0) + P(5)
    assert _binomial_two_sided(1, 6) == pytest.approx(2 * (1 + 6) / 64)
    assert _binomial_two_sided(3, 6) == pytest.approx(1.0)


def test_a_small_difference_on_144_images_is_within_noise():
    # the efficientnet_b0 case of issue 16: INT8 3.47 points below FP32 on 144 photos = 5 net images
    a = np.ones(144, bool)
    b = a.copy()
    a[:2] = False  # FP32 wrong, INT8 right on 2
    b[2:9] = False  # INT8 wrong, FP32 right on 7
    result = paired_difference(a, b)
    assert result["difference_points"] == pytest.approx(-100 * 5 / 144)
    assert (result["b_only"], result["a_only"]) == (2, 7)
    assert result["mcnemar_p"] == pytest.approx(_binomial_two_sided(2, 9)) and result["mcnemar_p"] > 0.05
    low, high = result["interval_points"]
    assert low < result["difference_points"] < high and low < 0
    assert not result["significant"] and "within noise" in result["words"]
    assert result["images_to_decide"] > 144 and f"about {result['images_to_decide']} images" in result["words"]
    assert describe(result).startswith("INT8 vs FP32: -3.47 points [")


def test_a_large_difference_is_called_real():
    a = np.ones(200, bool)
    b = a.copy()
    b[:40] = False
    result = paired_difference(a, b)
    assert result["significant"] and result["mcnemar_p"] < 1e-6 and "a real difference" in result["words"]
    assert result["interval_points"][1] < 0


def test_identical_models_and_bad_input():
    same = np.array([True, False, True])
    result = paired_difference(same, same)
    assert result["difference_points"] == 0 and result["mcnemar_p"] == 1.0 and result["images_to_decide"] is None
    with pytest.raises(ValueError):
        paired_difference([True], [True, False])
    assert images_to_decide(0.0, 0.1) is None


def test_report_pairs_each_operating_point_with_its_devices_fp32():
    from edgecnn.report.differences import accuracy_differences

    def row(device, engine, precision, correct, batch=1):
        return {"device": device, "engine": engine, "precision": precision, "batch": batch, "top1": correct.count("1") /
                len(correct), "correct": correct}

    rows = [row("pc", "ort", "fp32", "1111011110"), row("pc", "ort", "int8", "1111011100"),
            row("pc", "openvino", "int8", "1111111110"), row("pc", "ort", "int8", "0000000000", batch=8),
            row("pi", "ort", "int8", "1111111111"),  # no FP32 on that device: nothing to pair with
            row("pc", "torch", "fp32", "111")]  # other images: not paired
    found = {d["artifact"]: d for d in accuracy_differences(rows)}
    assert set(found) == {"ort int8", "openvino int8"}
    assert found["ort int8"]["difference_points"] == pytest.approx(-10.0) and found["ort int8"]["a_only"] == 1
    assert found["openvino int8"]["b_only"] == 1 and found["openvino int8"]["reference"] == "ort fp32"
    assert found["ort int8"]["line"].startswith("ort int8 vs ort fp32: -10.00 points")


def test_pareto_plot_bars_span_each_points_paired_interval():
    from edgecnn.report.plots import _difference_bars, plot_pareto

    def row(engine, precision, correct, p50):
        return {"device": "pc", "engine": engine, "precision": precision, "batch": 1, "p50_ms": p50,
                "file_size_mib": 1.0, "top1": correct.count("1") / len(correct), "correct": correct}

    rows = [row("ort", "fp32", "1" * 90 + "0" * 10, 5.0), row("ort", "int8", "1" * 80 + "0" * 20, 2.0)]
    points = rows  # operating points are the rows themselves here (one batch each)
    bars = _difference_bars(rows, points, [90.0, 80.0])
    assert set(bars) == {1}  # only INT8 has a reference to differ from
    low, high = bars[1]
    assert low < 80.0 < high < 90.0  # 10 images lost of 100: the bar holds INT8's level and stays below FP32's
    figure = plot_pareto(rows)
    from matplotlib.collections import LineCollection

    segments = [s for c in figure.axes[0].collections if isinstance(c, LineCollection) for s in c.get_segments()]
    assert any(abs(s[0][1] - low) < 1e-6 and abs(s[1][1] - high) < 1e-6 for s in segments), segments


def test_a_bootstrap_over_images_for_a_metric_of_pooled_counts():
    """Mean IoU pools pixel counts over images: its difference's interval comes from resampling whole images."""
    from edgecnn.core.device import segmentation_metrics
    from edgecnn.core.paired import paired_bootstrap

    def mean_iou(stack):
        return segmentation_metrics(np.asarray(stack).sum(0))["mean_iou"]

    good = np.array([[[90, 10], [10, 90]]] * 20)
    same = paired_bootstrap(good, good, mean_iou)
    assert same["difference_points"] == 0 and same["interval_points"] == [0.0, 0.0] and not same["significant"]
    worse = good.copy()
    worse[:, 0, 1], worse[:, 0, 0] = 40, 60  # every image loses 30 pixels of class 0 to class 1
    real = paired_bootstrap(good, worse, mean_iou)
    assert real["significant"] and real["interval_points"][1] < 0
    assert real["difference_points"] == pytest.approx(100 * (mean_iou(worse) - mean_iou(good)))
    mixed = good.copy()
    mixed[:2, 0, 1], mixed[:2, 0, 0] = 40, 60  # two images of twenty worse, two better
    mixed[2:4, 0, 1], mixed[2:4, 0, 0] = 0, 100
    noisy = paired_bootstrap(good, mixed, mean_iou)
    assert not noisy["significant"] and noisy["interval_points"][0] < 0 < noisy["interval_points"][1]
    assert describe(noisy).startswith("INT8 vs FP32:") and "paired bootstrap over 20 images" in describe(noisy)
    few = paired_bootstrap(good[:5], worse[:5], mean_iou)  # the same loss on every image, but only 5 images
    assert few["interval_points"][1] < 0 and not few["significant"] and "only 5 images: too few" in few["words"]
