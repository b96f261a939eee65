"""Pick for me: the fastest operating point within the accuracy budget, per device."""

from __future__ import annotations

from edgecnn.report.best import best_lines, pick_best


def _row(device, engine, precision, p50, top1, batch=1):
    return {"device": device, "engine": engine, "precision": precision, "batch": batch, "p50_ms": p50, "top1": top1,
            "artifact": f"model_{precision}.onnx"}


ROWS = [_row("pc", "ort", "fp32", 3.0, 0.90), _row("pc", "ort", "int8", 1.0, 0.885), _row("pc", "openvino", "int8", 0.8, 0.85),
        _row("pc", "ort", "int8", 0.1, 0.10, batch=8),  # a larger batch is not what one request sees
        _row("pi", "ort", "fp32", 30.0, 0.90), _row("pi", "ort", "int8", 12.0, 0.80)]


def test_fastest_within_the_budget_per_device():
    best = pick_best(ROWS, max_drop=2.0)
    assert (best["pc"]["engine"], best["pc"]["precision"], best["pc"]["p50_ms"]) == ("ort", "int8", 1.0)
    assert best["pi"]["precision"] == "fp32"  # INT8 loses 10 points there
    assert pick_best(ROWS, max_drop=5.0)["pc"]["engine"] == "openvino"  # a looser budget lets the 5-point drop in
    assert pick_best(ROWS)["pc"]["precision"] == "fp32"  # the default budget, 1 point, holds INT8's 1.5 out
    assert "within 2 top-1 points of FP32 (90.00%)" in best_lines(best)[0]


def test_without_accuracy_the_fastest_is_named_as_such():
    rows = [dict(r, top1=None) for r in ROWS if r["device"] == "pc"]
    best = pick_best(rows)
    assert best["pc"]["p50_ms"] == 0.8 and "no FP32 accuracy" in best["pc"]["reason"]


def test_two_int8_files_on_one_engine_are_two_operating_points():
    rows = [_row("pc", "openvino", "int8", 1.0, 0.9), dict(_row("pc", "openvino", "int8", 0.7, 0.9),
                                                            artifact="model_int8_openvino.onnx"),
            _row("pc", "ort", "fp32", 3.0, 0.9)]
    assert pick_best(rows)["pc"]["artifact"] == "model_int8_openvino.onnx"


def test_profile_best_candidates_follow_the_cpu():
    from edgecnn.report.profile_best import Candidate, candidates

    held = {"m.onnx": "fp32", "m_int8.onnx": "int8"}
    plain = {"model": "x", "arch": "x86_64", "isa": ["avx2", "fma"]}
    amx = dict(plain, isa=["avx512f", "avx512_vnni", "amx_int8", "amx_bf16"])
    assert candidates(held, ["ort", "openvino"], plain) == [
        Candidate("m.onnx", "ort", "fp32"), Candidate("m.onnx", "openvino", "fp32"),
        Candidate("m_int8.onnx", "ort", "int8"), Candidate("m_int8.onnx", "openvino", "int8")]
    assert Candidate("m.onnx", "openvino", "bf16") in candidates(held, ["ort", "openvino"], amx)
    assert len(candidates(held, ["ort"], amx)) == 2  # bf16 is OpenVINO's, and only from an FP32 file
    # FP16 lowering (OpenVINO's hint, ncnn's options) is timed only where the CPU computes in FP16 (ARM asimdhp);
    # both CPUs faked, so both branches run on any machine
    pi5 = {"model": "Cortex-A76", "arch": "aarch64", "isa": ["asimd", "asimddp", "asimdhp"]}
    pi4 = dict(pi5, model="Cortex-A72", isa=["asimd"])
    assert candidates(held, ["ort", "openvino"], pi5) == [
        Candidate("m.onnx", "ort", "fp32"), Candidate("m.onnx", "openvino", "fp32"),
        Candidate("m.onnx", "openvino", "fp16"), Candidate("m_int8.onnx", "ort", "int8"),
        Candidate("m_int8.onnx", "openvino", "int8")]
    assert candidates(held, ["ort", "openvino"], pi4) == candidates(held, ["ort", "openvino"], plain)
    x86_fp16 = dict(amx, isa=[*amx["isa"], "avx512_fp16"])  # x86's FP16 ISA is not ncnn's or OpenVINO's fp16 path
    assert not any(c.precision == "fp16" for c in candidates(held, ["ort", "openvino"], x86_fp16))


def test_cli_profile_best_names_a_measured_candidate(cli, tmp_path, monkeypatch):
    import json

    from conftest import one_line_error
    from edgecnn.data.shapes import CLASSES
    from edgecnn.export import export_onnx
    from edgecnn.quantize.int8 import QuantizeOptions, quantize_int8
    from edgecnn.zoo import create_model

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    loaded = create_model("mobilenet_v1_025", num_classes=8, input_size=32)
    loaded.labels = list(CLASSES)
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m_int8.onnx"
    export_onnx(loaded, fp32)
    quantize_int8(fp32, int8, "synthetic:shapes:16", options=QuantizeOptions(samples=16), progress=False)
    out = tmp_path / "best.json"
    result = cli("profile", str(fp32), str(int8), "--best", "--data", "synthetic:shapes:24", "--engine", "ort",
                 "--rounds", "1", "--min-time-s", "0.3", "--max-drop", "100", "--json", str(out))
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert {(r["artifact"], r["precision"]) for r in saved["rows"]} == {("m.onnx", "fp32"), ("m_int8.onnx", "int8")}
    assert all(r["p50_ms"] > 0 and r["top1"] is not None and len(r["correct"]) == 24 for r in saved["rows"])
    fastest = min(saved["rows"], key=lambda r: r["p50_ms"])  # a 100-point budget admits every candidate
    best = saved["best"]
    # the fastest, unless the rounds cannot order the two (1 round, within 2.5x: a tie, won by the more accurate)
    assert best["artifact"] == fastest["artifact"] or best["ties"], best
    assert "Best on" in result.output
    refused = cli("profile", str(fp32), str(int8), "--best")
    assert "needs --data" in one_line_error(refused)
    assert "one ARTIFACT" in one_line_error(cli("profile", str(fp32), str(int8)))
