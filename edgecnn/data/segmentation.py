"""Segmentation data: images with per-pixel class masks.

Two sources:

* a folder ``ROOT/image/NAME`` + ``ROOT/label/NAME`` (the same file names; the U-Net paper's ISBI data and most
  segmentation sets are laid out so). Masks are PNGs: *binary* (values 0 and 255, or 0 and 1: 0 = class 0,
  anything else = class 1) or *class-index* (each pixel's value is its class, ``0 .. len(classes) - 1``).
* ``synthetic:shapes-seg[:N]``: generated, deterministic: grey textured backgrounds with one to three filled
  shapes; the mask marks the shapes (classes ``background``, ``shape``). What the tests and the quickstart use.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..core.device import read_mask_file
from ..core.text import bounded_list
from .datasets import IMAGE_EXTENSIONS, SYNTHETIC_PREFIX, DataError

SYNTHETIC_SEG = "shapes-seg"
SYNTHETIC_SEG_SIZE = 96  # images in synthetic:shapes-seg
BINARY_CLASSES = ["background", "foreground"]


@dataclass
class MaskedImages:
    """Images and their masks by index: ``image(i)`` -> PIL image, ``mask(i)`` -> int64 H x W class indices."""

    classes: list[str]
    image_loader: Callable[[int], Image.Image]
    mask_loader: Callable[[int], np.ndarray]
    names: list[str]
    source: str = ""
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def image(self, index: int) -> Image.Image:
        return self.image_loader(index)

    def mask(self, index: int) -> np.ndarray:
        return self.mask_loader(index)

    def subset(self, indices: Sequence[int]) -> "MaskedImages":
        idx = list(indices)
        return MaskedImages(self.classes, lambda i: self.image_loader(idx[i]), lambda i: self.mask_loader(idx[i]),
                            [self.names[i] for i in idx], self.source, dict(self.skipped))


def read_mask(path: str | os.PathLike, classes: int) -> np.ndarray:
    """A PNG mask as class indices (:func:`edgecnn.core.device.mask_classes`: the bundle reads masks the same way)."""
    try:
        return read_mask_file(path, classes)
    except ValueError as exc:
        raise DataError(f"mask {path} {exc}: pass the class list or fix the mask") from None


def scan_mask_folder(root: str | os.PathLike, classes: list[str] | None = None) -> MaskedImages:
    """``root/image/*`` with ``root/label/*`` of the same names; ``classes`` default: background, foreground."""
    root = Path(root)
    images_dir, labels_dir = root / "image", root / "label"
    if not root.is_dir():
        raise DataError(f"data path {root} does not exist or is not a folder")
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise DataError(f"segmentation data needs {root}/image/ and {root}/label/ (masks with the images' names)")
    images = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise DataError(f"no images in {images_dir}")
    labels = {p.stem: p for p in labels_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS}
    missing = [p.name for p in images if p.stem not in labels]
    if missing:
        raise DataError(f"{len(missing)} images in {images_dir} have no mask in {labels_dir}: {bounded_list(missing)}")
    classes = list(classes or BINARY_CLASSES)
    pairs = [(str(p), str(labels[p.stem])) for p in images]

    def image(i: int) -> Image.Image:
        with Image.open(pairs[i][0]) as opened:
            opened.load()
            return opened

    return MaskedImages(classes, image, lambda i: read_mask(pairs[i][1], len(classes)), [p for p, _ in pairs],
                        source=str(root))


def draw_masked_shapes(seed: int, index: int, size: int = 64) -> tuple[Image.Image, np.ndarray]:
    """Image ``index`` of ``synthetic:shapes-seg`` for ``seed``: greyscale texture with 1-3 shapes, and its mask."""
    rng = np.random.default_rng([seed, index, 7919])
    scale = 4
    big = size * scale
    level = rng.uniform(60, 190)
    texture = level + rng.normal(0, 12, (size, size)) + 18 * np.sin(np.linspace(0, rng.uniform(2, 9) * math.pi, size))[None]
    image = Image.fromarray(np.clip(texture, 0, 255).astype(np.uint8), "L").resize((big, big), Image.BILINEAR)
    mask = Image.new("L", (big, big), 0)
    draw_image, draw_mask = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(0.1, 0.25) * big
        cx, cy = rng.uniform(radius, big - radius, 2)
        tone = int(np.clip(level + rng.choice([-1, 1]) * rng.uniform(45, 80), 0, 255))
        if rng.random() < 0.5:
            box = (cx - radius, cy - radius * rng.uniform(0.6, 1), cx + radius, cy + radius * rng.uniform(0.6, 1))
            draw_image.ellipse(box, fill=tone)
            draw_mask.ellipse(box, fill=255)
        else:
            sides = int(rng.integers(3, 7))
            turn = rng.uniform(0, 2 * math.pi)
            points = [(cx + radius * math.cos(turn + 2 * math.pi * k / sides),
                       cy + radius * math.sin(turn + 2 * math.pi * k / sides)) for k in range(sides)]
            draw_image.polygon(points, fill=tone)
            draw_mask.polygon(points, fill=255)
    image = image.resize((size, size), Image.BILINEAR)
    noisy = np.asarray(image, dtype=np.float64) + rng.normal(0, 6, (size, size))
    labels = (np.asarray(mask.resize((size, size), Image.BILINEAR)) >= 128).astype(np.int64)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "L"), labels


def synthetic_masked(name: str, image_size: int = 64, seed: int = 0) -> MaskedImages:
    """``shapes-seg`` or ``shapes-seg:N``."""
    kind, _, number = name.partition(":")
    if kind != SYNTHETIC_SEG:
        raise DataError(f"unknown synthetic segmentation set {name!r}; available: synthetic:{SYNTHETIC_SEG}")
    try:
        count = int(number) if number else SYNTHETIC_SEG_SIZE
    except ValueError:
        raise DataError(f"synthetic:{SYNTHETIC_SEG}:N needs a number of images, got {number!r}") from None
    if count < 4:
        raise DataError(f"synthetic:{SYNTHETIC_SEG} needs at least 4 images, got {count}")
    return MaskedImages(["background", "shape"], lambda i: draw_masked_shapes(seed, i, image_size)[0],
                        lambda i: draw_masked_shapes(seed, i, image_size)[1],
                        [f"shapes-seg#{i}" for i in range(count)], source=f"synthetic:{SYNTHETIC_SEG} (seed {seed})")


def load_masked(source: str | os.PathLike, *, image_size: int = 64, classes: list[str] | None = None,
                seed: int = 0) -> MaskedImages:
    """A ``image/`` + ``label/`` folder or ``synthetic:shapes-seg[:N]``."""
    text = str(source)
    if text.startswith(SYNTHETIC_PREFIX):
        return synthetic_masked(text[len(SYNTHETIC_PREFIX):], image_size=image_size, seed=seed)
    return scan_mask_folder(source, classes)


def split_masked(data: MaskedImages, val_fraction: float, seed: int = 0) -> tuple[MaskedImages, MaskedImages]:
    """A deterministic shuffle, then ``round(n * val_fraction)`` images (at least 1) to validation."""
    if not 0 < val_fraction < 1:
        raise DataError(f"val_split must be between 0 and 1, got {val_fraction}")
    if len(data) < 2:
        raise DataError(f"{data.source} holds {len(data)} image; a train/validation split needs at least 2")
    train_idx, val_idx = masked_split_indices(len(data), val_fraction, seed)
    return data.subset(train_idx), data.subset(val_idx)


def masked_validation(source: str | os.PathLike, *, val: str | os.PathLike | None = None, val_split: float,
                      image_size: int = 64, seed: int = 0) -> MaskedImages:
    """The validation side segmentation training holds out: a separate ``val`` source, or the split of ``source``."""
    if val:
        return load_masked(val, image_size=image_size, seed=seed + 1)
    return split_masked(load_masked(source, image_size=image_size, seed=seed), val_split, seed)[1]


def masked_split_indices(count: int, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """The training and validation indices of :func:`split_masked` (calibration uses the same sides)."""
    order = np.random.default_rng(seed).permutation(count).tolist()
    n_val = min(count - 1, max(1, round(count * val_fraction)))
    return sorted(order[n_val:]), sorted(order[:n_val])


def is_masked_source(source: str | os.PathLike) -> bool:
    """``synthetic:shapes-seg...`` or a folder laid out as ``image/`` + ``label/``."""
    text = str(source)
    if text.startswith(SYNTHETIC_PREFIX):
        return text[len(SYNTHETIC_PREFIX):].split(":")[0] == SYNTHETIC_SEG
    root = Path(text)
    return (root / "image").is_dir() and (root / "label").is_dir()
