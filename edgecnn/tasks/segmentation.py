"""Segmentation metrics and full-image prediction, in NumPy only (the bundle's ``infer.py`` uses the same rules).

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

from ..data.preprocess import PreprocessSpec
from ..data.segmentation import MaskedImages
from ..progress import progress as bar


def confusion(prediction: np.ndarray, target: np.ndarray, classes: int) -> np.ndarray:
    """``classes`` x ``classes`` pixel counts: rows the true class, columns the predicted one."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and mask {target.shape} differ in shape")
    index = target.astype(np.int64).ravel() * classes + prediction.astype(np.int64).ravel()
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def segmentation_metrics(matrix: np.ndarray, classes: list[str] | None = None) -> dict:
    """Pixel accuracy, per-class IoU and Dice, mean IoU (classes neither present nor predicted left out)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    true_positive = np.diag(matrix)
    actual, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    union = actual + predicted - true_positive
    seen = union > 0
    iou = np.where(seen, true_positive / np.where(seen, union, 1), np.nan)
    dice = np.where(seen, 2 * true_positive / np.where(seen, actual + predicted, 1), np.nan)
    names = classes or [str(i) for i in range(len(matrix))]
    return {"pixel_accuracy": float(true_positive.sum() / max(matrix.sum(), 1)),
            "mean_iou": float(np.nanmean(iou)) if seen.any() else float("nan"),
            "iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
            "dice": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, dice)},
            "pixels": int(matrix.sum())}


def mask_iou(a: np.ndarray, b: np.ndarray, classes: int) -> float:
    """Mean IoU of two predictions against each other (how far INT8's masks are from FP32's)."""
    return segmentation_metrics(confusion(b, a, classes))["mean_iou"]


def tile_plan(height: int, width: int, tile_in: int, tile_out: int) -> tuple[int, list[tuple[int, int]]]:
    """(mirror border, output-tile corners) covering an image with tiles of ``tile_out`` pixels of output each."""
    if tile_out < 1 or tile_in < tile_out or (tile_in - tile_out) % 2:
        raise ValueError(f"a tile of {tile_in} px in and {tile_out} px out cannot be centred")
    border = (tile_in - tile_out) // 2
    rows = list(range(0, max(height - tile_out, 0) + 1, tile_out))
    cols = list(range(0, max(width - tile_out, 0) + 1, tile_out))
    if rows[-1] + tile_out < height:
        rows.append(height - tile_out)
    if cols[-1] + tile_out < width:
        cols.append(width - tile_out)
    return border, [(r, c) for r in rows for c in cols]


def predict_tiled(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, tile_in: int,
                  tile_out: int) -> np.ndarray:
    """Class scores (C x H x W) of a whole C_in x H x W ``image`` from ``predict`` (N x C_in x tile_in x tile_in
    -> N x C x tile_out x tile_out), mirroring the borders; images smaller than a tile are mirrored up to it."""
    _, height, width = image.shape
    padded_h, padded_w = max(height, tile_out), max(width, tile_out)
    border, corners = tile_plan(padded_h, padded_w, tile_in, tile_out)
    pad = ((0, 0), (border, border + padded_h - height), (border, border + padded_w - width))
    mirrored = np.pad(image, pad, mode="reflect")  # NumPy reflects repeatedly where the border exceeds the image
    scores = None
    for top, left in corners:
        tile = mirrored[None, :, top:top + tile_in, left:left + tile_in]
        out = predict(np.ascontiguousarray(tile, dtype=np.float32))[0]
        if scores is None:
            scores = np.zeros((out.shape[0], padded_h, padded_w), np.float32)
        scores[:, top:top + tile_out, left:left + tile_out] = out
    return scores[:, :height, :width]


def image_array(image, spec: PreprocessSpec) -> np.ndarray:
    """C x H x W float32 at the image's own size: the model's colour mode, scaling and normalization."""
    mode = "L" if spec.color == "L" else "RGB"
    array = np.asarray(image.convert(mode), dtype=np.float32) / 255.0
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    mean = np.asarray(spec.mean, np.float32).reshape(-1, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(-1, 1, 1)
    return (array - mean) / std


def evaluate_masks(predict: Callable[[np.ndarray], np.ndarray], data: MaskedImages, spec: PreprocessSpec,
                   tile_in: int, tile_out: int, progress: bool = False) -> dict:
    """Metrics of ``predict`` (N x C x tile_in^2 -> N x K x tile_out^2 scores) on every whole image of ``data``."""
    classes = len(data.classes)
    matrix = np.zeros((classes, classes), np.int64)
    for i in bar(range(len(data)), "evaluating", "image", enabled=progress):
        scores = predict_tiled(predict, image_array(data.image(i), spec), tile_in, tile_out)
        matrix += confusion(scores.argmax(0), data.mask(i), classes)
    return segmentation_metrics(matrix, data.classes)
