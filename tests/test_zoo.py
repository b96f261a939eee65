from __future__ import annotations

import pytest
import torch

from edgecnn.errors import UnknownModelError, UsageError
from edgecnn.zoo import create_model, get_spec, list_models, replace_head

REQUIRED = [
    "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "googlenet", "inception_v3", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "wide_resnet50_2", "densenet121", "densenet169", "densenet201",
    "squeezenet1_0", "squeezenet1_1", "shufflenet_v2_x1_0", "mobilenet_v2", "mobilenet_v3_small",
    "mobilenet_v3_large", "mnasnet1_0", *[f"efficientnet_b{i}" for i in range(8)],
    "lenet5", "nin", "zfnet", "alexnet2012", "mobilenet_v1", "se_resnet50", "unet", "siamese",
]


def test_registry_has_every_required_architecture():
    names = set(list_models())
    assert not [n for n in REQUIRED if n not in names]
    assert get_spec("shufflenet_v2").name == "shufflenet_v2_x1_0"


def test_list_models_pattern():
    assert list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]


def test_unknown_model_suggests_closest():
    with pytest.raises(UnknownModelError, match="did you mean mobilenet_v2"):
        get_spec("mobilenet_v22")


def test_torchvision_preprocessing_comes_from_torchvision_weights():
    spec = get_spec("efficientnet_b3")
    assert spec.input_size == (3, 300, 300)
    assert spec.preprocess.crop == (300, 300) and spec.preprocess.resize == 320
    assert spec.preprocess.interpolation == "bicubic"
    assert get_spec("inception_v3").input_size == (3, 299, 299)
    assert len(spec.default_labels(1000)) == 1000 and spec.default_labels(1000)[0] == "tench"


def _forward(loaded, size=None):
    c, h, w = loaded.input_size
    x = torch.randn(2, c, h, w)
    with torch.no_grad():
        return loaded.model(*([x] * loaded.spec.num_inputs))


SMALL_INPUT = 64


def _small_size(spec):
    if spec.fixed_input:
        return None
    if spec.name == "unet":
        return 188
    return max(SMALL_INPUT, spec.min_input)


@pytest.mark.parametrize("name", sorted(set(list_models()) - {"unet"}))
def test_num_classes_replaces_head_on_every_architecture(name):
    spec = get_spec(name)
    loaded = create_model(name, num_classes=7, input_size=_small_size(spec))
    out = _forward(loaded)
    if spec.task == "similarity":
        assert out[0].shape == (2, 7) and out[2].shape == (2,)
    else:
        assert out.shape[:2] == (2, 7)
    # auxiliary heads follow the main head
    for path in spec.head[1:]:
        layer = loaded.model.get_submodule(path)
        assert getattr(layer, "out_features", None) == 7


def test_unet_head_and_valid_output_size():
    loaded = create_model("unet", num_classes=3, input_size=188)
    out = _forward(loaded)
    assert out.shape == (2, 3, 4, 4)  # valid convolutions: 188 -> 4
    assert create_model("unet_same", input_size=64).model(torch.zeros(1, 1, 64, 64)).shape == (1, 2, 64, 64)


def test_unet_rejects_sizes_that_do_not_tile():
    with pytest.raises(UsageError, match="nearest sizes that fit are 188 and 204"):
        create_model("unet", input_size=190)


def test_fixed_input_architectures_refuse_other_sizes():
    with pytest.raises(UsageError, match="alexnet2012 takes only 227x227"):
        create_model("alexnet2012", input_size=224)


def test_timm_prefix_builds_timm_models():
    pytest.importorskip("timm")
    loaded = create_model("timm:resnet18", num_classes=5, input_size=64)
    assert _forward(loaded).shape == (2, 5)
    with pytest.raises(UnknownModelError, match="did you mean timm:resnet18"):
        get_spec("timm:resnet18x")


def test_siamese_shares_the_backbone_and_scores_identical_inputs_as_one():
    loaded = create_model("siamese:lenet5")
    x = torch.randn(3, 1, 32, 32)
    emb_a, emb_b, score = loaded.model(x, x)
    assert torch.allclose(score, torch.ones(3), atol=1e-5)
    assert torch.allclose(emb_a.norm(dim=1), torch.ones(3), atol=1e-5)
    y = torch.randn(3, 1, 32, 32)
    assert (loaded.model(x, y)[2] < 1 - 1e-4).all()  # different inputs score below identical ones


def test_replace_head_rejects_zero_classes():
    loaded = create_model("lenet5")
    with pytest.raises(UsageError):
        replace_head(loaded.model, loaded.spec.head, 0)


def test_unet_same_width_variants_scale_the_channels():
    """unet_same_050 / _025: the paper's U-Net with 32 / 16 channels at the top (a quarter / a sixteenth of its
    arithmetic), same padding, same output size."""
    widths = {}
    for name in ("unet_same", "unet_same_050", "unet_same_025"):
        model = create_model(name, input_size=32).model
        first = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        widths[name] = first.out_channels
        assert get_spec(name).task == "segmentation"
    assert widths == {"unet_same": 64, "unet_same_050": 32, "unet_same_025": 16}
