"""Every architecture exports to ONNX and agrees with PyTorch under ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgecnn.export import export_onnx, read_metadata, verify_onnx
from edgecnn.export.verify import require_passed
from edgecnn.errors import UsageError, VerificationError
from edgecnn.zoo import create_model, get_spec, list_models

SEED = ["lenet5", "nin", "zfnet", "alexnet2012", "alexnet2012_1tower", "mobilenet_v1", "mobilenet_v1_075",
        "mobilenet_v1_050", "mobilenet_v1_025", "se_resnet50", "unet", "unet_same", "siamese"]
HEADLINE = ["mobilenet_v2", "efficientnet_b0", "resnet50"]
# U-Net at its paper size (572x572) costs 150 G mult-adds; 188 is the smallest valid input
REDUCED_FOR_CI = {"unet": 188}


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _export_and_check(name, tmp_path, input_size=None, batch=1):
    loaded = create_model(name, input_size=input_size)
    out = tmp_path / f"{name.replace(':', '_')}.onnx"
    report = export_onnx(loaded, out, batch=batch)
    assert report.verification.passed, report.verification.failures
    assert report.verification.min_cosine > 0.9999
    assert report.nodes_simplified <= report.nodes_exported
    onnx.checker.check_model(str(out))
    session = _session(out)
    meta = read_metadata(out)
    assert meta.architecture == loaded.spec.name
    assert meta.preprocess == loaded.spec.preprocess
    assert meta.input_shape[1:] == list(loaded.input_size)
    assert [i.name for i in session.get_inputs()] == meta.input_names
    return loaded, out, meta, report


@pytest.mark.parametrize("name", SEED + HEADLINE)
def test_export_verifies(name, tmp_path):
    _export_and_check(name, tmp_path, input_size=REDUCED_FOR_CI.get(name))


def test_metadata_carries_the_preprocessing_and_provenance(tmp_path):
    loaded, out, meta, report = _export_and_check("mobilenet_v2", tmp_path)
    props = {p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props}
    for key in ("architecture", "input_shape", "layout", "preprocess", "labels", "weights_sha256", "versions"):
        assert f"edgecnn.{key}" in props
    assert meta.layout == "NCHW" and meta.input_shape == [1, 3, 224, 224]
    assert meta.preprocess.mean == (0.485, 0.456, 0.406) and meta.preprocess.std == (0.229, 0.224, 0.225)
    assert meta.preprocess.crop == (224, 224) and meta.preprocess.color == "RGB"
    assert len(meta.labels) == 1000 and meta.labels[0] == "tench"
    assert {"edgecnn", "torch", "onnx"} <= set(meta.versions)
    assert meta.weights_source == "random init" and meta.weights_sha256 == ""
    assert report.verification.top1_agreement == 1.0


def test_weights_sha256_recorded(tmp_path):
    from edgecnn.fileio import sha256_file

    path = tmp_path / "lenet.pth"
    torch.save(create_model("lenet5").model.state_dict(), path)
    loaded = create_model("lenet5", weights=path)
    export_onnx(loaded, tmp_path / "lenet.onnx")
    assert read_metadata(tmp_path / "lenet.onnx").weights_sha256 == sha256_file(path)


def test_dynamic_batch_is_verified_at_1_and_4_and_runs_any_batch(tmp_path):
    loaded, out, meta, report = _export_and_check("mobilenet_v1_025", tmp_path, batch="dynamic")
    assert report.verification.batch_sizes == [1, 4]
    assert meta.input_shape[0] == "batch"
    session = _session(out)
    (logits,) = session.run(None, {"input": np.random.randn(3, 3, 224, 224).astype(np.float32)})
    assert logits.shape == (3, 1000)


def test_fixed_batch_other_than_one(tmp_path):
    loaded = create_model("lenet5")
    export_onnx(loaded, tmp_path / "b8.onnx", batch=8)
    assert _session(tmp_path / "b8.onnx").get_inputs()[0].shape == [8, 1, 32, 32]


def test_verification_fails_against_a_different_model(tmp_path):
    loaded = create_model("lenet5")
    export_onnx(loaded, tmp_path / "a.onnx")
    other = create_model("lenet5")  # another random initialisation
    result = verify_onnx(other.model, str(tmp_path / "a.onnx"), other.input_size)
    assert not result.passed and any("max abs error" in f for f in result.failures)
    with pytest.raises(VerificationError, match="disagrees with PyTorch"):
        require_passed(result)


def test_no_simplify_and_bad_options(tmp_path):
    loaded = create_model("lenet5")
    report = export_onnx(loaded, tmp_path / "raw.onnx", do_simplify=False)
    assert report.nodes_simplified is None
    # the library names the option; the command line phrases it as --opset, a recipe as export.opset
    with pytest.raises(UsageError, match="^opset must be between 11 and 20, got 5") as info:
        export_onnx(loaded, tmp_path / "x.onnx", opset=5)
    assert info.value.option == "opset" and info.value.phrased("export.opset").startswith("export.opset must")
    with pytest.raises(UsageError, match="^batch must be a positive integer or 'dynamic'"):
        export_onnx(loaded, tmp_path / "x.onnx", batch="many")
    assert not (tmp_path / "x.onnx").exists()


def _slow_size(spec):
    if spec.fixed_input:
        return None
    return max(96, spec.min_input)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(list_models()) - set(SEED) - set(HEADLINE)))
def test_every_other_architecture_exports_and_verifies(name, tmp_path):
    _export_and_check(name, tmp_path, input_size=_slow_size(get_spec(name)))


@pytest.mark.slow
def test_timm_model_exports(tmp_path):
    pytest.importorskip("timm")
    _export_and_check("timm:efficientnet_lite0", tmp_path, input_size=96)


def test_adaptive_pool_that_does_not_divide_is_exported_exactly(tmp_path):
    from edgecnn.export.patches import FixedAdaptiveAvgPool2d, patch_for_export

    pool = torch.nn.AdaptiveAvgPool2d((7, 5))
    x = torch.randn(2, 3, 3, 11)
    assert torch.allclose(FixedAdaptiveAvgPool2d((3, 11), (7, 5))(x), pool(x), atol=1e-6)
    loaded = create_model("vgg11", input_size=64, num_classes=3)  # 2x2 features -> 7x7 pool
    patched, notes = patch_for_export(loaded.model, [torch.zeros(1, 3, 64, 64)])
    assert notes and isinstance(patched.avgpool, FixedAdaptiveAvgPool2d)
    assert isinstance(loaded.model.avgpool, torch.nn.AdaptiveAvgPool2d)  # the original is untouched
    _export_and_check("alexnet", tmp_path, input_size=96)
