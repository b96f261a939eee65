"""Figures to a few percent: nothing of edgecnn's runs beside the timed window, memory still measured in a pass
of its own, ratios between candidates carry intervals, and a pick the rounds cannot make is called a tie."""

from __future__ import annotations

import copy
import threading

import onnx
import pytest

from edgecnn.core import device
from edgecnn.core.rounds import median_interval, paired_ratio


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    path = tmp_path_factory.mktemp("window") / "m.onnx"
    export_onnx(create_model("mobilenet_v1_025", input_size=32, num_classes=5), path, batch="dynamic")
    return path


def _spy_profile(path, monkeypatch):
    """Profile ``path`` on ONNX Runtime, recording the threads alive at each inference, apart for the timed
    window (inside time_calls) and the rest."""
    from edgecnn.engines.ort_engine import OrtRunner
    from edgecnn.profile import latency
    from edgecnn.profile.options import ProfileSettings
    from edgecnn.profile.run import profile

    state = {"timing": False}
    seen = {"timed": set(), "other": set()}
    infer, time_calls = OrtRunner.infer, latency.time_calls

    def spying_infer(self, feed):
        seen["timed" if state["timing"] else "other"].update(t.name for t in threading.enumerate())
        return infer(self, feed)

    def timed(*args, **kwargs):
        state["timing"] = True
        try:
            return time_calls(*args, **kwargs)
        finally:
            state["timing"] = False

    monkeypatch.setattr(OrtRunner, "infer", spying_infer)
    monkeypatch.setattr(latency, "time_calls", timed)
    settings = ProfileSettings(batches=(1, 2), warmup_s=0.0, min_runs=5, min_time_s=0.0)
    return profile(str(path), "ort", settings=settings), seen


def test_the_timed_window_holds_no_sampler_thread_where_one_is_needed(tiny_onnx, monkeypatch):
    monkeypatch.setattr(device.memory, "_reset_peak", lambda: False)  # a kernel whose peak cannot be reset: sampled
    result, seen = _spy_profile(tiny_onnx, monkeypatch)
    assert device.SAMPLER_THREAD in seen["other"]  # the spy sees it where it runs: the memory pass
    assert seen["timed"] and device.SAMPLER_THREAD not in seen["timed"]
    assert result.environment["memory_method"] == "sampled" and result.latency[0].runs >= 5


def _touched(size: int):
    """``size`` bytes of new memory, every page written: an anonymous mapping of its own (memory from the
    allocator may be pages it already holds resident, which no RSS figure would see)."""
    import mmap

    block = mmap.mmap(-1, size)
    for offset in range(0, size, mmap.PAGESIZE):
        block[offset] = 1
    return block


def test_memory_figures_still_come_out_on_linux(tiny_onnx, monkeypatch):
    result, seen = _spy_profile(tiny_onnx, monkeypatch)
    if device.current_rss() is None:
        pytest.skip("no /proc/self/statm and no psutil: memory is not measured here")
    method = result.environment["memory_method"]
    assert method in ("VmHWM", "sampled") and result.load_rss_bytes >= 0 and result.run_rss_bytes >= 0
    if method == "VmHWM":  # the kernel's peak: no thread at all, and a spike freed before the end is still seen
        assert device.SAMPLER_THREAD not in seen["timed"] | seen["other"]
        peak = device.memory_pass(lambda: _touched(64 * 2**20).close())  # mapped, written, unmapped
        assert peak.method == "VmHWM" and peak.increase_bytes >= 60 * 2**20
    held = []
    monkeypatch.setattr(device.memory, "_reset_peak", lambda: False)  # the sampler's way, on any machine
    peak = device.memory_pass(lambda: held.append(_touched(16 * 2**20)), runs=2)
    assert peak.method == "sampled" and peak.increase_bytes >= 30 * 2**20
    for block in held:
        block.close()


def test_median_interval_coverage_from_the_binomial():
    low, high, coverage = median_interval([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (low, high) == (1.0, 5.0) and coverage == pytest.approx(1 - 2 / 32)  # [min, max] of 5: 93.75 %
    low, high, coverage = median_interval(list(range(1, 10)))
    assert (low, high) == (2, 8) and coverage == pytest.approx(1 - 2 * 10 / 512) and coverage >= 0.95


@pytest.mark.parametrize("a, b, verdict", [
    ([1.00, 1.10, 0.90, 1.05, 0.95], [1.0] * 5, "tie"),  # the rounds straddle 1
    ([0.90, 0.91, 0.92, 0.90, 0.93], [1.0] * 5, "lower"),
    # cpu_peers' mobilenet_v2 rounds of the issue: all three above 1, but [min, max] of 3 rounds covers the median
    # only 75 % of the time (two runs of cpu_peers once called 3 such rounds "faster", once "a tie"): too few
    ([2.20, 1.91, 1.55], [1.54, 1.52, 1.50], "tie"),
    ([2.20, 1.91, 1.55, 1.80, 1.70], [1.54, 1.52, 1.50, 1.52, 1.51], "higher"),  # 5 rounds: 93.75 %
    ([1.02, 0.99, 1.01, 1.00, 0.98], [1.0] * 5, "tie"),
])
def test_ratios_are_called_as_their_rounds_allow(a, b, verdict):
    ratio = paired_ratio(a, b)
    assert ratio.verdict == verdict and ratio.rounds == len(a)
    assert ratio.low <= ratio.ratio <= ratio.high
    assert ("a tie" in ratio.describe()) is (verdict == "tie")
    assert ("too few rounds" in ratio.describe()) is (len(a) < 5 and (ratio.low > 1 or ratio.high < 1))


def test_a_clear_difference_needs_fewer_rounds():
    """FP32 against INT8 at 3x: three rounds on one side, far beyond CLEAR_FACTOR, are enough."""
    assert paired_ratio([3.0, 3.1, 2.9], [1.0, 1.02, 0.99]).verdict == "higher"
    assert paired_ratio([1.0, 1.02, 0.99], [3.0, 3.1, 2.9]).verdict == "lower"


def _row(artifact, p50_rounds, top1, size_mib, precision="int8"):
    import statistics

    return {"device": "pc", "model": "m", "engine": "ort", "precision": precision, "artifact": artifact, "batch": 1,
            "p50_ms": statistics.median(p50_rounds), "rounds_p50_ms": p50_rounds, "top1": top1,
            "file_size_mib": size_mib}


def test_a_pick_the_rounds_cannot_make_is_a_tie_won_by_the_more_accurate():
    from edgecnn.report.best import pick_best

    rows = [_row("fp32.onnx", [3.0, 3.1, 2.9], 0.80, 9.0, "fp32"),
            _row("a.onnx", [1.00, 1.08, 0.97], 0.78, 2.0), _row("b.onnx", [1.02, 0.99, 1.01], 0.80, 2.5)]
    best = pick_best(rows, max_drop=5)["pc"]
    assert best["artifact"] == "b.onnx" and best["fastest"] == "a.onnx on ort int8"
    assert best["ties"] == ["b.onnx on ort int8"] and "ties with b.onnx" in best["reason"]


def test_a_tie_between_equally_accurate_files_goes_to_the_smaller():
    from edgecnn.report.best import pick_best

    rows = [_row("fp32.onnx", [3.0, 3.1, 2.9], 0.80, 9.0, "fp32"),
            _row("big.onnx", [1.00, 1.08, 0.97], 0.80, 4.0), _row("small.onnx", [1.02, 0.99, 1.01], 0.80, 2.0)]
    assert pick_best(rows, max_drop=5)["pc"]["artifact"] == "small.onnx"


def test_a_clear_order_is_kept():
    from edgecnn.report.best import pick_best

    rows = [_row("fp32.onnx", [3.0, 3.1, 2.9, 3.0, 3.1], 0.80, 9.0, "fp32"),
            _row("fast.onnx", [1.00, 1.01, 0.99, 1.00, 1.02], 0.79, 4.0),
            _row("slow.onnx", [1.20, 1.22, 1.19, 1.21, 1.20], 0.80, 2.0)]
    best = pick_best(rows, max_drop=5)["pc"]
    assert best["artifact"] == "fast.onnx" and best["ties"] == []
    three = [{**r, "rounds_p50_ms": r["rounds_p50_ms"][:3]} for r in rows]  # too few rounds to order them:
    assert pick_best(three, max_drop=5)["pc"]["artifact"] == "slow.onnx"  # a tie, won by the more accurate
    without_rounds = [{k: v for k, v in r.items() if k != "rounds_p50_ms"} for r in rows]  # recipe rows: no rounds
    assert pick_best(without_rounds, max_drop=5)["pc"]["artifact"] == "fast.onnx"


def test_files_with_the_same_graph_are_one_candidate(tiny_onnx, tmp_path):
    from edgecnn.report.profile_best import same_graphs

    model = onnx.load(str(tiny_onnx))
    renamed = copy.deepcopy(model)
    names = {}
    for i, node in enumerate(renamed.graph.node):
        node.name = f"n{i}"
        for j, out in enumerate(node.output):
            names[out] = f"t{i}_{j}"
    for node in renamed.graph.node:
        node.input[:] = [names.get(x, x) for x in node.input]
        node.output[:] = [names.get(x, x) for x in node.output]
    for out in renamed.graph.output:
        out.name = names.get(out.name, out.name)
    del renamed.metadata_props[:]
    other = copy.deepcopy(model)
    other.graph.initializer[0].raw_data = bytes(len(other.graph.initializer[0].raw_data))  # other weights
    for name, proto in (("renamed.onnx", renamed), ("other.onnx", other)):
        onnx.save(proto, str(tmp_path / name))
    paths = [str(tiny_onnx), str(tmp_path / "renamed.onnx"), str(tmp_path / "other.onnx")]
    assert same_graphs(paths) == {str(tmp_path / "renamed.onnx"): str(tiny_onnx)}


def test_an_int8_file_on_openvino_says_what_ran():
    from edgecnn.profile.run import executed_label

    assert executed_label("int8", "f32") == "int8 (float parts f32)"
    assert executed_label("int8", "bf16") == "int8 (float parts bf16)"
    assert executed_label("fp32", "f32") == "f32" and executed_label("int8", None) is None
