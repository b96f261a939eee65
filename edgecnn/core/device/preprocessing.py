"""The preprocessing contract's numpy/PIL path, as edgecnn runs it: resize the shorter side, centre-crop,
scale, normalise, CHW float32; greyscale, palette, RGBA and 16-bit images converted as edgecnn converts them."""

from __future__ import annotations

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1, "box": 4, "hamming": 5}


def pil_filter(name: str) -> int:
    try:
        return PIL_FILTERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown interpolation {name!r}; use one of {', '.join(PIL_FILTERS)}") from None


def resized_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``shorter`` (torchvision's Resize(int) rule)."""
    if width <= height:
        return shorter, int(shorter * height / width)
    return int(shorter * width / height), shorter


def to_mode(image: Image.Image, color: str) -> Image.Image:
    """Convert any PIL image (greyscale, RGBA, palette, 16-bit) to ``color`` ("RGB" or "L")."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype="float64")
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray((array * (255.0 / peak)).clip(0, 255).round().astype("uint8"), "L")
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert(color)


def resize_and_crop(image: Image.Image, spec: dict) -> Image.Image:
    """PIL resize of the shorter side to ``spec["resize"]``, then a centre crop of ``spec["crop"]`` (h, w)."""
    image = to_mode(image, spec.get("color", "RGB"))
    width, height = image.size
    new_w, new_h = resized_size(width, height, int(spec["resize"]))
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), resample=pil_filter(spec.get("interpolation", "bilinear")))
    crop_h, crop_w = spec["crop"]
    if new_w < crop_w or new_h < crop_h:
        raise ValueError(f"image {new_w}x{new_h} after resize is smaller than the crop {crop_w}x{crop_h}")
    top = int(round((new_h - crop_h) / 2.0))
    left = int(round((new_w - crop_w) / 2.0))
    return image.crop((left, top, left + crop_w, top + crop_h))


def preprocess(image: Image.Image, spec: dict) -> np.ndarray:
    """PIL image -> CHW float32: resize, crop, scale to [0, 1], subtract mean, divide by std."""
    return _normalized(resize_and_crop(image, spec), spec)


def native_array(image: Image.Image, spec: dict) -> np.ndarray:
    """PIL image -> CHW float32 at the image's own size (segmentation tiles are cut from it): the colour
    conversion, scaling and normalization of :func:`preprocess`, without its resize and crop."""
    return _normalized(to_mode(image, spec.get("color", "RGB")), spec)


def _normalized(image: Image.Image, spec: dict) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    array = array * np.float32(spec.get("scale", 1 / 255))
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return ((array - mean) / std).transpose(2, 0, 1).copy()
