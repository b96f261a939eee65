"""The preprocessing contract: written once, carried in ONNX metadata and bundles.

A :class:`PreprocessSpec` says how an image becomes the network's input tensor:
resize the shorter side to ``resize``, centre-crop ``crop`` (height, width),
scale to [0, 1], subtract ``mean`` and divide by ``std`` per channel, in
``color`` order ("RGB" or "L" for greyscale), laid out as ``layout`` (NCHW)
float32.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessSpec:
    resize: int = 256
    crop: tuple[int, int] = (224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    interpolation: str = "bilinear"
    color: str = "RGB"
    layout: str = "NCHW"
    dtype: str = "float32"
    scale: float = field(default=1 / 255)

    def __post_init__(self) -> None:
        channels = 1 if self.color == "L" else 3
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"mean/std need {channels} values for color {self.color!r}")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be positive")

    @property
    def channels(self) -> int:
        return 1 if self.color == "L" else 3

    def resized_for(self, height: int, width: int) -> "PreprocessSpec":
        """The same contract for another input size, keeping the resize/crop ratio."""
        ratio = self.resize / max(self.crop)
        return PreprocessSpec(
            resize=int(round(max(height, width) * ratio)),
            crop=(height, width),
            mean=self.mean,
            std=self.std,
            interpolation=self.interpolation,
            color=self.color,
            layout=self.layout,
            dtype=self.dtype,
            scale=self.scale,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop"] = list(self.crop)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PreprocessSpec":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("crop", "mean", "std"):
            if key in known:
                known[key] = tuple(known[key])
        return cls(**known)


# ---------------------------------------------------------------- the numpy/PIL implementation
# The path every bundle ships: edgecnn/core/device/ is copied verbatim to devices as the folder
# edgecnn_device/, and edgecnn calls the same functions, so the two cannot drift.
from . import device as _device  # noqa: E402
from .device import pil_filter, resized_size, to_mode  # noqa: E402,F401  (re-exported)


def resize_and_crop(image, spec: "PreprocessSpec"):
    """The geometric part, shared by both paths: PIL resize of the shorter side, centre crop."""
    return _device.resize_and_crop(image, spec.to_dict())


def preprocess_numpy(image, spec: "PreprocessSpec"):
    """PIL image -> CHW float32 numpy array. No torch: this is what runs on devices."""
    return _device.preprocess(image, spec.to_dict())
