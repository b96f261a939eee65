"""Quantization-aware training: the simulation is the exported scheme, removing it gives the float model back,
and `edgecnn train CHECKPOINT --qat` writes a Q/DQ model that ONNX Runtime runs like any INT8 one."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from edgecnn.quantize.qat import (
    ActivationFakeQuant,
    FoldedWeightFakeQuant,
    conv_bn_pairs,
    exported_points,
    module_path,
    simulate_int8,
)
from edgecnn.zoo import create_model


def _tiny():
    return create_model("mobilenet_v1_025", num_classes=8, input_size=32)


def test_folded_weights_are_on_the_int8_grid_of_the_exported_weight(tmp_path):
    """The weight QAT rounds is the one the ONNX export writes (BatchNorm folded): per output channel, folded
    weight / (max |folded| / 127) is an integer in [-127, 127]."""
    from edgecnn.export import export_onnx

    loaded = _tiny()
    model = loaded.model.eval()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # statistics that fold visibly
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
    pairs = conv_bn_pairs(model)
    modules = dict(model.named_modules())
    assert len(pairs) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in modules.values())  # every BN follows a conv
    conv_name = next(iter(pairs))
    conv, bn = modules[conv_name], modules[pairs[conv_name]]
    fold = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
    export_onnx(loaded, tmp_path / "m.onnx")
    exported = onnx.load(str(tmp_path / "m.onnx"))
    assert not any(n.op_type == "BatchNormalization" for n in exported.graph.node)  # the export folds them
    folded = (conv.weight * fold.reshape(-1, 1, 1, 1)).detach()
    onnx_weights = [numpy_helper.to_array(i) for i in exported.graph.initializer if i.dims == list(conv.weight.shape)]
    assert any(np.allclose(w, folded.numpy(), atol=1e-5) for w in onnx_weights)
    simulated = FoldedWeightFakeQuant(bn)(conv.weight).detach() * fold.reshape(-1, 1, 1, 1)
    steps = simulated / (folded.abs().amax(dim=(1, 2, 3), keepdim=True) / 127)
    assert torch.allclose(steps, steps.round(), atol=1e-3) and steps.abs().max() <= 127 + 1e-3
    assert 0 < (simulated - folded).abs().max() <= (folded.abs().amax() / 127) / 2 + 1e-6


def test_activations_take_256_levels_and_the_range_follows_training_batches():
    hook = ActivationFakeQuant(momentum=0.5)
    layer = torch.nn.Identity().train()
    x = torch.linspace(-1.0, 3.0, 1000)
    (y,) = hook(layer, (x,))
    assert (hook.low, hook.high) == (-1.0, 3.0) and len(torch.unique(y)) <= 256
    hook(layer, (x * 3,))
    assert hook.high == pytest.approx(3.0 + 0.5 * (9.0 - 3.0))  # moving average
    layer.eval()
    hook(layer, (x * 100,))
    assert hook.high == pytest.approx(6.0)  # evaluation does not move the range
    symmetric = ActivationFakeQuant(symmetric=True)
    (z,) = symmetric(layer.train(), (x,))
    step = 3.0 / 127  # max(|-1|, 3) / 127, zero point 0: TensorRT's form
    assert torch.allclose(z / step, (z / step).round(), atol=1e-4) and len(torch.unique(z)) <= 256


def test_removing_the_simulation_gives_the_float_model_back():
    model = create_model("resnet18", num_classes=8, input_size=32).model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        simulation = simulate_int8(model)
        assert len(simulation.hooks) == 2 * len(simulation.layers)  # each layer's input and output
        simulated = model(x)
        simulation.remove()
        after = model(x)
    assert (simulated - reference).abs().max() > 0  # the simulation rounds something
    assert torch.equal(after, reference) and model.state_dict().keys() == before.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_module_paths_from_the_exporters_scoped_names():
    assert module_path("/features/features.4/features.4.1/block/block.0/block.0.2/Sigmoid") == "features.4.1.block.0.2"
    assert module_path("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert module_path("/Flatten") == "" and module_path("input_QuantizeLinear") is None


def test_the_simulation_sits_where_the_export_puts_qdq(tmp_path, monkeypatch):
    """A ResNet-18's post-training INT8 model read back as module names: every INT8 convolution and the residual
    blocks' outputs are simulated, and the simulation installs exactly those hooks."""
    from edgecnn.export import export_onnx
    from edgecnn.quantize import QuantizeOptions, quantize_int8

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    loaded = create_model("resnet18", num_classes=8, input_size=32)
    export_onnx(loaded, tmp_path / "fp32.onnx")
    quantize_int8(tmp_path / "fp32.onnx", tmp_path / "int8.onnx", "synthetic:shapes:32", progress=False,
                  options=QuantizeOptions(samples=8))
    int8 = onnx.load(str(tmp_path / "int8.onnx"))
    model = loaded.model.eval()
    points = exported_points(model, int8)
    convs = [n for n in int8.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(points.weights) == len(convs) == 21 and points.inputs == points.weights  # 20 convs + the fc
    assert {"layer1.0", "layer2.1", "layer4.1"} <= points.outputs  # the residual Add (+ ReLU) of each block
    assert points.quantized >= len(points.outputs) and points.unmapped <= 2, points.counts()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(x)
        simulation = simulate_int8(model, points=points)
        assert len(simulation.layers) == 21
        assert len(simulation.hooks) == len(points.inputs) + len(points.outputs) + len(points.silu_sigmoids)
        simulated = model(x)
        simulation.remove()
        assert torch.equal(model(x), reference) and (simulated - reference).abs().max() > 0


def test_a_silu_whose_sigmoid_is_quantized_rounds_the_sigmoid():
    from edgecnn.quantize.qat import _SiluWithQuantizedSigmoid

    silu = torch.nn.SiLU().train()
    hook = _SiluWithQuantizedSigmoid(ActivationFakeQuant())
    x = torch.linspace(-6, 6, 1001)
    out = hook(silu, (x,), silu(x))
    sigmoid = out / torch.where(x == 0, torch.ones_like(x), x)
    assert len(torch.unique(sigmoid[x != 0].round(decimals=5))) <= 256 < len(torch.unique(torch.sigmoid(x)))
    assert (out - silu(x)).abs().max() <= 6 * (1 / 255) / 2 + 1e-5  # at most half a step of the sigmoid, times |x|


def test_an_inplace_silu_is_simulated_from_its_input_and_given_back_inplace():
    """torchvision's EfficientNet uses SiLU(inplace=True): the hook must see the input, not the overwritten one."""
    from edgecnn.quantize.qat import ExportedPoints

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.SiLU(inplace=True)).eval()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = model(x)
        simulation = simulate_int8(model, points=ExportedPoints(silu_sigmoids={"1"}))
        simulated = model(x)
        simulation.remove()
    assert (simulated - reference).abs().max() <= reference.abs().max() / 255 + 1e-5  # rounding, not garbage
    assert model[1].inplace and torch.equal(model(x), reference)


def test_cli_train_qat_writes_a_qdq_model_with_its_provenance(tmp_path, cli, monkeypatch):
    from conftest import one_line_error
    from edgecnn.core.metadata import read_metadata
    from edgecnn.quantize.int8 import is_quantized
    from edgecnn.zoo.weights import read_weights

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    data = "synthetic:shapes:64"
    trained = cli("train", "mobilenet_v1_025", "--data", data, "-o", tmp_path / "run", "--epochs", "1",
                  "--img-size", "32", "--batch-size", "16", "--workers", "0", "--optimizer", "adamw")
    assert trained.exit_code == 0, trained.output
    source = tmp_path / "run" / "last.pt"
    result = cli("train", source, "--qat", "--data", data, "-o", tmp_path / "qat", "--epochs", "1", "--batch-size",
                 "16", "--workers", "0")  # QAT's own rate, not the classifier's 0.05
    assert result.exit_code == 0, result.output
    assert "sgd lr 0.0001, weight decay 0, momentum 0.9, cosine schedule" in result.stderr
    assert "QAT: float top-1" in result.stdout and "model_qat_int8.onnx" in result.stdout
    model = onnx.load(str(tmp_path / "qat" / "model_qat_int8.onnx"))
    assert is_quantized(model)
    meta = read_metadata(model)
    assert json.loads(meta.extra["qat"])["epochs"] == 1 and meta.extra["precision"] == "int8"
    assert json.loads(meta.extra["qat"])["lr"] == 1e-4 and json.loads(meta.extra["qat"])["optimizer"] == "sgd"
    assert meta.labels == read_weights(source).checkpoint["classes"]
    report = json.loads((tmp_path / "qat" / "qat.json").read_text())
    assert len(report["simulated_top1"]) == 1 and report["folded_batchnorms"] > 0
    assert report["simulated"]["weights"] > 0 and report["simulated"]["unmapped"] <= 2  # at the export's Q/DQ
    assert report["quantize"]["agreement"]["cosine"] > 0.9  # the INT8 file follows the QAT float model
    tuned, original = read_weights(tmp_path / "qat" / "qat.pt").state_dict, read_weights(source).state_dict
    assert tuned.keys() == original.keys() and any(not torch.equal(tuned[k], original[k]) for k in tuned)
    again = cli("train", source, "--qat", "--data", data, "-o", tmp_path / "qat", "--epochs", "1")
    assert "exists; pass --force" in one_line_error(again)
