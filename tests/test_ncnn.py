"""ncnn: the pnnx export verified against PyTorch with ncnn's runtime, the .param + .bin + sidecar written together
(or not at all), the precisions as ncnn options, the engine (profile, compare, check), "unavailable" without the
extra, a recipe with an ncnn target here and on a device (fp16 bundled as such).

The runtime and converter are real (``pip install '.[test]'`` installs ncnn and pnnx). Outside CI a missing one
skips; in CI (``CI=true``) it fails. The bundle running without torch and edgecnn is test_mobile_runtimes'.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import yaml
from test_mobile_runtimes import _cli, need

from edgecnn.errors import DependencyMissing, ExportError, UsageError, VerificationError


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """lenet5 (seeded) as ONNX and as ncnn: the same weights in both."""
    import torch

    from edgecnn.export import export_model
    from edgecnn.zoo import create_model

    need("ncnn")
    need("pnnx")
    torch.manual_seed(0)
    loaded = create_model("lenet5")
    folder = tmp_path_factory.mktemp("ncnn")
    reports = {fmt: export_model(loaded, folder / f"lenet5{suffix}", format=fmt)
               for fmt, suffix in (("onnx", ".onnx"), ("ncnn", ".param"))}
    return loaded, folder, reports


def test_export_writes_param_bin_and_sidecar_verified_by_ncnn(lenet):
    from edgecnn.export.ncnn import io_blobs, read_param
    from edgecnn.export.sidecar import read_sidecar

    loaded, folder, reports = lenet
    report = reports["ncnn"]
    assert report.format == "ncnn" and report.verification.passed and report.verification.runtime == "ncnn (CPU)"
    assert report.verification.max_abs_error <= report.verification.outputs[0].tolerance
    param, weights = folder / "lenet5.param", folder / "lenet5.bin"
    # the size is the model's: graph and weights (lenet5 has 61,706 float32 parameters besides C3's mask)
    assert report.size_bytes == param.stat().st_size + weights.stat().st_size
    assert weights.stat().st_size >= 4 * sum(p.numel() for p in loaded.model.parameters())
    assert io_blobs(read_param(param.read_text())) == (["in0"], ["out0"])
    meta, delegation = read_sidecar(param)
    assert report.sidecar == str(folder / "lenet5.param.json") and delegation is None
    assert meta.architecture == "lenet5" and meta.labels == loaded.labels and meta.preprocess == loaded.preprocess
    assert meta.export["exporter"] == "pnnx" and meta.export["backend"] == "ncnn" and meta.extra["precision"] == "fp32"
    assert not list(folder.glob(".*partial*")) and not list(folder.glob(".*.bin"))  # no temporary left behind


def test_read_param_finds_inputs_and_outputs_of_a_two_input_graph():
    from edgecnn.export.ncnn import io_blobs, read_param

    text = ("7767517\n5 6\nInput in0 0 1 in0\nInput in1 0 1 in1\nConvolution c0 1 1 in0 a 0=4\n"
            "Convolution c1 1 1 in1 b 0=4\nBinaryOp add 2 2 a b out1 out0 0=0\n")
    layers = read_param(text)
    assert [l.type for l in layers] == ["Input", "Input", "Convolution", "Convolution", "BinaryOp"]
    assert io_blobs(layers) == (["in0", "in1"], ["out0", "out1"])
    with pytest.raises(ExportError, match="not an ncnn .param"):
        read_param("onnx\n")


def test_a_failed_export_leaves_no_file(lenet, tmp_path, monkeypatch):
    """A verification that fails leaves neither the .param, nor its .bin, nor the sidecar."""
    import dataclasses

    from edgecnn.export import export_model, ncnn

    loaded, _, _ = lenet

    def wrong(path, threads=None):
        run = ncnn.Session(path).run
        return lambda arrays: [out + 1.0 for out in run(arrays)]

    broken = dataclasses.replace(ncnn.FORMAT, runner=wrong)
    monkeypatch.setattr(ncnn, "_format", lambda: broken)
    with pytest.raises(VerificationError):
        export_model(loaded, tmp_path / "bad.param", format="ncnn")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_int8_and_batches_are_refused_in_one_line(lenet, tmp_path):
    from edgecnn.export import export_model
    from edgecnn.export.mobile import export_mobile, mobile_format

    loaded, _, _ = lenet
    with pytest.raises(UsageError, match="ncnn has no batch dimension"):
        export_model(loaded, tmp_path / "b.param", format="ncnn", batch=4)
    with pytest.raises(UsageError, match="ncnn exports fp32, not int8; .*ncnn2table and ncnn2int8"):
        export_mobile(mobile_format("ncnn"), loaded, tmp_path / "q.param", precision="int8",
                      calibration=np.zeros((4, 1, 32, 32), np.float32))
    result = _cli("quantize", "lenet5", "--for", "ncnn", "--calib", "synthetic:shapes:8", "-o", tmp_path / "q.param")
    assert result.exit_code != 0  # no INT8 placement for ncnn: --for refuses it
    assert not list(tmp_path.iterdir())


def test_precisions_are_ncnn_options_on_the_one_file(lenet):
    """fp32 turns ncnn's default fp16 storage and arithmetic off (it would run FP32 files in fp16 on ARMv8.2);
    fp16 turns them on, on the same file; the runner says which it runs, and int8 is refused."""
    from edgecnn.engines import load_runner

    _, folder, _ = lenet
    param = folder / "lenet5.param"
    feed = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    outs = {}
    for precision in ("fp32", "fp16"):
        runner = load_runner(param, precision=precision, threads=1)
        runner.activate()
        opt = runner.session.net.opt
        on = precision == "fp16"
        assert (opt.use_fp16_storage, opt.use_fp16_arithmetic, opt.use_fp16_packed) == (on, on, on)
        assert not opt.use_bf16_storage and not opt.use_vulkan_compute and opt.num_threads == 1
        assert runner.info.extra["precision"] == precision
        outs[precision] = runner.infer_array(feed)
    assert outs["fp32"].shape == (2, 10)  # a batch runs image by image
    cosine = float(np.dot(outs["fp32"].ravel(), outs["fp16"].ravel()) /
                   (np.linalg.norm(outs["fp32"]) * np.linalg.norm(outs["fp16"])))
    assert cosine > 0.999
    with pytest.raises(UsageError, match="engine ncnn cannot run precision int8"):
        load_runner(param, precision="int8")


def test_profile_compare_and_check(lenet):
    from edgecnn.profile.compare_outputs import compare_models
    from edgecnn.profile.run import profile

    _, folder, _ = lenet
    param, onnx = folder / "lenet5.param", folder / "lenet5.onnx"
    timing = dict(batches=(1,), threads=1, warmup_s=0.02, min_runs=5, min_time_s=0.05)
    for precision in ("fp32", "fp16"):
        result = profile(param, precision=precision, per_layer=True, **timing)
        assert result.engine == "ncnn" and result.precision == precision and result.latency[0].runs >= 5
        assert result.file_size_bytes == param.stat().st_size + (folder / "lenet5.bin").stat().st_size
        assert result.per_layer is None and any("built without NCNN_BENCHMARK" in w for w in result.warnings)
    compared = compare_models(onnx, param, samples=4)  # the same weights on ONNX Runtime and ncnn
    assert compared.cosine > 0.9999 and compared.top1_agreement == 1.0, compared
    result = _cli("check", param)
    assert result.exit_code != 0 and "ncnn (CPU), which has no delegate" in result.output


def test_unavailable_without_the_extra(monkeypatch, tmp_path):
    from edgecnn.engines.registry import capability_table, get_engine
    from edgecnn.export.ncnn import require_converter, require_ncnn

    for module in ("ncnn", "pnnx"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(DependencyMissing, match=r"ncnn is not installed .*pip install 'edgecnn\[ncnn\]'"):
        require_ncnn()
    with pytest.raises(DependencyMissing, match=r"pip install 'edgecnn\[ncnn\]'"):
        require_converter()
    assert not get_engine("ncnn").available()
    result = _cli("export", "lenet5", "--format", "ncnn", "-o", tmp_path / "x.param")
    assert result.exit_code != 0 and "pip install 'edgecnn[ncnn]'" in result.output
    assert not list(tmp_path.iterdir())
    assert any(line.startswith("ncnn ") and line.endswith("no: pip install 'edgecnn[ncnn]'") for line in capability_table())


NCNN_RECIPE = {
    "name": "ncnn",
    "model": {"arch": "lenet5"},
    "data": {"path": "synthetic:shapes:48", "val_split": 0.25, "seed": 0},
    "train": {"enabled": False},
    "targets": [{"engine": "ort", "precisions": ["fp32"], "batches": [1], "threads": 1},
                {"engine": "ncnn", "precisions": ["fp32", "fp16"], "batches": [1], "threads": 1}],
    "devices": [{"name": "twin", "host": "local", "python": sys.executable,
                 "targets": [{"engine": "ncnn", "precisions": ["fp16"], "batches": [1], "threads": 1}]}],
    "profile": {"warmup_s": 0.02, "min_runs": 5, "min_time_s": 0.05},
}


def test_a_recipe_runs_ncnn_here_and_on_a_device(tmp_path, monkeypatch):
    """One export-ncnn stage (param, bin, sidecar) feeds both precisions; the stages that read it need the .bin
    too (a retrained model changes only the weights); the device's bundle runs fp16 and says so."""
    import tarfile

    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import plan, run_recipe

    need("ncnn")
    need("pnnx")
    monkeypatch.chdir(tmp_path)
    recipe = tmp_path / "ncnn.yaml"
    recipe.write_text(yaml.safe_dump(NCNN_RECIPE, sort_keys=False))
    stages = {s.name: s for s in plan(load_recipe(recipe))}
    export = stages["export-ncnn"]
    assert export.outputs == ("artifacts/model_fp32.param", "artifacts/model_fp32.bin",
                              "artifacts/model_fp32.param.json")
    assert "artifacts/model_fp32.bin" in stages["profile-ncnn-fp16"].needs
    assert not any(name.startswith("quantize-fp16") for name in stages)  # fp16 is ncnn's options, not a file
    run = run_recipe(load_recipe(recipe), runs_dir=tmp_path / "runs", progress=False, log=lambda _: None)
    assert not run.failed, [(s.name, s.message) for s in run.failed]
    results = json.loads((run.run_dir / "results.json").read_text())
    host = results["devices"][0]
    rows = {(r["device"], r["engine"], r["precision"]): r for r in results["rows"]}
    assert {(host, "ncnn", "fp32"), (host, "ncnn", "fp16"), ("twin", "ncnn", "fp16")} <= set(rows)
    assert all(rows[k]["p50_ms"] > 0 for k in rows)
    bundle = next((run.run_dir / "bundles").glob("*.tar.gz"))
    with tarfile.open(bundle) as archive:
        names = set(archive.getnames())
        folder = next(n.split("/")[0] for n in names)
        assert {f"{folder}/model.param", f"{folder}/model.bin"} <= names
        config = json.load(archive.extractfile(f"{folder}/preprocess.json"))
    assert config["precision"] == "fp16" and config["engine"] == "ncnn_net"


def test_profile_best_times_ncnn_fp16_only_where_the_cpu_computes_in_fp16():
    """The same .param is an fp16 candidate on an ARMv8.2 CPU (asimdhp) and not on x86 or an older ARM core:
    both CPUs faked, so both branches run on any machine."""
    from edgecnn.report.profile_best import Candidate, candidates

    need("ncnn")
    pi5 = {"model": "Cortex-A76", "arch": "aarch64", "isa": ["asimd", "asimddp", "asimdhp"]}
    pi4 = dict(pi5, model="Cortex-A72", isa=["asimd"])
    xeon = {"model": "Xeon", "arch": "x86_64", "isa": ["avx512f", "avx512_fp16", "amx_bf16"]}
    assert candidates({"m.param": "fp32"}, ["ort"], pi5) == [Candidate("m.param", "ncnn", "fp32"),
                                                              Candidate("m.param", "ncnn", "fp16")]
    assert candidates({"m.param": "fp32"}, ["ort"], pi4) == [Candidate("m.param", "ncnn", "fp32")]
    assert candidates({"m.param": "fp32"}, ["ort"], xeon) == [Candidate("m.param", "ncnn", "fp32")]


def test_a_two_input_siamese_net_keeps_its_output_shapes(tmp_path):
    """A Siamese net (two inputs; its similarity is one value per pair, shape [N]) exports and verifies: an ncnn
    Mat has no batch dimension and gives that value as width 1, so the sidecar records each output's per-image
    shape and the runner gives PyTorch's shapes back."""
    import torch

    from edgecnn.engines import load_runner
    from edgecnn.export import export_model
    from edgecnn.export.sidecar import read_sidecar
    from edgecnn.zoo import create_model

    need("ncnn")
    need("pnnx")
    torch.manual_seed(0)
    loaded = create_model("siamese:resnet18", input_size=64)
    report = export_model(loaded, tmp_path / "pair.param", format="ncnn")
    assert report.verification.passed
    meta, _ = read_sidecar(tmp_path / "pair.param")
    assert json.loads(meta.extra["ncnn_output_shapes"])[-1] == []  # the similarity: batch only
    runner = load_runner(tmp_path / "pair.param")
    feed = {name: np.random.default_rng(i).standard_normal((3, 3, 64, 64)).astype(np.float32)
            for i, name in enumerate(meta.input_names)}
    outs = runner.infer(feed)
    with torch.no_grad():
        reference = loaded.model(*(torch.from_numpy(feed[name]) for name in meta.input_names))
    assert [outs[name].shape for name in meta.output_names] == [tuple(r.shape) for r in reference]
