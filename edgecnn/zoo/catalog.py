"""What the registry holds: torchvision classifiers, the seed architectures, and
the ``timm:`` and ``siamese:`` prefixes.
"""

from __future__ import annotations

import functools

from torch import nn

from ..core.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessSpec
from ..errors import DependencyMissing, UnknownModelError, UsageError
from .registry import CLASSIFIER_TASK, ModelSpec, get_spec, register, register_alias, register_prefix


@functools.lru_cache(maxsize=None)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ImageNet class names shipped inside torchvision (no download)."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def _imagenet_labels_list() -> list[str]:
    return list(imagenet_labels())


# ---------------------------------------------------------------- torchvision
# name -> (classifier head paths, optional state_dict prefixes, min input side)
TORCHVISION_CLASSIFIERS: dict[str, tuple[tuple[str, ...], tuple[str, ...], int]] = {
    "alexnet": (("classifier.6",), (), 63),
    **{n: (("classifier.6",), (), 32) for n in
       ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")},
    "googlenet": (("fc", "aux1.fc2", "aux2.fc2"), ("aux1.", "aux2."), 32),
    "inception_v3": (("fc", "AuxLogits.fc"), ("AuxLogits.",), 75),
    **{n: (("fc",), (), 32) for n in
       ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
        "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2")},
    **{n: (("classifier",), (), 32) for n in ("densenet121", "densenet161", "densenet169", "densenet201")},
    "squeezenet1_0": (("classifier.1",), (), 32),
    "squeezenet1_1": (("classifier.1",), (), 32),
    **{n: (("fc",), (), 32) for n in
       ("shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0")},
    "mobilenet_v2": (("classifier.1",), (), 32),
    "mobilenet_v3_small": (("classifier.3",), (), 32),
    "mobilenet_v3_large": (("classifier.3",), (), 32),
    **{n: (("classifier.1",), (), 32) for n in ("mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3")},
    **{f"efficientnet_b{i}": (("classifier.1",), (), 32) for i in range(8)},
}

# Constructor arguments that make the random-init model match torchvision's pretrained layout.
_TORCHVISION_KWARGS: dict[str, dict] = {
    "googlenet": {"aux_logits": True, "init_weights": True},
    "inception_v3": {"aux_logits": True, "init_weights": True, "transform_input": True},
}


def _interp_name(mode) -> str:
    return str(getattr(mode, "value", mode)).lower()


def _torchvision_spec(name: str, heads: tuple[str, ...], optional: tuple[str, ...], min_input: int) -> ModelSpec:
    import torchvision.models as tvm

    weights_enum = tvm.get_model_weights(name)
    weights = weights_enum.DEFAULT
    transform = weights.transforms()
    crop = int(transform.crop_size[0])
    preprocess = PreprocessSpec(
        resize=int(transform.resize_size[0]),
        crop=(crop, crop),
        mean=tuple(transform.mean),
        std=tuple(transform.std),
        interpolation=_interp_name(transform.interpolation),
    )
    kwargs = _TORCHVISION_KWARGS.get(name, {})

    def build(num_classes: int) -> nn.Module:
        return tvm.get_model(name, weights=None, num_classes=num_classes, **kwargs)

    return ModelSpec(
        name=name,
        builder=build,
        source="torchvision",
        input_size=(3, crop, crop),
        preprocess=preprocess,
        head=heads,
        min_input=min_input,
        labels=_imagenet_labels_list,
        torchvision_weights=weights_enum.__name__,
        optional_prefixes=optional,
        description=f"torchvision {name} ({weights.meta.get('num_params', 0) / 1e6:.1f} M params)",
    )


def _register_torchvision() -> None:
    for name, (heads, optional, min_input) in TORCHVISION_CLASSIFIERS.items():
        register(_torchvision_spec(name, heads, optional, min_input))
    register_alias("shufflenet_v2", "shufflenet_v2_x1_0")


# ---------------------------------------------------------------- seed architectures
def _register_seed() -> None:
    from .seed import alexnet2012, lenet, mobilenet_v1, nin, se_resnet, unet

    imagenet = PreprocessSpec()
    register(ModelSpec(
        name="lenet5", builder=lambda n: lenet.LeNet5(num_classes=n), source="edgecnn",
        input_size=(1, 32, 32), num_classes=10, fixed_input=True, min_input=32, head=("output",),
        preprocess=PreprocessSpec(resize=32, crop=(32, 32), mean=(0.5,), std=(0.5,), color="L"),
        description="LeNet-5 (LeCun et al. 1998): C3 connection table, trainable subsampling, RBF output",
    ))
    register(ModelSpec(
        name="nin", builder=lambda n: nin.NiN(num_classes=n), source="edgecnn", head=("classifier",),
        preprocess=imagenet, labels=_imagenet_labels_list, min_input=67,
        description="Network in Network (Lin et al. 2014): mlpconv blocks, global average pooling",
    ))
    register(ModelSpec(
        name="zfnet", builder=lambda n: alexnet2012.ZFNet(num_classes=n), source="edgecnn",
        head=("classifier.6",), fixed_input=True, min_input=224,
        preprocess=imagenet, labels=_imagenet_labels_list,
        description="ZFNet (Zeiler & Fergus 2014): 7x7/2 conv1, stride-2 conv2, LRN",
    ))
    register(ModelSpec(
        name="alexnet2012", builder=lambda n: alexnet2012.AlexNet2012(num_classes=n), source="edgecnn",
        input_size=(3, 227, 227), head=("classifier.6",), fixed_input=True, min_input=227,
        preprocess=PreprocessSpec(resize=256, crop=(227, 227)), labels=_imagenet_labels_list,
        description="original AlexNet (Krizhevsky et al. 2012): 96-256-384-384-256, LRN, two-GPU groups",
    ))
    register(ModelSpec(
        name="alexnet2012_1tower",
        builder=lambda n: alexnet2012.AlexNet2012(num_classes=n, groups=1), source="edgecnn",
        input_size=(3, 227, 227), head=("classifier.6",), fixed_input=True, min_input=227,
        preprocess=PreprocessSpec(resize=256, crop=(227, 227)), labels=_imagenet_labels_list,
        description="original AlexNet, single tower (no grouped convolutions)",
    ))
    for width in (1.0, 0.75, 0.5, 0.25):
        suffix = "" if width == 1.0 else f"_{int(width * 100):03d}"
        register(ModelSpec(
            name=f"mobilenet_v1{suffix}",
            builder=functools.partial(_mobilenet_v1, mobilenet_v1.MobileNetV1, width), source="edgecnn",
            head=("fc",), preprocess=imagenet, labels=_imagenet_labels_list,
            description=f"MobileNet V1 (Howard et al. 2017), width multiplier {width}",
        ))
    register(ModelSpec(
        name="se_resnet50", builder=lambda n: se_resnet.se_resnet50(num_classes=n), source="edgecnn",
        head=("fc",), preprocess=imagenet, labels=_imagenet_labels_list,
        description="SE-ResNet-50 (Hu et al. 2018): squeeze-and-excitation bottlenecks, r=16",
    ))
    grey = dict(mean=(0.5,), std=(0.5,), color="L")
    register(ModelSpec(
        name="unet", builder=lambda n: unet.UNet(num_classes=n), source="edgecnn", task="segmentation", head=("head",),
        input_size=(1, 572, 572), num_classes=2, min_input=188,
        preprocess=PreprocessSpec(resize=572, crop=(572, 572), **grey),
        labels=lambda: ["background", "foreground"],
        description="U-Net (Ronneberger et al. 2015): valid convolutions, 572x572 -> 388x388",
    ))
    for width in (1.0, 0.5, 0.25):  # 64, 32, 16 channels at the top: 1, 1/4, 1/16 of the paper's arithmetic
        suffix = "" if width == 1.0 else f"_{int(width * 100):03d}"
        register(ModelSpec(
            name=f"unet_same{suffix}",
            builder=functools.partial(_unet_same, int(64 * width)), source="edgecnn",
            task="segmentation", head=("head",), input_size=(1, 256, 256), num_classes=2, min_input=16,
            preprocess=PreprocessSpec(resize=256, crop=(256, 256), **grey),
            labels=lambda: ["background", "foreground"],
            description="U-Net with padded convolutions (output size = input size)" +
                        ("" if width == 1.0 else f", width multiplier {width} ({int(64 * width)} channels at the top)"),
        ))
    register(_siamese_spec("resnet18", name="siamese"))


def _unet_same(base_channels: int, num_classes: int) -> nn.Module:
    from .seed import unet

    return unet.UNet(num_classes=num_classes, padding=True, base_channels=base_channels)


def _mobilenet_v1(cls, width: float, num_classes: int) -> nn.Module:
    return cls(num_classes=num_classes, width_mult=width)


# ---------------------------------------------------------------- siamese:<backbone>
SIAMESE_EMBEDDING = 128


def _siamese_spec(backbone_name: str, name: str | None = None) -> ModelSpec:
    from .heads import replace_head
    from .seed.siamese import SiameseNet

    backbone = get_spec(backbone_name)
    if backbone.task != CLASSIFIER_TASK or backbone.num_inputs != 1:
        raise UsageError(f"a Siamese network needs a classification backbone; {backbone.name} is {backbone.task}")

    def build(embedding_dim: int) -> nn.Module:
        net = backbone.build(backbone.num_classes)
        replace_head(net, backbone.head, embedding_dim)
        return SiameseNet(net, backbone.head)

    return ModelSpec(
        name=name or f"siamese:{backbone.name}",
        builder=build,
        source="edgecnn",
        task="similarity",
        input_size=backbone.input_size,
        num_classes=SIAMESE_EMBEDDING,
        preprocess=backbone.preprocess,
        head=tuple(f"backbone.{h}" for h in backbone.head),
        fixed_input=backbone.fixed_input,
        min_input=backbone.min_input,
        num_inputs=2,
        description=f"Siamese network over {backbone.name}: shared backbone, {SIAMESE_EMBEDDING}-d "
                    "embeddings, cosine similarity (num_classes = embedding size)",
    )


# ---------------------------------------------------------------- timm:<name>
def _timm_spec(model_name: str) -> ModelSpec:
    try:
        import timm
    except ImportError:
        raise DependencyMissing("timm", extra="timm", purpose=f"timm:{model_name}") from None
    if not timm.is_model(model_name):
        import difflib

        close = difflib.get_close_matches(model_name, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join('timm:' + c for c in close)}?" if close else ""
        raise UnknownModelError(f"timm has no model {model_name!r}{hint}")
    cfg = timm.get_pretrained_cfg(model_name)
    cfg = cfg.to_dict() if cfg is not None else {}
    channels, height, width = cfg.get("input_size", (3, 224, 224))
    crop_pct = cfg.get("crop_pct", 0.875) or 0.875
    preprocess = PreprocessSpec(
        resize=int(round(max(height, width) / crop_pct)),
        crop=(height, width),
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)),
        interpolation=cfg.get("interpolation", "bicubic"),
    )
    num_classes = cfg.get("num_classes", 1000) or 1000

    def build(n: int) -> nn.Module:
        return timm.create_model(model_name, pretrained=False, num_classes=n)

    head = cfg.get("classifier") or "fc"
    heads = tuple(head) if isinstance(head, (list, tuple)) else (head,)

    return ModelSpec(
        name=f"timm:{model_name}", builder=build, source="timm", input_size=(channels, height, width),
        num_classes=num_classes, preprocess=preprocess, head=heads,
        labels=_imagenet_labels_list if num_classes == 1000 else None,
        description=f"timm {model_name}",
    )


def _resolve_siamese(backbone: str) -> ModelSpec:
    return _siamese_spec(backbone)


_register_torchvision()
_register_seed()
register_prefix("timm", _timm_spec)
register_prefix("siamese", _resolve_siamese)
