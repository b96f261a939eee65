"""A recipe's ``devices:``: bundles measured on the device itself, merged into the run's report.

The "device" here is this machine through the same protocol (``host: local`` with this interpreter: a
temporary folder, the bundle and the validation images copied in, ``infer.py --profile`` run there); the
SSH transport has its own tests against a real sshd in test_device.py.
"""

from __future__ import annotations

import json
import sys
import tarfile

import pytest
import yaml
from test_run import TINY

from edgecnn.recipe import load_recipe
from edgecnn.recipe.pipeline import run_recipe

DEVICES = [{"name": "twin", "host": "local", "python": sys.executable,
            "targets": [{"precisions": ["fp32", "int8"], "batches": [1, 2], "threads": 1}]},
           {"name": "gone", "host": "local", "python": "/nonexistent/bin/python3",
            "targets": [{"precisions": ["fp32"]}]}]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("devices")
    recipe = root / "tiny.yaml"
    spec = dict(TINY, targets=[t for t in TINY["targets"] if t["engine"] == "ort"], devices=DEVICES)
    recipe.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECNN_CALIB_CACHE", str(root / "calib-cache"))
        mp.chdir(root)
        first = run_recipe(load_recipe(recipe), runs_dir=root / "runs", progress=False, log=lambda _: None)
        second = run_recipe(load_recipe(recipe), runs_dir=root / "runs", progress=False, log=lambda _: None)
    return first, second


def test_devices_get_bundle_and_measurement_stages(runs):
    first, _ = runs
    status = {s.name: s.status for s in first.stages}
    assert status["bundle-fp32"] == status["bundle-int8"] == "done"
    assert status["device-twin-fp32"] == status["device-twin-int8"] == "done", first.stages
    assert status["device-gone-fp32"] == "unavailable"  # the run goes on without it
    assert "no Python as '/nonexistent/bin/python3'" in first.stage("device-gone-fp32").message
    assert status["report"] == "done"
    with tarfile.open(first.run_dir / "bundles" / "model_int8.tar.gz") as archive:  # what ships, in the run folder
        assert {"model_int8/infer.py", "model_int8/model.onnx", "model_int8/manifest.sha256"} <= set(archive.getnames())


def test_device_rows_merge_into_the_report_with_the_device_top1(runs):
    first, _ = runs
    results = json.loads((first.run_dir / "results.json").read_text())
    host = results["devices"][0]
    assert results["devices"][1:] == ["twin"]
    rows = {(r["device"], r["engine"], r["precision"], r["batch"]): r for r in results["rows"]}
    for precision in ("fp32", "int8"):
        for batch in (1, 2):
            device_row = rows[("twin", "ort", precision, batch)]
            assert device_row["accuracy_images"] == 24 and device_row["p50_ms"] > 0
            # the same bundle model on the same validation images, preprocessed by the same code
            assert device_row["top1"] == rows[(host, "ort", precision, batch)]["top1"]
    assert results["training"]["best_top1"] is not None  # the host's run stays described
    assert set(results["best"]) == {host, "twin"}  # pick for me: one choice per device
    assert "Best on twin:" in (first.run_dir / "report.md").read_text()
    paired = {(d["device"], d["artifact"]) for d in results["accuracy_differences"]}
    assert {(host, "ort int8"), ("twin", "ort int8")} <= paired  # the device's per-image results pair up too
    assert "## Accuracy differences" in (first.run_dir / "report.md").read_text()
    report = (first.run_dir / "report.md").read_text()
    assert "| twin" in report and "device-gone-fp32" in report


def test_device_measurements_are_cached_by_bundle_and_device_identity(runs):
    _, second = runs
    status = {s.name: s.status for s in second.stages}
    assert status["device-twin-fp32"] == status["device-twin-int8"] == "cached"
    assert status["device-gone-fp32"] == "unavailable"


def test_devices_section_is_validated_at_load(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(dict(TINY, devices=[{"name": "a"}, {"name": "a"}])))
    with pytest.raises(Exception, match=r"devices\[1\]\.name: 'a' names two devices"):
        load_recipe(recipe)
    recipe.write_text(yaml.safe_dump(dict(TINY, devices=[{"name": "a", "targets": [{"engine": "openvino"}]}])))
    with pytest.raises(Exception, match=r"devices\[0\]\.targets\[0\]\.engine must be one of"):
        load_recipe(recipe)
