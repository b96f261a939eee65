"""Totals against published counts; per-layer shapes against the lecture tables."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.summary import summarize
from edgecnn.zoo import create_model


def _summary(name, **kwargs):
    loaded = create_model(name, **kwargs)
    return summarize(loaded.model, [(1, *loaded.input_size)] * loaded.spec.num_inputs, name)


# torchvision's documented parameter counts and GFLOPS (which are multiply-adds)
@pytest.mark.parametrize("name,params,gmacs", [
    ("resnet50", 25_557_032, 4.09),
    ("vgg16", 138_357_544, 15.47),
    ("mobilenet_v2", 3_504_872, 0.30),
    ("efficientnet_b0", 5_288_548, 0.39),
])
def test_totals_match_published_figures(name, params, gmacs):
    s = _summary(name)
    assert s.total_params == params
    assert sum(r.params for r in s.rows) == params
    assert abs(s.total_macs / 1e9 - gmacs) / gmacs <= 0.02


def test_original_alexnet_matches_the_paper():
    s = _summary("alexnet2012")
    assert s.total_params == 60_965_224  # "60 million parameters" (two-GPU grouped layout)
    assert _summary("alexnet2012_1tower").total_params == 62_378_344
    # the lecture table: 227 -> 55 -> 27 -> 27 -> 13 -> 13 -> 13 -> 13 -> 6 -> 4096 -> 4096 -> 1000
    convs_and_pools = [tuple(r.output_shape[0][1:]) for r in s.rows if r.type in ("Conv2d", "MaxPool2d", "Linear")]
    assert convs_and_pools == [
        (96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13), (384, 13, 13), (384, 13, 13),
        (256, 13, 13), (256, 6, 6), (4096,), (4096,), (1000,),
    ]


def test_vgg16_layer_shapes_match_the_lecture_table():
    s = _summary("vgg16")
    convs = [tuple(r.output_shape[0][1:]) for r in s.rows if r.type == "Conv2d"]
    assert convs == [(64, 224, 224)] * 2 + [(128, 112, 112)] * 2 + [(256, 56, 56)] * 3 + \
        [(512, 28, 28)] * 3 + [(512, 14, 14)] * 3
    pools = [tuple(r.output_shape[0][1:]) for r in s.rows if r.type == "MaxPool2d"]
    assert pools == [(64, 112, 112), (128, 56, 56), (256, 28, 28), (512, 14, 14), (512, 7, 7)]
    fcs = [r.output_shape[0][1] for r in s.rows if r.type == "Linear"]
    assert fcs == [4096, 4096, 1000]


# MobileNet V1 paper, Table 6 (width multiplier): million mult-adds, million parameters (conv + FC weights)
@pytest.mark.parametrize("name,mmacs,mparams", [
    ("mobilenet_v1", 569, 4.2), ("mobilenet_v1_075", 325, 2.6),
    ("mobilenet_v1_050", 149, 1.3), ("mobilenet_v1_025", 41, 0.5),
])
def test_mobilenet_v1_matches_the_paper(name, mmacs, mparams):
    s = _summary(name)
    weights = s.total_params - sum(r.params for r in s.rows if r.type == "BatchNorm2d")
    assert round(weights / 1e6, 1) == mparams
    assert round(s.total_macs / 1e6) == mmacs


def test_lenet5_layers_match_the_paper():
    s = _summary("lenet5")
    params = {r.name: r.params for r in s.rows if r.params}
    # Section II.B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164; 84 x 10 RBF weights
    assert params == {"features.0": 156, "features.2": 12, "features.4": 1516, "features.6": 32,
                      "features.8": 48_120, "f6": 10_164, "output": 840}
    shapes = [tuple(r.output_shape[0][1:]) for r in s.rows if r.name in
              ("features.0", "features.2", "features.4", "features.6", "features.8")]
    assert shapes == [(6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (120, 1, 1)]


def test_se_resnet50_parameter_count():
    assert _summary("se_resnet50").total_params == 28_088_024


def test_unet_paper_output_size_and_shared_layers_counted_once():
    s = _summary("unet")
    assert s.rows[-1].output_shape == [[1, 2, 388, 388]]
    siamese = _summary("siamese:lenet5")
    assert sum(r.params for r in siamese.rows) == siamese.total_params
    assert len([r for r in siamese.rows if r.name == "backbone.f6"]) == 2  # called once per input


def test_auxiliary_heads_are_counted_both_ways():
    """GoogLeNet and Inception v3 train with auxiliary heads that the exported inference model drops."""
    import torchvision

    from edgecnn.summary import summarize
    from edgecnn.zoo import create_model

    for name, heads, meta in (("googlenet", ["aux1", "aux2"], torchvision.models.GoogLeNet_Weights),
                              ("inception_v3", ["AuxLogits"], torchvision.models.Inception_V3_Weights)):
        loaded = create_model(name)
        result = summarize(loaded.model, [(1, *loaded.input_size)], name=name)
        aux = sum(p.numel() for h in heads for p in getattr(loaded.model, h).parameters())
        assert result.training_only == heads
        assert result.inference_params == result.total_params - aux > 0
        assert sum(r.params for r in result.rows) == result.inference_params  # the rows are what ran
        # torchvision documents GoogLeNet without its aux heads and Inception v3 with them
        documented = meta.IMAGENET1K_V1.meta["num_params"]
        assert documented == (result.inference_params if name == "googlenet" else result.total_params)


def test_onnx_summary_counts_the_graph_exactly(tmp_path, cli):
    import onnx

    from edgecnn.export import export_onnx
    from edgecnn.onnx_summary import summarize_onnx
    from edgecnn.summary import summarize
    from edgecnn.zoo import create_model

    for name in ("mobilenet_v2", "resnet50"):
        loaded = create_model(name)
        path = tmp_path / f"{name}.onnx"
        export_onnx(loaded, path, batch="dynamic", do_verify=False)
        graph = summarize_onnx(path)
        torch_side = summarize(loaded.model, [(1, *loaded.input_size)])
        # conv/FC mult-adds without bias from the graph equal the PyTorch count, to the unit
        assert graph.extra["published_macs"] == torch_side.total_macs
        model = onnx.load(str(path))
        assert graph.total_params == sum(int(np.prod(i.dims)) for i in model.graph.initializer)
        assert sum(r.params for r in graph.rows) == graph.total_params  # each initializer once
        assert graph.total_macs >= graph.extra["published_macs"]  # onnx-tool adds biases and the other ops
    result = cli("summary", tmp_path / "resnet50.onnx")
    assert result.exit_code == 0, result.output
    assert "conv/FC mult-adds: 4,089,184,256" in result.stdout and "/layer4/layer4.2/conv3/Conv" in result.stdout
