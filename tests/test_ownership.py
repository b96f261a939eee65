"""Engines own what they know (issue 25): nothing outside edgecnn/engines spells an engine's name, and an engine
registered from outside edgecnn (tests/ort_basic_engine.py) is in every place that lists, plans, runs, reports
and bundles engines, with no other file touched."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from edgecnn.engines import load_runner, registry
from edgecnn.engines.registry import CHECKPOINT, get_engine

PACKAGE = Path(__file__).resolve().parents[1] / "edgecnn"
HELPER = Path(__file__).with_name("ort_basic_engine.py")

# (file, literal) -> why an engine's name may appear there as a value (none of them chooses an engine)
ALLOWED = {
    ("edgecnn/envinfo.py", "openvino"): "the openvino package, whose version the environment block records",
    ("edgecnn/quantize/nncf_backend.py", "openvino"): "the pip extra that installs NNCF (edgecnn[openvino])",
    ("edgecnn/export/options.py", "ncnn"): "the --format value: ncnn's file format (.param + .bin), named as its "
                                            "engine is; the export chooses no engine",
    ("edgecnn/quantize/task_scores.py", "ort"): "the accuracy budget's scorers score on ONNX Runtime (the task "
                                                 "registry's scorers, another branch's files; the default engine)",
}
# the issue's own check, over the source (no git needed)
ISSUE_PATTERN = re.compile(r"""== *['"](ort|openvino|trt|torch|ort-cuda|ort-trt)['"]|in \(['"](ort|openvino|trt)""")


def _literals(node) -> list[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [found for element in node.elts for found in _literals(element)]
    return []


def _deciding_literals(tree: ast.AST) -> list[tuple[ast.Constant, str]]:
    """String literals where a value drives logic: compared (==, in, ...), dict keys, subscripts, the branches of
    a conditional expression, call arguments, parameter defaults, match patterns. Docstrings, help and message
    text (f-strings) are none of these."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
        elif isinstance(node, ast.Dict):
            parts = [k for k in node.keys if k is not None]
        elif isinstance(node, ast.Subscript):
            parts = [node.slice]
        elif isinstance(node, ast.IfExp):
            parts = [node.body, node.orelse]
        elif isinstance(node, ast.Call):
            parts = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            parts = [d for d in [*node.args.defaults, *node.args.kw_defaults] if d is not None]
        elif isinstance(node, ast.MatchValue):
            parts = [node.value]
        else:
            continue
        found += [(literal, type(node).__name__) for part in parts for literal in _literals(part)]
    return found


def test_no_engine_names_outside_engines():
    names = set(registry.names())
    assert {"torch", "ort", "openvino", "ort-cuda", "ort-trt", "trt"} <= names
    offenders, issue_hits = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if relative.startswith("edgecnn/engines/"):
            continue
        text = path.read_text()
        issue_hits += [f"{relative}: {m.group(0)}" for m in ISSUE_PATTERN.finditer(text)]
        for literal, where in _deciding_literals(ast.parse(text)):
            if literal.value in names and (relative, literal.value) not in ALLOWED:
                offenders.append(f"{relative}:{literal.lineno}: {literal.value!r} in a {where}")
    assert not issue_hits, "\n".join(issue_hits)
    assert not offenders, "engine names outside edgecnn/engines (ask edgecnn.engines.registry):\n" + "\n".join(offenders)


def test_the_scan_catches_what_it_is_for():
    """The rules above see the forms engine names took before the registry (a guard against a blind scan)."""
    caught = {literal.value for literal, _ in _deciding_literals(ast.parse(
        'if engine == "trt": pass\n'
        'x = engine in ("ort", "openvino")\n'
        'LIBS = {"ort-cuda": 1}\n'
        'y = LIBS["ort-trt"]\n'
        'z = "torch" if a else "b"\n'
        'load_runner(p, "trt")\n'
        'def f(engine="openvino"): pass\n'))}
    assert caught >= {"trt", "ort", "openvino", "ort-cuda", "ort-trt", "torch"}
    assert not _deciding_literals(ast.parse('"""the ort engine"""\nhelp = "ort or trt"\nf"{x} ort"\n'))


def test_the_declarations_are_the_tables_they_replace():
    """What each engine runs for each precision (the ONNX_FOR table recipe planning had), which precisions an
    engine lowers itself (load_runner's rule), the cache-key libraries (ENGINE_LIBS), GPU engines, defaults."""
    onnx_for = {("ort", "fp32"): "fp32", ("ort", "fp16"): "fp16", ("ort", "int8"): "int8",
                ("openvino", "fp32"): "fp32", ("openvino", "fp16"): "fp32", ("openvino", "bf16"): "fp32",
                ("openvino", "int8"): "int8_openvino", ("ort-cuda", "fp32"): "fp32", ("ort-cuda", "fp16"): "fp16",
                ("ort-cuda", "int8"): "int8", ("ort-trt", "fp32"): "fp32", ("ort-trt", "fp16"): "fp32",
                ("ort-trt", "int8"): "int8_sym"}
    for (engine, precision), kind in onnx_for.items():
        assert get_engine(engine).source(precision) == kind, (engine, precision)
    assert get_engine("openvino").source("int8", budget=True) == "int8"  # the budget is met on ORT's placement
    assert get_engine("torch").source("bf16") == CHECKPOINT and not get_engine("torch").uses_export
    lowered = {(e.name, p) for e in registry.engines() for p in e.precisions if e.lowers(p)}
    assert lowered == {("openvino", "fp16"), ("openvino", "bf16"), ("ort-trt", "fp16"), ("ncnn", "fp16")}
    assert get_engine("trt").libraries == ("tensorrt", "cuda-python", "numpy", "pillow")
    assert get_engine("ort").libraries == ("onnxruntime", "onnxruntime-gpu", "numpy", "pillow")
    assert registry.gpu_engines() == ("ort-cuda", "ort-trt", "trt")
    from edgecnn.engines.capabilities import GPU_ENGINES

    assert GPU_ENGINES == registry.gpu_engines()
    assert [registry.default_engine(a) for a in ("m.onnx", "m.engine", "m.pt", "lenet5", "m.tflite", "m.pte")] == \
        ["ort", "trt", "torch", "torch", "litert", "executorch"]
    assert registry.placements() == ("ort", "openvino", "trt", "litert", "executorch")
    assert registry.device_engines() == ("ort", "trt", "litert", "executorch", "ncnn")
    assert registry.delegating_engines() == ("litert", "executorch")
    assert registry.placement_for_kind("int8_openvino") == "openvino"
    assert registry.cpu_engine_for("trt") == "ort" and registry.cpu_engine_for("openvino") == "openvino"


def test_register_refuses_a_second_engine_of_a_name_and_loads_modules_from_the_environment():
    import dataclasses

    with pytest.raises(ValueError, match="registered already"):
        registry.register(dataclasses.replace(get_engine("ort"), title="another ONNX Runtime"))
    assert registry.register(get_engine("ort")) is get_engine("ort")  # the same declaration again: a no-op
    try:
        added = registry.register_from_env(f"{HELPER}:ENGINES")
        assert [e.name for e in added] == ["ort-basic"] and "ort-basic" in registry.names()
    finally:
        registry.ENGINES.pop("ort-basic", None)
    from edgecnn.errors import UsageError

    with pytest.raises(UsageError, match="cannot load engines from 'no_such_module_here'"):
        registry.register_from_env("no_such_module_here")


@pytest.fixture
def ort_basic(monkeypatch):
    """ort-basic registered through the public function, and named for the processes edgecnn starts."""
    import ort_basic_engine

    monkeypatch.setenv(registry.ENV, f"{HELPER}:ENGINES")
    engine = registry.register(ort_basic_engine.ENGINE)
    yield engine
    registry.unregister(engine.name)


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    path = tmp_path_factory.mktemp("ownership") / "lenet5.onnx"
    export_onnx(create_model("lenet5", num_classes=4), path, batch="dynamic")
    return path


def test_a_registered_engine_is_in_the_capability_table_and_runs_under_profile(ort_basic, lenet, cli, tmp_path):
    table = cli("profile", "--help")
    assert table.exit_code == 0
    row = next(line for line in table.output.splitlines() if line.split()[:1] == ["ort-basic"])
    assert "onnx" in row and "fp32, fp16, int8" in row and row.rstrip().endswith("yes")
    assert "ort-basic" in cli("bundle", "--help").output  # it has a device side

    with load_runner(lenet, "ort-basic") as runner:
        import onnxruntime as ort

        assert runner.engine == "ort-basic"
        assert runner.session.get_session_options().graph_optimization_level == \
            ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    out = tmp_path / "p.json"
    result = cli("profile", lenet, "--engine", "ort-basic", "--precision", "fp32", "--warmup-s", "0", "--min-runs",
                 "5", "--min-time-s", "0.05", "--per-layer", "--json", out)
    assert result.exit_code == 0, result.output
    assert "ort-basic" in result.output
    data = json.loads(out.read_text())
    assert data["engine"] == "ort-basic" and data["precision"] == "fp32" and data["latency"][0]["p50_ms"] > 0
    assert data["per_layer"] and data["environment"]["versions"]["onnxruntime"]
    refused = cli("profile", lenet, "--engine", "ort-basic", "--precision", "bf16")
    assert refused.exit_code == 2 and "engine ort-basic cannot run precision bf16" in refused.stderr


def test_a_registered_engine_is_a_recipe_target_planned_run_and_reported(ort_basic, tmp_path, monkeypatch):
    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import plan, run_recipe
    from edgecnn.recipe.schema import RecipeError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    recipe = tmp_path / "basic.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "basic", "model": {"arch": "lenet5", "num_classes": 4}, "data": {"path": "synthetic:shapes:24"},
        "train": {"enabled": False}, "export": {"batch": "dynamic"},
        "targets": [{"engine": "ort-basic", "precisions": ["fp32"], "batches": [1, 2], "threads": 1}],
        "profile": {"warmup_s": 0.0, "min_runs": 5, "min_time_s": 0.05}}))
    stages = {s.name: s for s in plan(load_recipe(recipe))}
    stage = stages["profile-ort-basic-fp32"]
    assert stage.needs == ("artifacts/model_fp32.onnx",) and stage.libraries == get_engine("ort").libraries
    assert stage.settings["engine"] == "ort-basic" and stage.machine and not stage.gpu
    with pytest.raises(RecipeError, match="engine ort-basic cannot run bf16"):
        load_recipe(recipe, ["targets=[{engine: ort-basic, precisions: [bf16]}]"])
    with pytest.raises(RecipeError, match="must be one of torch, ort, openvino, ort-cuda, ort-trt, trt, litert, executorch, ncnn, ort-basic"):
        load_recipe(recipe, ["targets=[{engine: ort-basik}]"])

    result = run_recipe(load_recipe(recipe), runs_dir=tmp_path / "runs", progress=False, log=lambda _: None)
    assert [(s.name, s.status) for s in result.stages] == [
        ("model", "done"), ("export", "done"), ("profile-ort-basic-fp32", "done"), ("report", "done")], result.stages
    rows = json.loads((result.run_dir / "results.json").read_text())["rows"]
    assert {(r["engine"], r["precision"], r["batch"]) for r in rows} == {("ort-basic", "fp32", 1),
                                                                         ("ort-basic", "fp32", 2)}
    assert "ort-basic" in (result.run_dir / "report.md").read_text()


def test_a_registered_engine_is_bundled_with_its_device_side(ort_basic, lenet, cli, tmp_path):
    from edgecnn.engines.ort_engine import ONNX_REQUIREMENTS

    out = tmp_path / "b"
    result = cli("bundle", lenet, "--engine", "ort-basic", "-o", out)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "preprocess.json").read_text())
    assert config["engine"] == "onnxruntime" and config["results_engine"] == "ort-basic"
    assert config["runtime_options"] == {"graph_optimization_level": "ORT_ENABLE_BASIC"}
    assert (out / "requirements.txt").read_text().split() == ONNX_REQUIREMENTS
    # the loader preprocess.json names, with the engine's session setting (in a process of its own, as on a device)
    level = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import infer; "
                            "config = infer.load_config()[0]; model = infer.load_model(config); "
                            "print(model.session.get_session_options().graph_optimization_level.name)", str(out)],
                           capture_output=True, text=True, cwd=tmp_path)
    assert level.returncode == 0 and level.stdout.split() == ["ORT_ENABLE_BASIC"], level.stderr
    Image.fromarray(np.full((40, 40, 3), 120, np.uint8)).save(tmp_path / "grey.png")
    classify = subprocess.run([sys.executable, str(out / "infer.py"), str(tmp_path / "grey.png"), "--top-k", "2"],
                              capture_output=True, text=True, cwd=tmp_path)
    assert classify.returncode == 0, classify.stderr
    measured = subprocess.run([sys.executable, str(out / "infer.py"), "--profile", "--min-runs", "3", "--min-time-s",
                               "0.02", "--results", str(tmp_path / "r.json")], capture_output=True, text=True,
                              cwd=tmp_path)
    assert measured.returncode == 0, measured.stderr
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert rows and {r["engine"] for r in rows} == {"ort-basic"}
    assert cli("bundle", lenet, "--engine", "openvino", "-o", tmp_path / "c").exit_code == 2  # no device side


def test_a_device_needs_the_runtime_modules_its_bundles_engine_declares():
    from edgecnn.engines.registry import all_device_modules, device_modules, device_engines, get_engine

    for name in device_engines():
        side = get_engine(name).device
        assert device_modules("\n".join(side.requirements)) == side.modules, name
        assert set(side.modules) <= set(all_device_modules())
    assert device_modules("numpy>=1.24\npillow>=10\nonnxruntime-gpu>=1.18\n") == ("onnxruntime",)  # imports as such
