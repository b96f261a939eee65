"""Segmentation metrics and full-image prediction, in NumPy only. The rules themselves live in
:mod:`edgecnn.core.device`, which every bundle ships: ``infer.py`` computes masks and IoU with the same code.

Metrics come from one confusion matrix accumulated over every pixel of every image (the convention of the
segmentation benchmarks: not a mean of per-image scores): pixel accuracy, IoU and Dice per class, mean IoU
over the classes present in the ground truth or the prediction.

Full images are predicted tile by tile with the model's own input and output sizes (the U-Net paper's
overlap-tile strategy): a valid-convolution U-Net maps a 572 x 572 tile to its 388 x 388 centre, so the image
is mirrored at its borders by the difference and every output tile is a crop of the full prediction.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..core.device import confusion, native_array, predict_tiled, segmentation_metrics, tile_plan  # noqa: F401
from ..data.preprocess import PreprocessSpec
from ..data.segmentation import MaskedImages
from ..progress import progress as bar


def mask_iou(a: np.ndarray, b: np.ndarray, classes: int) -> float:
    """Mean IoU of two predictions against each other (how far INT8's masks are from FP32's)."""
    return segmentation_metrics(confusion(b, a, classes))["mean_iou"]


def image_array(image, spec: PreprocessSpec) -> np.ndarray:
    """C x H x W float32 at the image's own size (tiles are cut from it): the bundle's rule, same code."""
    return native_array(image, spec.to_dict())


def mirrored(image: np.ndarray, tile_in: int, tile_out: int) -> np.ndarray:
    """A C x H x W image mirrored by the tile border ``(tile_in - tile_out) / 2`` and grown (mirrored) to at least
    one output tile: every ``tile_in`` window of it is an input tile the model is fed."""
    border = (tile_in - tile_out) // 2
    _, height, width = image.shape
    grow_h, grow_w = max(0, tile_out - height), max(0, tile_out - width)
    return np.pad(image, ((0, 0), (border, border + grow_h), (border, border + grow_w)), mode="reflect")


def input_tile(image: np.ndarray, tile_in: int, tile_out: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """One input tile of a C x H x W image at its own resolution, as tiled prediction feeds it: at a random place
    (``rng``) or the centre."""
    _, height, width = image.shape
    rows, cols = max(height, tile_out), max(width, tile_out)
    top = int(rng.integers(0, rows - tile_out + 1)) if rng is not None else (rows - tile_out) // 2
    left = int(rng.integers(0, cols - tile_out + 1)) if rng is not None else (cols - tile_out) // 2
    return mirrored(image, tile_in, tile_out)[:, top:top + tile_in, left:left + tile_in]


def evaluate_masks(predict: Callable[[np.ndarray], np.ndarray], data: MaskedImages, spec: PreprocessSpec,
                   tile_in: int, tile_out: int, progress: bool = False) -> dict:
    """Metrics of ``predict`` (N x C x tile_in^2 -> N x K x tile_out^2 scores) on every whole image of ``data``."""
    return segmentation_metrics(image_confusions(predict, data, spec, tile_in, tile_out, progress).sum(0), data.classes)


def image_confusions(predict: Callable[[np.ndarray], np.ndarray], data: MaskedImages, spec: PreprocessSpec,
                     tile_in: int, tile_out: int, progress: bool = False) -> np.ndarray:
    """One confusion matrix per whole image (N x K x K): their sum gives the metrics; resampling the images gives
    the uncertainty of a difference between two models (:func:`edgecnn.core.paired.paired_bootstrap`)."""
    classes = len(data.classes)
    out = np.zeros((len(data), classes, classes), np.int64)
    for i in bar(range(len(data)), "evaluating", "image", enabled=progress):
        scores = predict_tiled(predict, image_array(data.image(i), spec), tile_in, tile_out)
        out[i] = confusion(scores.argmax(0), data.mask(i), classes)
    return out
