"""The public Python API (``import edgecnn; edgecnn.export(...)``): the command line's own functions, end to end.

The README's Python example is run here as it is written (``readme_example``), on LeNet-5 and generated data,
and every figure it makes is checked; each API function is checked to be the very function its command calls.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import edgecnn

ROOT = Path(__file__).resolve().parents[1]

# API name -> (the module the command imports it from, its name there, the command line that calls it)
COMMANDS = {
    "train": ("edgecnn.train", "train_model", ["train", "lenet5", "--data", "synthetic:shapes:8", "-o", "{tmp}/r"]),
    "evaluate": ("edgecnn.evaluate", "evaluate_model", ["eval", "{tmp}/m.onnx", "--data", "synthetic:shapes:8"]),
    "export": ("edgecnn.export.onnx_export", "export_model", ["export", "lenet5", "-o", "{tmp}/m.onnx"]),
    "quantize": ("edgecnn.quantize", "quantize_model",
                 ["quantize", "{tmp}/m.onnx", "-o", "{tmp}/q.onnx", "--calib", "synthetic:shapes:8"]),
    "profile": ("edgecnn.profile.run", "profile", ["profile", "{tmp}/m.onnx"]),
    "compare": ("edgecnn.profile.compare_outputs", "compare_models", ["compare", "{tmp}/a.onnx", "{tmp}/b.onnx"]),
    "bundle": ("edgecnn.bundle.builder", "build_bundle", ["bundle", "{tmp}/m.onnx", "-o", "{tmp}/b"]),
    "run": ("edgecnn.recipe.pipeline", "run_recipe", ["run", str(ROOT / "recipes" / "quickstart.yaml"),
                                                      "--runs-dir", "{tmp}/runs"]),
}


def python_blocks(markdown: str, section: str) -> list[str]:
    """The ```python blocks of one ``## section`` of a Markdown text."""
    body = markdown.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, flags=re.S)


def test_import_edgecnn_starts_neither_pytorch_nor_onnx_runtime():
    code = ("import sys, edgecnn\n"
            "heavy = [m for m in ('torch', 'torchvision', 'onnx', 'onnxruntime', 'numpy', 'click') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "assert set(edgecnn.__all__) <= set(dir(edgecnn)), dir(edgecnn)\n"
            "print(edgecnn.__version__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == edgecnn.__version__


def test_the_api_is_every_command_that_makes_or_measures_something():
    assert sorted(edgecnn.__all__) == sorted(["__version__", *COMMANDS])
    for name in COMMANDS:
        function = getattr(edgecnn, name)
        assert callable(function), name
        assert inspect.unwrap(function).__doc__ and "Args:" in inspect.unwrap(function).__doc__, name
        assert inspect.signature(function) == inspect.signature(inspect.unwrap(function)), name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_function_is_the_one_its_command_calls(name, cli, tmp_path, monkeypatch):
    module, attribute, command = COMMANDS[name]
    home = importlib.import_module(module)
    assert inspect.unwrap(getattr(edgecnn, name)) is getattr(home, attribute)  # the very same function object

    calls = []

    class Called(Exception):
        pass

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        raise Called(name)

    monkeypatch.setattr(home, attribute, spy)  # what the command looks up when it runs
    result = cli(*[part.format(tmp=tmp_path) for part in command])
    assert calls, (name, result.output)
    assert result.exit_code == 1 and "Called" in result.stderr


def test_the_packages_stay_packages():
    """``edgecnn.export`` is the API's function and the package: its attributes and submodules still import."""
    import edgecnn.export.verify
    from edgecnn.export import export_onnx, read_metadata  # noqa: F401
    from edgecnn.quantize.int8 import quantize_int8  # noqa: F401

    assert edgecnn.export.verify is sys.modules["edgecnn.export.verify"]
    assert isinstance(edgecnn.quantize, type(sys)) and edgecnn.quantize.quantize_int8 is quantize_int8
    assert "calib" in inspect.signature(edgecnn.quantize).parameters
    assert "batches" in inspect.getdoc(edgecnn.profile.__wrapped__)


def test_options_go_as_keywords_or_as_their_dataclass_not_both(tmp_path):
    from edgecnn.errors import UsageError
    from edgecnn.export.options import ExportOptions

    with pytest.raises(UsageError, match="ExportOptions has no option 'batches'; it takes batch, format, opset"):
        edgecnn.export("lenet5", tmp_path / "m.onnx", batches=4)
    with pytest.raises(UsageError, match="not both"):
        edgecnn.export("lenet5", tmp_path / "m.onnx", options=ExportOptions(), opset=13)
    with pytest.raises(UsageError, match="precision must be one of int8, fp16"):
        edgecnn.quantize(tmp_path / "m.onnx", tmp_path / "q.onnx", precision="int4")
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def readme_example(tmp_path_factory):
    """The README's Python example, run as written in a fresh folder; its names, and the folder."""
    root = tmp_path_factory.mktemp("api")
    example = python_blocks((ROOT / "README.md").read_text(), "Python API")[0]
    names: dict = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECNN_CALIB_CACHE", str(root / "calib-cache"))
        mp.chdir(root)
        exec(compile(example, "README.md (Python API)", "exec"), names)
    return names, root


def test_train_writes_checkpoints(readme_example):
    names, root = readme_example
    trained = names["trained"]
    assert (root / "run" / "best.pt").is_file() and (root / "run" / "history.json").is_file()
    assert len(trained.history) == 1 and 0 <= trained.best_top1 <= 1


def test_export_writes_a_verified_onnx_with_metadata(readme_example):
    from edgecnn.export import read_metadata

    names, root = readme_example
    report = names["report"]
    assert Path(report.path) == Path("lenet5.onnx") and (root / "lenet5.onnx").stat().st_size == report.size_bytes
    v = report.verification
    assert v.passed and v.batch_sizes == [1, 4] and v.min_cosine > 0.9999 and v.max_abs_error < 1e-3
    meta = read_metadata(root / "lenet5.onnx")
    assert meta.architecture == "lenet5" and meta.input_shape[0] == "batch" and len(meta.labels) == 8


def test_quantize_writes_int8_checked_against_fp32(readme_example):
    names, root = readme_example
    int8 = names["int8"]
    assert int8.precision == "int8" and (root / "lenet5_int8.onnx").is_file()
    assert int8.report.quantized_nodes > 0 and int8.report.size_bytes < int8.report.fp32_size_bytes
    assert int8.report.agreement["cosine"] > 0.9
    assert int8.latency_ms is None  # speed=False
    saved = json.loads(json.dumps(int8.to_dict(), default=str))  # what `edgecnn quantize --json` writes
    assert saved["quantize"]["path"] == "lenet5_int8.onnx"


def test_profile_measures_latency_and_accuracy(readme_example):
    names, _ = readme_example
    result = names["result"]
    assert [s.batch for s in result.latency] == [1, 8]
    assert all(s.p50_ms > 0 and s.runs >= 50 for s in result.latency)
    assert result.precision == "int8" and result.file_size_bytes > 0 and result.environment["cpu"]
    assert names["p50_ms"] == result.latency[0].p50_ms


def test_compare_and_evaluate_on_the_same_images(readme_example):
    names, _ = readme_example
    comparison, evaluation = names["comparison"], names["evaluation"]
    assert comparison.samples == 16 and comparison.cosine > 0.9 and 0 <= comparison.top1_agreement <= 1
    assert comparison.difference is not None  # labelled images: the paired top-1 difference
    assert evaluation.result["images"] == 64 and 0 <= evaluation.result["top1"] <= 1
    assert "top-1" in evaluation.text and 0 <= evaluation.payload["agreement"] <= 1  # the other model: FP32


def test_bundle_is_written_with_its_archive(readme_example):
    names, root = readme_example
    bundle = names["bundle"]
    device_package = sorted(f"edgecnn_device/{p.name}" for p in (Path(__file__).parents[1] / "edgecnn/core/device")
                            .glob("*.py"))
    assert sorted(bundle.files) == sorted(["README.md", *device_package, "infer.py", "labels.txt", "model.onnx",
                                           "preprocess.json", "requirements.txt"])
    assert (root / "lenet5-bundle" / "manifest.sha256").is_file() and bundle.archive == Path("lenet5-bundle.zip")
    assert (root / "lenet5-bundle.zip").stat().st_size > 0


def test_fp16_through_the_same_call(readme_example, tmp_path):
    _, root = readme_example
    fp16 = edgecnn.quantize(root / "lenet5.onnx", tmp_path / "fp16.onnx", precision="fp16")
    assert fp16.precision == "fp16" and (tmp_path / "fp16.onnx").is_file()
    assert fp16.fp16["agreement"]["cosine"] > 0.999 and fp16.to_dict() == fp16.fp16


def test_run_a_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib-cache"))
    recipe = tmp_path / "api.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "api", "model": {"arch": "lenet5"}, "data": {"path": "synthetic:shapes:64", "val_split": 0.25},
        "train": {"epochs": 3, "batch_size": 16, "workers": 0, "augment": False},
        "quantize": {"samples": 16, "method": "minmax"},
        "targets": [{"engine": "ort", "precisions": ["fp32", "int8"], "batches": [1], "threads": 1}],
        "profile": {"warmup_s": 0.02, "min_runs": 5, "min_time_s": 0.05}}))
    lines: list[str] = []
    result = edgecnn.run(recipe, ["train.epochs=1"], runs_dir=tmp_path / "runs", log=lines.append, progress=False)
    assert not result.failed, [(s.name, s.message) for s in result.failed]
    assert [s.name for s in result.stages] == ["train", "export", "quantize-int8", "profile-ort-fp32",
                                               "profile-ort-int8", "report"]
    rows = json.loads((result.run_dir / "results.json").read_text())["rows"]
    assert {(r["precision"], r["batch"]) for r in rows} == {("fp32", 1), ("int8", 1)}
    assert all(r["p50_ms"] > 0 for r in rows)
    assert len(json.loads((result.run_dir / "artifacts" / "history.json").read_text())["history"]) == 1  # --set
    assert (result.run_dir / "report.md").is_file() and any("report" in line for line in lines)
