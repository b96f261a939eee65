"""Image datasets: ImageFolder directories and the built-in ``synthetic:shapes``.

``load_images(source)`` gives an :class:`ImageList` (images + labels + class
names), ``split(...)`` makes the deterministic stratified validation split.
Files that are not images, or images that do not decode, are skipped and
counted, never a crash; a folder with no images or a class with none is an
error that says so.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..core.text import bounded_list
from ..errors import UsageError
from ..progress import progress as bar
from . import shapes

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
SYNTHETIC_PREFIX = "synthetic:"


class DataError(UsageError):
    """The data given cannot be used (missing, empty, no class folders...)."""


@dataclass
class ImageList:
    """Images by index: ``image(i)`` -> PIL image, ``labels[i]`` -> class index."""

    classes: list[str]
    labels: list[int]
    loader: Callable[[int], Image.Image]
    names: list[str]  # a printable name per image (path, or synthetic id)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> Image.Image:
        return self.loader(index)

    def subset(self, indices: Sequence[int]) -> "ImageList":
        indices = list(indices)
        return ImageList(
            classes=self.classes,
            labels=[self.labels[i] for i in indices],
            loader=lambda i, parent=self.loader, idx=indices: parent(idx[i]),
            names=[self.names[i] for i in indices],
            skipped=dict(self.skipped),
            source=self.source,
        )

    def class_counts(self) -> list[int]:
        return np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=len(self.classes)).tolist()

    def skipped_message(self) -> str | None:
        if not self.skipped:
            return None
        parts = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return f"skipped {sum(self.skipped.values())} files in {self.source}: {parts}"


def _check_image(path: Path) -> str | None:
    """None when ``path`` decodes as an image, else the reason it does not."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (64, 64))  # JPEG: decode at reduced scale, still reads the whole stream
            image.load()
    except Image.DecompressionBombError:
        return "too large"
    except Exception:
        return "corrupt or unreadable"
    return None


def _open_image(path: str) -> Image.Image:
    with Image.open(path) as image:
        image.load()
        return image


def scan_image_folder(root: str | os.PathLike, progress: bool = False) -> ImageList:
    """An ImageFolder layout: ``root/<class>/<image>``; classes sorted by name."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"data path {root} does not exist")
    if not root.is_dir():
        raise DataError(f"data path {root} is not a directory (expected ROOT/<class>/<images>)")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        has_images = any(p.suffix.lower() in IMAGE_EXTENSIONS for p in root.iterdir())
        hint = " (the images must be in one sub-folder per class)" if has_images else ""
        raise DataError(f"no class folders in {root}{hint}")
    candidates = [(f, label) for label, d in enumerate(class_dirs)
                  for f in sorted(d.rglob("*")) if f.is_file() and not f.name.startswith(".")]
    skipped: dict[str, int] = {}
    paths: list[str] = []
    labels: list[int] = []

    for path, label in bar(candidates, f"scanning {root.name}", "file", enabled=progress):
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped["not images"] = skipped.get("not images", 0) + 1
            continue
        reason = _check_image(path)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        paths.append(str(path))
        labels.append(label)
    if not paths:
        raise DataError(f"no readable images in {root}" + (f" ({sum(skipped.values())} files skipped)" if skipped else ""))
    counts = np.bincount(labels, minlength=len(class_dirs))
    empty = [d.name for d, n in zip(class_dirs, counts) if n == 0]
    if empty:
        raise DataError(f"class folder(s) with no readable images in {root}: {bounded_list(empty)}")
    return ImageList(classes=[d.name for d in class_dirs], labels=labels, loader=lambda i: _open_image(paths[i]),
                     names=paths, skipped=skipped, source=str(root))


def synthetic_images(name: str, image_size: int = 64, count: int | None = None, seed: int = 0) -> ImageList:
    """``shapes`` (optionally ``shapes:N`` for N images)."""

    kind, _, number = name.partition(":")
    if kind != "shapes":
        raise DataError(f"unknown synthetic dataset {name!r}; available: synthetic:shapes")
    if number:
        try:
            count = int(number)
        except ValueError:
            raise DataError(f"synthetic:shapes:N needs a number of images, got {number!r}") from None
    count = count or shapes.DEFAULT_SIZE
    if count < 2 * len(shapes.CLASSES):
        raise DataError(f"synthetic:shapes needs at least {2 * len(shapes.CLASSES)} images, got {count}")
    labels = [i % len(shapes.CLASSES) for i in range(count)]
    return ImageList(
        classes=list(shapes.CLASSES), labels=labels,
        loader=lambda i: shapes.draw_shape(labels[i], seed, i, image_size),
        names=[f"shapes#{i}" for i in range(count)], source=f"synthetic:shapes (seed {seed})",
    )


def is_synthetic(source: str) -> bool:
    return str(source).startswith(SYNTHETIC_PREFIX)


def load_images(source: str | os.PathLike, *, image_size: int = 64, seed: int = 0, progress: bool = False) -> ImageList:
    """An ImageFolder directory or ``synthetic:shapes[:N]``."""
    if is_synthetic(str(source)):
        return synthetic_images(str(source)[len(SYNTHETIC_PREFIX):], image_size=image_size, seed=seed)
    return scan_image_folder(source, progress=progress)


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic per-class split: ``round(n * val_fraction)`` of each class (at least 1) to validation."""
    if not 0 < val_fraction < 1:
        raise UsageError(f"--val-split must be between 0 and 1, got {val_fraction}")
    labels_arr = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(labels_arr):
        members = np.flatnonzero(labels_arr == label)
        members = members[rng.permutation(len(members))]
        n_val = min(len(members) - 1, max(1, int(round(len(members) * val_fraction))))
        val.extend(members[:n_val].tolist())
        train.extend(members[n_val:].tolist())
    return sorted(train), sorted(val)


def train_val(source: str, *, val: str | None = None, val_split: float, image_size: int = 64,
              seed: int = 0, progress: bool = False) -> tuple[ImageList, ImageList]:
    """Training and validation lists: a separate ``val`` source, or a stratified split of ``source``
    (``val_split``: :class:`edgecnn.core.split.SplitOptions`)."""
    images = load_images(source, image_size=image_size, seed=seed, progress=progress)
    if val:
        val_images = load_images(val, image_size=image_size, seed=seed + 1, progress=progress)
        if val_images.classes != images.classes:
            raise DataError(f"validation classes ({bounded_list(val_images.classes)}) differ from training classes "
                            f"({bounded_list(images.classes)})")
        return images, val_images
    train_idx, val_idx = stratified_split(images.labels, val_split, seed)
    return images.subset(train_idx), images.subset(val_idx)


def write_image_folder(images: ImageList, folder: str | os.PathLike) -> Path:
    """``images`` as an ImageFolder (one folder per class) that tools without edgecnn read: the original files
    (hard-linked where possible), generated images as PNG. What a device measures accuracy on."""
    folder = Path(folder)
    for i, label in enumerate(images.labels):
        target_dir = folder / images.classes[label]
        target_dir.mkdir(parents=True, exist_ok=True)
        original = Path(images.names[i])
        if original.is_file():
            target = target_dir / f"{i:05d}_{original.name}"
            try:
                os.link(original, target)
            except OSError:
                shutil.copyfile(original, target)
        else:
            images.image(i).save(target_dir / f"{i:05d}.png")
    return folder


class TorchImageDataset:
    """A map-style torch dataset over an :class:`ImageList` with a transform."""

    def __init__(self, images: ImageList, transform: Callable):
        self.images = images
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.transform(self.images.image(index)), self.images.labels[index]


def pick(count: int, samples: int, seed: int) -> list[int]:
    """``samples`` indices spread over ``count`` items, deterministic per seed."""
    rng = np.random.default_rng(seed)
    return sorted(rng.permutation(count)[: min(samples, count)].tolist())
