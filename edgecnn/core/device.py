"""Code that must be identical on the host and on the device: edgecnn imports it, and every bundle
ships this file verbatim as ``edgecnn_device.py`` beside ``infer.py``.

It needs only the standard library, numpy and pillow (no torch, no onnx, no edgecnn), so it
runs wherever a bundle runs (x86-64, aarch64 boards). What lives here cannot drift between
``edgecnn profile`` on the host and ``infer.py`` on the device:

* the preprocessing contract's numpy/PIL path (``preprocess``): resize the shorter side,
  centre-crop, scale, normalise, CHW float32; greyscale, palette, RGBA and 16-bit images
  converted as edgecnn converts them;
* latency statistics (``latency_stats``): the percentiles every figure is quoted with;
* the bundle manifest check (``verify_manifest``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1, "box": 4, "hamming": 5}
MANIFEST = "manifest.sha256"


# ---------------------------------------------------------------- preprocessing (edgecnn's contract)
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
    array = np.asarray(resize_and_crop(image, spec), dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    array = array * np.float32(spec.get("scale", 1 / 255))
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return ((array - mean) / std).transpose(2, 0, 1).copy()


# ---------------------------------------------------------------- the bundle's files
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_manifest(folder: Path) -> list[str]:
    """Problems found checking every file named in manifest.sha256 (empty: all match)."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return [f"{MANIFEST} is missing"]
    problems = []
    listed = 0
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        expected, _, name = line.partition("  ")
        listed += 1
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name} does not match the manifest (it was modified or corrupted)")
    if listed == 0:
        problems.append(f"{MANIFEST} lists no files")
    return problems


# ---------------------------------------------------------------- latency statistics
def latency_stats(times_ms, batch: int) -> dict:
    """p50/p90/p95/p99, mean, std (n-1), min, max, coefficient of variation and throughput at p50."""
    data = np.asarray(times_ms, dtype=np.float64)
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if len(data) > 1 else 0.0
    p50 = float(np.percentile(data, 50))
    return {"batch": int(batch), "runs": int(len(data)), "mean_ms": mean, "std_ms": std, "min_ms": float(data.min()),
            "max_ms": float(data.max()), "p50_ms": p50, "p90_ms": float(np.percentile(data, 90)),
            "p95_ms": float(np.percentile(data, 95)), "p99_ms": float(np.percentile(data, 99)),
            "cv": std / mean if mean else 0.0, "throughput": batch * 1000.0 / p50 if p50 else 0.0}
