"""The stage cache never serves a stale or damaged result (issue 11, part 5).

* keys carry edgecnn's version, its source digest (editable installs) and every library that can
  change an artifact;
* an entry whose files changed or vanished after it was written is reported and rebuilt;
* two processes building the same entry at once build it once, and neither sees half of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from edgecnn.recipe import cache as cache_module
from edgecnn.recipe.cache import StageCache


def _entry(root: Path, stage="export", key="k" * 64, files=None) -> StageCache:
    cache = StageCache(root)
    with cache.produce(stage, key) as (work, record):
        for name, content in (files or {"model.onnx": b"weights", "notes/a.txt": b"x"}).items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_bytes(content)
        record["answer"] = 42
    return cache


def test_keys_carry_edgecnn_source_and_every_library(monkeypatch):
    from importlib import metadata

    from edgecnn.recipe.graph import Stage, stage_key

    packages = ("onnxconverter-common", "openvino", "onnxruntime", "onnx", "torch", "numpy")
    versions = cache_module.key_versions(packages)
    assert versions["edgecnn"]
    for package in packages:
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            assert versions[package] == "absent"
            continue
        assert versions[package] == installed, package
    # the test suite runs from an editable install: the source digest is part of every key
    assert cache_module._is_editable() and len(versions["edgecnn-source"]) == 20

    def export(opset: int) -> Stage:
        return Stage("export", lambda ctx: None, outputs=("m.onnx",), settings={"opset": opset}, libraries=packages)

    before = stage_key(export(17), {"model": "abc"})
    monkeypatch.setattr(cache_module, "_source_digest", "0" * 20)  # edgecnn's code changed, same version number
    assert stage_key(export(17), {"model": "abc"}) != before
    assert stage_key(export(18), {"model": "abc"}) != stage_key(export(17), {"model": "abc"})
    assert stage_key(export(17), {"model": "abd"}) != stage_key(export(17), {"model": "abc"})


def test_the_source_digest_follows_the_code(tmp_path, monkeypatch):
    package = Path(cache_module.__file__).resolve().parents[1]
    digest = cache_module._hash_sources()
    assert digest == cache_module._hash_sources()
    extra = package / "zz_probe_for_test.py"
    try:
        extra.write_text("# a new module\n")
        assert cache_module._hash_sources() != digest
    finally:
        extra.unlink()
    assert cache_module._hash_sources() == digest


def test_an_intact_entry_is_reused_with_its_record(tmp_path):
    cache = _entry(tmp_path)
    entry, damage = cache.check("export", "k" * 64)
    assert damage is None and entry.record["answer"] == 42
    assert sorted(entry.record["files"]) == ["model.onnx", "notes/a.txt"]


@pytest.mark.parametrize("harm,words", [
    (lambda e: (e / "model.onnx").write_bytes(b"weightz"), "model.onnx was changed after it was written"),
    (lambda e: (e / "model.onnx").unlink(), "model.onnx was removed after it was written"),
    (lambda e: (e / "notes" / "a.txt").write_bytes(b""), "notes/a.txt was changed after it was written"),
    (lambda e: (e / "stage.json").write_text("{"), "its stage.json is missing or unreadable"),
])
def test_a_damaged_entry_is_detected(harm, words, tmp_path):
    cache = _entry(tmp_path)
    time.sleep(0.01)  # a new modification time, as any later edit has
    harm(cache._dir("export", "k" * 64))
    entry, damage = cache.check("export", "k" * 64)
    assert entry is None and damage == words


# ---------------------------------------------------------------- through edgecnn run
SMALL = {
    "name": "small",
    "model": {"arch": "lenet5"},
    "data": {"path": "synthetic:shapes:32", "val_split": 0.25},
    "train": {"enabled": False},
    "quantize": {"samples": 8, "method": "minmax"},
    "targets": [{"engine": "ort", "precisions": ["fp32", "int8"], "batches": [1], "threads": 1}],
    "profile": {"warmup_s": 0.01, "min_runs": 3, "min_time_s": 0.01, "accuracy": False},
}


def _run(recipe: Path, runs: Path, log: list[str] | None = None):
    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import run_recipe

    return run_recipe(load_recipe(recipe), runs_dir=runs, progress=False,
                      log=(log.append if log is not None else (lambda _: None)))


@pytest.fixture
def small_recipe(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    return path


def test_a_run_rebuilds_an_entry_changed_after_it_was_written(small_recipe, tmp_path):
    first = _run(small_recipe, tmp_path / "runs")
    assert not first.failed, first.stages
    # a user edits the exported model in the run folder: a hard link into the cache entry
    artifact = first.run_dir / "artifacts" / "model_fp32.onnx"
    original = artifact.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    log: list[str] = []
    second = _run(small_recipe, tmp_path / "runs", log)
    statuses = {s.name: s.status for s in second.stages}
    assert statuses["model"] == "cached" and statuses["export"] == "done", second.stages
    notes = [line for line in log if "damaged" in line]
    assert notes == ["    note: the cached export entry is damaged (model_fp32.onnx was changed after it was written); "
                     "rebuilding it"]
    assert (second.run_dir / "artifacts" / "model_fp32.onnx").read_bytes() != bytes(data)
    third = _run(small_recipe, tmp_path / "runs")
    assert {s.status for s in third.stages if s.name != "report"} == {"cached"}, third.stages


CONCURRENT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from edgecnn.recipe.cache import StageCache
    cache = StageCache(sys.argv[1])
    log = Path(sys.argv[2])
    with cache.lock("build", "k" * 64):
        entry, damage = cache.check("build", "k" * 64)
        if entry is None:
            with cache.produce("build", "k" * 64) as (work, record):
                with open(log, "a") as handle:
                    handle.write("built\\n")
                for i in range(20):  # a slow stage: the other process must not see it half-written
                    (work / f"part{i}.bin").write_bytes(bytes([i]) * 10000)
                    time.sleep(0.02)
            entry, damage = cache.check("build", "k" * 64)
    print(json.dumps({"files": len(entry.record["files"]), "damage": damage}))
""")


def test_two_processes_build_one_entry_once(tmp_path):
    log = tmp_path / "built.log"
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(tmp_path / "cache"), str(log)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert [json.loads(o[0]) for o in outs] == [{"files": 20, "damage": None}] * 2
    assert log.read_text() == "built\n"  # the second process waited and reused the entry
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".partial")]


def test_two_runs_of_one_recipe_started_at_once(small_recipe, tmp_path):
    script = ("import sys; from edgecnn.cli import main; "
              "sys.exit(main(['run', sys.argv[1], '--runs-dir', sys.argv[2]]))")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(small_recipe), str(tmp_path / "runs")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    run_dirs = sorted(p for p in (tmp_path / "runs" / "small").iterdir() if p.name != "cache")
    assert len(run_dirs) == 2  # two folders even when both started in the same second
    cache = tmp_path / "runs" / "small" / "cache"
    entries = sorted(p.name.rsplit("-", 1)[0] for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert entries == ["export", "model", "profile-ort-fp32", "profile-ort-int8", "quantize-int8"]
    assert not [p for p in cache.iterdir() if p.name.endswith(".partial")]
    for name in ("model_fp32.onnx", "model_int8.onnx"):
        a, b = (d / "artifacts" / name for d in run_dirs)
        assert a.read_bytes() == b.read_bytes() and a.stat().st_ino == b.stat().st_ino  # one entry, linked twice
    built = sum(err.count("export: done") for _, err in outs)
    assert built == 1, [err for _, err in outs]  # one run built the export, the other reused it
    for entry in (p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")):
        record = json.loads((entry / "stage.json").read_text())
        assert StageCache(cache).check(record["stage"], record["key"])[1] is None
