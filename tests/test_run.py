"""``edgecnn run``: stages, content-hash cache, failures that do not stop the run, results and reports."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import interruptible

from edgecnn.recipe import load_recipe
from edgecnn.recipe.cache import StageCache
from edgecnn.recipe.pipeline import run_recipe
from edgecnn.report.pareto import operating_points, pareto_front

TINY = {
    "name": "tiny",
    "model": {"arch": "mobilenet_v1_025"},
    "data": {"path": "synthetic:shapes:96", "val_split": 0.25, "seed": 0},
    "train": {"epochs": 1, "img_size": 32, "batch_size": 16, "optimizer": "adamw", "workers": 0, "augment": False},
    "export": {"batch": "dynamic"},
    "quantize": {"samples": 16, "method": "minmax"},
    "targets": [{"engine": "torch", "precisions": ["fp32"], "batches": [1], "threads": 1},
                {"engine": "ort", "precisions": ["fp32", "int8"], "batches": [1, 2], "threads": 1}],
    "profile": {"warmup_s": 0.02, "min_runs": 5, "min_time_s": 0.05},
}
OUTPUTS = ("results.json", "report.md", "report.html", "pareto.png", "latency.png", "run.log", "recipe.yaml")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    recipe = root / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECNN_CALIB_CACHE", str(root / "calib-cache"))
        mp.chdir(root)
        yield root, recipe


def _run(recipe_path, runs, *overrides, **kwargs):
    return run_recipe(load_recipe(recipe_path, list(overrides)), runs_dir=runs, progress=False, log=lambda _: None,
                      **kwargs)


@pytest.fixture(scope="module")
def first_and_second(workspace):
    root, recipe = workspace
    started = time.perf_counter()
    first = _run(recipe, root / "runs")
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = _run(recipe, root / "runs")
    second_s = time.perf_counter() - started
    return first, first_s, second, second_s


def test_a_run_writes_every_output_with_a_row_per_engine_precision_batch(first_and_second):
    first, *_ = first_and_second
    assert [s.status for s in first.stages] == ["done"] * len(first.stages), first.stages
    assert [s.name for s in first.stages] == ["train", "export", "quantize-int8", "profile-torch-fp32",
                                              "profile-ort-fp32", "profile-ort-int8", "report"]
    for name in OUTPUTS:
        assert (first.run_dir / name).stat().st_size > 0, name
    for name in ("model.pt", "model_fp32.onnx", "model_int8.onnx"):
        assert (first.run_dir / "artifacts" / name).exists()
    assert first.run_dir.parent.name == "tiny" and first.run_dir.parent.parent.name == "runs"
    results = json.loads((first.run_dir / "results.json").read_text())
    assert results["schema"] == "edgecnn.results" and results["environment"]["cpu"]["logical_cores"] >= 1
    keys = sorted((r["engine"], r["precision"], r["batch"]) for r in results["rows"])
    assert keys == [("ort", "fp32", 1), ("ort", "fp32", 2), ("ort", "int8", 1), ("ort", "int8", 2),
                    ("torch", "fp32", 1)]
    sizes = {}
    for row in results["rows"]:
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["throughput"] == pytest.approx(1000 * row["batch"] / row["p50_ms"], rel=1e-6)
        assert 0.0 <= row["top1"] <= 1.0 and row["accuracy_images"] == 24  # 25 % of 96, stratified
        assert row["runs"] >= 5 and row["load_rss_mib"] >= 0
        sizes[row["precision"]] = row["file_size_mib"]
    assert sizes["int8"] < 0.5 * sizes["fp32"]  # the INT8 file really is the quantized one
    # the FP32 ONNX model and the checkpoint it came from agree on the validation images
    top1 = {(r["engine"], r["precision"]): r["top1"] for r in results["rows"]}
    assert top1[("ort", "fp32")] == pytest.approx(top1[("torch", "fp32")], abs=1 / 24 + 1e-9)
    md = (first.run_dir / "report.md").read_text()
    assert "| engine" in md and "![pareto](pareto.png)" in md
    html = (first.run_dir / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == 2 and "<table>" in html
    for png in ("pareto.png", "latency.png"):
        with Image.open(first.run_dir / png) as image:
            assert image.format == "PNG" and image.size[0] > 500


def test_a_second_run_reuses_every_stage_and_is_much_faster(first_and_second):
    first, first_s, second, second_s = first_and_second
    assert second.run_dir != first.run_dir
    statuses = {s.name: s.status for s in second.stages}
    assert statuses.pop("report") == "done"
    assert set(statuses.values()) == {"cached"}, statuses
    assert second_s < first_s / 4, (first_s, second_s)
    for name in ("model.pt", "model_fp32.onnx", "model_int8.onnx"):
        assert (first.run_dir / "artifacts" / name).read_bytes() == (second.run_dir / "artifacts" / name).read_bytes()
    a = json.loads((first.run_dir / "results.json").read_text())["rows"]
    b = json.loads((second.run_dir / "results.json").read_text())["rows"]
    assert a == b


def test_changing_a_setting_reruns_only_the_stages_it_decides(workspace, first_and_second):
    root, recipe = workspace
    result = _run(recipe, root / "runs", "quantize.method=percentile")
    statuses = {s.name: s.status for s in result.stages}
    assert statuses == {"train": "cached", "export": "cached", "quantize-int8": "done", "profile-torch-fp32": "cached",
                        "profile-ort-fp32": "cached", "profile-ort-int8": "done", "report": "done"}


def test_rerun_prefix_and_force(workspace, first_and_second):
    root, recipe = workspace
    result = _run(recipe, root / "runs", rerun=("profile-ort",))
    statuses = {s.name: s.status for s in result.stages}
    assert statuses["profile-ort-fp32"] == statuses["profile-ort-int8"] == "done"
    assert statuses["train"] == statuses["profile-torch-fp32"] == "cached"


def test_a_failing_stage_is_reported_and_the_others_go_on(workspace, first_and_second, cli):
    root, recipe = workspace
    bad = root / "bad-calib"
    bad.mkdir(exist_ok=True)
    (bad / "notes.txt").write_text("no images here")
    result = cli("run", recipe, "--runs-dir", root / "runs", "--set", f"quantize.calib={bad}")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    failed = [ln for ln in lines if "quantize-int8: failed" in ln]
    assert len(failed) == 1 and "bad-calib" in failed[0], result.stderr
    assert any("profile-ort-int8: skipped: needs quantize-int8" in ln for ln in lines)
    assert any("profile-ort-fp32: cached" in ln for ln in lines)
    assert "Traceback" not in result.output
    run_dir = Path(result.stdout.strip().splitlines()[-1].strip()).parent
    results = json.loads((run_dir / "results.json").read_text())
    assert {(r["engine"], r["precision"]) for r in results["rows"]} == {("torch", "fp32"), ("ort", "fp32")}
    stages = {s["name"]: s["status"] for s in results["stages"]}
    assert stages["quantize-int8"] == "failed" and stages["profile-ort-int8"] == "skipped"
    assert "failed" in (run_dir / "report.md").read_text()


def test_an_engine_that_is_not_here_is_unavailable_not_a_failure(workspace, first_and_second, cli):
    from edgecnn.engines.trt_engine import tensorrt_available

    if tensorrt_available():
        pytest.skip("TensorRT is available here: the build runs for real")
    root, recipe = workspace
    result = cli("run", recipe, "--runs-dir", root / "runs", "--set",
                 "targets=[{engine: ort, precisions: [fp32], batches: [1, 2], threads: 1}, {engine: trt, precisions: [fp16]}]")
    assert result.exit_code == 0, result.output
    assert "build-trt-fp16: unavailable: TensorRT" in result.stderr
    assert "profile-trt-fp16: skipped" in result.stderr and "profile-ort-fp32: cached" in result.stderr


@pytest.mark.parametrize("override,message", [
    ("train.epoch=3", "unknown key train.epoch; did you mean train.epochs?"),
    ("train.epochs=ten", "train.epochs must be an integer"),
    ("targets=[{engine: torch, precisions: [int8]}]", "targets[0].precisions[0]: engine torch cannot run int8"),
    ("targets=[{engine: openvino, precisions: [int4]}]", "targets[0].precisions must be among fp32, fp16, bf16, "
                                                         "int8, got 'int4'"),
    ("train.freeze=most", "train.freeze must be none, head-only or a number of stages"),
    ("export.opset=5", "export.opset must be >= 11 and <= 20, got 5"),
    ("quantize.samples=0", "quantize.samples must be >= 1, got 0"),
    ("quantize.qat_epochs=2", "quantize.qat_epochs is the last step of an accuracy budget: set quantize.max_drop"),
    ("quantize.symmetric_weights=false", "quantize.symmetric_weights must stay on with per-channel weights"),
    ("data.path=no/such/folder", "data.path: no/such/folder does not exist"),
    ("targets=[{engine: litert, precisions: [fp32], batches: [1, 8]}]", "targets[0].batches: a LiteRT (XNNPACK) "
                                                                        "file has a fixed batch: give one batch, not "
                                                                        "[1, 8]"),
])
def test_a_bad_recipe_is_refused_before_any_work(tmp_path, cli, override, message):
    from conftest import one_line_error

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    result = cli("run", recipe, "--runs-dir", tmp_path / "runs", "--set", override)
    assert message in one_line_error(result)
    assert result.exit_code == 2
    assert not (tmp_path / "runs").exists()  # nothing was started


def test_stage_cache_keeps_nothing_from_a_stage_that_crashed(tmp_path):
    cache = StageCache(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with cache.produce("export", "k" * 64) as (work, record):
            (work / "model.onnx").write_bytes(b"half")
            raise KeyboardInterrupt
    assert cache.check("export", "k" * 64) == (None, None)
    assert list(tmp_path.iterdir()) == []
    with cache.produce("export", "k" * 64) as (work, record):
        (work / "model.onnx").write_bytes(b"whole")
        record["nodes"] = 3
    entry, damage = cache.check("export", "k" * 64)
    assert damage is None and entry.file("model.onnx").read_bytes() == b"whole" and entry.record["nodes"] == 3
    assert cache.check("export", "j" * 64) == (None, None)


def test_pareto_front():
    points = [(1.0, 0.70), (2.0, 0.80), (1.5, 0.60), (3.0, 0.80), (0.5, 0.50), (2.0, 0.75)]
    assert pareto_front(points) == [4, 0, 1]
    assert pareto_front([(1.0, 0.5), (1.0, 0.5)]) == [0, 1]  # equal points do not dominate each other
    assert pareto_front([]) == []
    rows = [{"device": "a", "engine": "ort", "precision": "int8", "batch": b, "p50_ms": b} for b in (8, 1, 4)]
    assert [r["batch"] for r in operating_points(rows)] == [1]


def test_report_merges_devices(first_and_second, tmp_path, cli):
    first, *_ = first_and_second
    laptop = json.loads((first.run_dir / "results.json").read_text())
    jetson = json.loads(json.dumps(laptop))
    jetson["device"] = "Jetson Orin Nano"
    for row in jetson["rows"]:
        row["device"] = "Jetson Orin Nano"
        for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "min_ms", "max_ms"):
            row[key] *= 3
    (tmp_path / "jetson").mkdir()
    (tmp_path / "jetson" / "results.json").write_text(json.dumps(jetson))
    out = tmp_path / "merged.html"
    result = cli("report", first.run_dir / "results.json", tmp_path / "jetson" / "results.json", "-o", out)
    assert result.exit_code == 0, result.output
    assert "from 2 device(s)" in result.stdout
    html = out.read_text()
    assert html.count("Jetson Orin Nano") >= len(jetson["rows"]) and laptop["device"] in html
    assert html.count('src="data:image/png;base64,') == 2
    md = tmp_path / "merged.md"
    assert cli("report", first.run_dir / "results.json", tmp_path / "jetson" / "results.json", "-o", md).exit_code == 0
    header = next(line for line in md.read_text().splitlines() if line.startswith("| device"))
    assert "engine" in header and (tmp_path / "pareto.png").exists()


def test_the_report_says_when_a_placement_was_not_used(first_and_second):
    from edgecnn.report.render import render_markdown

    first, *_ = first_and_second
    results = json.loads((first.run_dir / "results.json").read_text())
    assert "NNCF's placement not used" not in render_markdown(results, {})
    results["placement_notes"] = {"openvino": "NNCF's placement not used: OpenVINO runs it with top-1 agreement 0.661"}
    assert "INT8 for openvino: NNCF's placement not used: OpenVINO runs it" in render_markdown(results, {})


def test_report_refuses_files_that_are_not_results(tmp_path, cli):
    from conftest import one_line_error

    other = tmp_path / "profile.json"
    other.write_text(json.dumps({"engine": "ort"}))
    message = one_line_error(cli("report", other, "-o", tmp_path / "r.html"))
    assert "not an edgecnn results file" in message and not (tmp_path / "r.html").exists()


def _chromium() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_the_html_report_renders_in_headless_chromium(first_and_second, tmp_path):
    """Chromium from Debian's packages (.ci/run installs it) opens report.html; the screenshot shows table and plots."""
    import os
    import subprocess

    import numpy as np

    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    first, *_ = first_and_second
    shot = tmp_path / "report.png"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1800",
               f"--screenshot={shot}", (first.run_dir / "report.html").resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (1800, 1200)
    not_white = (pixels.min(axis=2) < 235).mean()
    assert not_white > 0.03, f"the page looks blank: {100 * not_white:.2f}% of pixels are not white"

    def near(colour, tolerance=6):
        return (np.abs(pixels - np.asarray(colour)).max(axis=2) <= tolerance).sum()

    assert near((0xEE, 0xF2, 0xF7), 2) > 2000, "the results table's header row is not on the page"
    # the plots are the page's only coloured pixels (text, borders and table are grey or pale);
    # the same page with its images removed has under 100 of them
    coloured = ((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum()
    assert coloured > 1500, f"the plots are not on the page ({coloured} coloured pixels)"


def test_without_training_the_model_stage_builds_the_checkpoint(workspace, first_and_second):
    """train.enabled false: random weights (warned), and a 1000-class head whose accuracy cannot be measured."""
    root, recipe = workspace
    lines: list[str] = []
    targets = "targets=[{engine: ort, precisions: [fp32], batches: [1], threads: 1}]"
    result = run_recipe(load_recipe(recipe, ["train.enabled=false", "model.num_classes=8", targets]),
                        runs_dir=root / "runs", progress=False, log=lines.append)
    assert [s.status for s in result.stages] == ["done"] * 4, result.stages
    assert [s.name for s in result.stages] == ["model", "export", "profile-ort-fp32", "report"]
    assert any("random weights" in line for line in lines)
    rows = json.loads((result.run_dir / "results.json").read_text())["rows"]
    assert rows[0]["top1"] is not None  # 8 outputs named after the data's classes: scored (at chance)
    imagenet = run_recipe(load_recipe(recipe, ["train.enabled=false", targets]), runs_dir=root / "runs",
                          progress=False, log=lambda _: None)
    row = json.loads((imagenet.run_dir / "results.json").read_text())["rows"][0]
    assert row["top1"] is None and row["p50_ms"] > 0
    assert any("accuracy not measured" in w and "does not know the data's classes" in w for w in row["warnings"])


def test_ctrl_c_during_a_stage_leaves_no_half_entry_and_the_next_run_goes_on(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    recipe = tmp_path / "tiny.yaml"
    slow = dict(TINY, train=dict(TINY["train"], epochs=40), data=dict(TINY["data"], path="synthetic:shapes:400"))
    recipe.write_text(yaml.safe_dump(slow))
    env = dict(os.environ, EDGECNN_CALIB_CACHE=str(tmp_path / "calib"))
    child = subprocess.Popen([sys.executable, "-m", "edgecnn", "run", str(recipe), "--runs-dir", str(tmp_path / "runs")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                             preexec_fn=interruptible)
    cache = tmp_path / "runs" / "tiny" / "cache"
    deadline = time.time() + 120
    while time.time() < deadline and not (cache.exists() and any(p.name.endswith(".partial") for p in cache.iterdir())):
        time.sleep(0.1)
    time.sleep(1.0)  # inside training
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    # the half-trained stage left nothing a later run would trust (.locks holds the per-key lock files only)
    assert [p for p in cache.iterdir() if p.name != ".locks"] == []
    run_dirs = [p for p in (tmp_path / "runs" / "tiny").iterdir() if p.name != "cache"]
    assert len(run_dirs) == 1 and (run_dirs[0] / "run.log").exists()


def test_accuracy_budget_from_a_recipe(workspace, first_and_second, cli):
    """quantize.max_drop: the library's accuracy-budget workflow, run once for the model, reported in the run."""
    root, recipe = workspace
    shipped = Path(__file__).parents[1] / "recipes" / "resnet18.yaml"
    checked = cli("run", shipped, "--set", "quantize.max_drop=0.5", "--check")
    assert checked.exit_code == 0, checked.output
    assert yaml.safe_load(checked.stdout)["quantize"]["max_drop"] == 0.5
    lines: list[str] = []
    result = run_recipe(load_recipe(recipe, ["quantize.max_drop=0"]), runs_dir=root / "runs", progress=False,
                        log=lines.append)
    statuses = {s.name: s.status for s in result.stages}
    assert statuses["quantize-int8"] == "done" and statuses["export"] == "cached", statuses
    budget = json.loads((result.run_dir / "results.json").read_text())["accuracy_budget"]
    assert budget["max_drop"] == 0 and budget["images"] == 24
    assert budget["final_drop"] == pytest.approx(100 * (budget["fp32_top1"] - budget["final_top1"]))
    assert budget["met"] == (budget["final_drop"] <= 0) and isinstance(budget["kept_float"], list)
    assert budget["steps"][0]["drop"] == pytest.approx(100 * (budget["fp32_top1"] - budget["int8_top1"]))
    said = [line for line in lines if "accuracy budget 0" in line]
    assert len(said) == 1 and f"drop {budget['final_drop']:.2f}" in said[0]
    assert ("kept in float: " + ", ".join(budget["kept_float"]) if budget["kept_float"] else "nothing kept") in said[0]
    md = (result.run_dir / "report.md").read_text()
    assert "INT8 accuracy budget 0 points" in md and f"drop {budget['final_drop']:.2f} points" in md
    # the INT8 profile measures the model the budget wrote
    row = next(r for r in json.loads((result.run_dir / "results.json").read_text())["rows"]
               if r["precision"] == "int8")
    assert row["top1"] == pytest.approx(budget["final_top1"])


def test_qat_in_the_budget_needs_the_checkpoint_and_torch(workspace):
    """quantize.qat_epochs: the INT8 stage then reads the trained checkpoint, and its key the torch versions."""
    from edgecnn.recipe.pipeline import plan

    root, recipe = workspace
    stage = next(s for s in plan(load_recipe(recipe, ["quantize.max_drop=1", "quantize.qat_epochs=2"]))
                 if s.name == "quantize-int8")
    assert "artifacts/model.pt" in stage.needs and "torch" in stage.libraries and stage.settings["qat_epochs"] == 2
    plain = next(s for s in plan(load_recipe(recipe, ["quantize.max_drop=1"])) if s.name == "quantize-int8")
    assert "artifacts/model.pt" not in plain.needs and plain.settings["qat_epochs"] == 0


def test_stages_are_declared_and_keys_derived_from_the_declaration(workspace):
    from dataclasses import replace

    from edgecnn.recipe.graph import stage_key
    from edgecnn.recipe.pipeline import plan

    root, recipe = workspace
    stages = {s.name: s for s in plan(load_recipe(recipe))}
    assert list(stages) == ["train", "export", "quantize-int8", "profile-torch-fp32", "profile-ort-fp32",
                            "profile-ort-int8"]
    assert stages["quantize-int8"].needs == ("artifacts/model_fp32.onnx",)
    assert stages["profile-ort-int8"].needs == ("artifacts/model_int8.onnx", "artifacts/model_fp32.onnx")
    export = stages["export"]
    base = stage_key(export, {"artifacts/model.pt": "a" * 64})
    assert stage_key(export, {"artifacts/model.pt": "b" * 64}) != base  # another input
    assert stage_key(replace(export, settings=replace(export.settings, opset=18)), {"artifacts/model.pt": "a" * 64}) \
        != base  # any field of the options dataclass, with no key written by hand
    assert "onnxsim" in export.libraries and stages["profile-ort-fp32"].machine and not export.machine


def test_layer_error_from_a_recipe_is_in_the_run_and_its_report(workspace, first_and_second):
    """quantize.layer_error: the per-layer table and plot of model_int8.onnx, in the artifacts and the report;
    only the INT8 stage (and the report) run again."""
    root, recipe = workspace
    result = _run(recipe, root / "runs", "quantize.layer_error=true")
    statuses = {s.name: s.status for s in result.stages}
    assert statuses["quantize-int8"] == "done" and statuses["export"] == "cached", statuses
    saved = json.loads((result.run_dir / "artifacts" / "layer_error_int8.json").read_text())["rows"]
    assert saved and (result.run_dir / "artifacts" / "layer_error_int8.png").stat().st_size > 0
    results = json.loads((result.run_dir / "results.json").read_text())
    assert results["layer_error"]["tensors"] == len(saved)
    assert [r["tensor"] for r in results["layer_error"]["worst"]] == [r["tensor"] for r in saved[:10]]
    md = (result.run_dir / "report.md").read_text()
    assert "## Per-layer INT8 error" in md and saved[0]["tensor"] in md
    assert "](artifacts/layer_error_int8.png)" in md
    assert "Per-layer INT8 error" in (result.run_dir / "report.html").read_text()
