"""Calibration data: images -> preprocessed input tensors, cached, and ORT's data reader.

Images are read through the preprocessing stored in the model's metadata (one
contract). The preprocessed tensors are cached under ``calib/cache`` keyed by
the data's hash, the preprocessing and the sample count, and the ranges ONNX
Runtime computes are cached per model hash + data hash + method (ORT's own
``calibration_cache_path``). A second run with another method or threshold
therefore reads no image: it reuses the tensors, and an identical re-run reuses
the ranges too.

What a model is calibrated on is its task's (the registry entry's ``calibration``): a segmentation model
gets tiles of its input size cut at random places of the images at their own resolution (the masks are never
read): what a U-Net sees when it predicts a whole image tile by tile; a classifier or a Siamese net, the whole
preprocessed images. Without a task, the data decides: segmentation data (``image/`` + ``label/``) gives tiles.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.preprocess import PreprocessSpec, preprocess_numpy
from ..data.datasets import (  # noqa: F401  (pick re-exported)
    IMAGE_EXTENSIONS,
    DataError,
    ImageList,
    _check_image,
    _open_image,
    is_synthetic,
    load_images,
    pick,
    stratified_split,
)
from ..data.segmentation import is_masked_source, load_masked, masked_split_indices
from ..fileio import atomic_path
from ..progress import progress as bar
from ..tasks.registry import TASKS, get_task
from ..tasks.segmentation import image_array, input_tile

DEFAULT_CACHE_DIR = Path("calib") / "cache"


def cache_dir() -> Path:
    return Path(os.environ.get("EDGECNN_CALIB_CACHE", DEFAULT_CACHE_DIR))


def data_fingerprint(source: str, seed: int = 0) -> str:
    """A hash of what the data is: file names, sizes and modification times (or the synthetic spec)."""
    digest = hashlib.sha256()
    if is_synthetic(source):
        digest.update(f"{source}|seed={seed}".encode())
        return digest.hexdigest()[:16]
    root = Path(source)
    if not root.exists():
        raise DataError(f"calibration data {root} does not exist")
    if not root.is_dir():
        raise DataError(f"calibration data {root} is a file, not a folder: give a folder of images, an ImageFolder "
                        "dataset (ROOT/<class>/<images>) or synthetic:shapes")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    if not files:
        raise DataError(f"calibration folder {root} is empty")
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _calibration_images(source: str, image_size: int, seed: int) -> ImageList:
    """An ImageFolder dataset, ``synthetic:shapes``, a flat folder of unlabelled images, or segmentation data
    (``image/`` + ``label/``, ``synthetic:shapes-seg``: the images, not the masks)."""
    if is_masked_source(source):
        masked = load_masked(source, image_size=image_size, seed=seed)
        return ImageList(classes=["unlabelled"], labels=[0] * len(masked), loader=masked.image,
                         names=list(masked.names), source=masked.source)
    if is_synthetic(source):
        return load_images(source, image_size=image_size, seed=seed)
    root = Path(source)
    if root.is_dir() and not any(p.is_dir() for p in root.iterdir()):
        paths = [str(p) for p in sorted(root.iterdir())
                 if p.suffix.lower() in IMAGE_EXTENSIONS and _check_image(p) is None]
        if not paths:
            raise DataError(f"no readable images in calibration folder {root}")
        return ImageList(classes=["unlabelled"], labels=[0] * len(paths), loader=lambda i: _open_image(paths[i]),
                         names=paths, source=str(root))
    return load_images(source, image_size=image_size, seed=seed)


@dataclass
class CalibrationSet:
    inputs: np.ndarray  # (N, C, H, W) float32
    data_hash: str
    source: str
    from_cache: bool
    images_read: int


def load_calibration_set(source: str, preprocess: PreprocessSpec, input_shape: tuple[int, int, int], *,
                         samples: int, seed: int, split: str = "all", val_split: float | None = None,
                         progress: bool = True, task: str | None = None) -> CalibrationSet:
    """``split="train"`` keeps only the training side of the stratified split (see ``edgecnn train``),
    so calibration never sees the validation images (``val_split``, needed then: the split's fraction). ``task``:
    the model's (its metadata's), whose registry entry
    says what calibration cuts from the images; None: tiles for segmentation data, whole images otherwise."""
    data_hash = data_fingerprint(source, seed)
    if split != "all" and val_split is None:
        raise ValueError(f"split={split!r} needs the split's val_split")
    if split != "all":
        data_hash = hashlib.sha256(f"{data_hash}|{split}|{val_split}".encode()).hexdigest()[:16]
    sample = get_task(task).function("calibration") if task in TASKS else \
        segmentation_tiles if is_masked_source(source) else whole_images
    tiles = sample is segmentation_tiles  # tiles at the images' own resolution, as the model sees them
    key = hashlib.sha256(f"{data_hash}|{preprocess.to_json()}|{samples}|{seed}{'|tiles' if tiles else ''}"
                         .encode()).hexdigest()[:20]
    path = cache_dir() / f"inputs-{key}.npy"
    if path.exists():
        inputs = np.load(path)
        if inputs.shape[1:] == tuple(input_shape):
            return CalibrationSet(inputs, data_hash, source, from_cache=True, images_read=0)
    images = _calibration_images(source, image_size=preprocess.resize, seed=seed)
    if split != "all" and is_masked_source(source):  # segmentation data: the sides segmentation training uses
        train_idx, val_idx = masked_split_indices(len(images), val_split, seed)
        images = images.subset(train_idx if split == "train" else val_idx)
    elif split != "all":
        train_idx, val_idx = stratified_split(images.labels, val_split, seed)
        images = images.subset(train_idx if split == "train" else val_idx)
    chosen = pick(len(images), samples, seed)
    inputs = sample(images, chosen, preprocess, input_shape[-1], samples, seed, progress)
    return _cached(path, inputs, input_shape, source, data_hash, chosen, seed, preprocess)


def whole_images(images: ImageList, chosen: list[int], preprocess: PreprocessSpec, side: int, samples: int,
                 seed: int, progress: bool) -> np.ndarray:
    """The chosen images, each preprocessed whole (resize, crop): what a classifier sees."""
    arrays = []
    for i in bar(chosen, "calibration images", "image", enabled=progress):
        image = images.image(i)
        channels = len(image.getbands())
        if image.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "F", "1") and channels not in (1, 3, 4):
            raise DataError(f"{images.names[i]} has {channels} channels; calibration needs RGB or greyscale images")
        arrays.append(preprocess_numpy(image, preprocess))
    return np.stack(arrays).astype(np.float32)


def segmentation_tiles(images: ImageList, chosen: list[int], preprocess: PreprocessSpec, side: int, samples: int,
                       seed: int, progress: bool) -> np.ndarray:
    """``samples`` input tiles of ``side`` px at random places of the chosen images (in turn), each image at its
    own resolution: a U-Net predicts whole images tile by tile, so a resized whole image is not what it sees."""
    arrays, tiles = {}, []
    for k in bar(range(samples), "calibration tiles", "tile", enabled=progress):
        i = chosen[k % len(chosen)]
        if i not in arrays:
            arrays[i] = image_array(images.image(i), preprocess)
        tiles.append(input_tile(arrays[i], side, side, np.random.default_rng([seed, k])))
    return np.stack(tiles).astype(np.float32)


def _cached(path: Path, inputs: np.ndarray, input_shape, source: str, data_hash: str, chosen: list[int], seed: int,
            preprocess: PreprocessSpec) -> CalibrationSet:
    if inputs.shape[1:] != tuple(input_shape):
        raise DataError(f"calibration images become {list(inputs.shape[1:])} but the model takes {list(input_shape)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, force=True) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, inputs)
    with atomic_path(path.with_suffix(".json"), force=True) as tmp:
        tmp.write_text(json.dumps({"source": str(source), "data_hash": data_hash, "samples": len(inputs),
                                   "seed": seed, "preprocess": preprocess.to_dict()}, indent=1))
    return CalibrationSet(inputs, data_hash, source, from_cache=False, images_read=len(chosen))


class ArrayDataReader:
    """ONNX Runtime's duck-typed ``CalibrationDataReader`` over an array of inputs."""

    def __init__(self, inputs: np.ndarray, input_name: str | list[str], batch_size: int = 1):
        self.all_inputs = inputs
        self.inputs = inputs
        self.input_name = input_name
        self.batch_size = batch_size
        self.position = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.inputs):
            return None
        batch = self.inputs[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        names = [self.input_name] if isinstance(self.input_name, str) else self.input_name
        return {name: batch for name in names}  # a Siamese net's inputs all see the same images

    def rewind(self) -> None:
        self.position = 0

    def __iter__(self):
        self.rewind()
        while (batch := self.get_next()) is not None:
            yield batch

    def __len__(self) -> int:
        return -(-len(self.inputs) // self.batch_size)

    def set_range(self, start_index: int, end_index: int) -> None:
        """Restrict to batches [start, end): ORT's strided calibration feeds one chunk at a time."""
        self.inputs = self.all_inputs[start_index * self.batch_size : end_index * self.batch_size]
        self.position = 0


def calibration_stride(batches: int, most: int = 16) -> int:
    """The largest divisor of ``batches`` up to ``most``: ORT keeps one chunk of activations in memory."""
    return max(d for d in range(1, min(most, batches) + 1) if batches % d == 0)


def tensorrt_calibration_table(ranges: dict[str, tuple[float, float]], version: str = "TRT-10000") -> str:
    """A TensorRT INT8 calibration cache (the ``IInt8Calibrator`` text format).

    First line ``<version>-EntropyCalibration2``; then ``tensor: <scale>`` with the
    symmetric scale ``max(|min|, |max|) / 127`` written as the big-endian hex of
    its float32 bits, which is how TensorRT writes and reads these tables.
    """
    import struct

    lines = [f"{version}-EntropyCalibration2"]
    for name in sorted(ranges):
        low, high = ranges[name]
        scale = max(abs(float(low)), abs(float(high))) / 127.0
        scale = scale if scale > 0 else 1.0 / 127.0
        lines.append(f"{name}: {struct.pack('>f', scale).hex()}")
    return "\n".join(lines) + "\n"
