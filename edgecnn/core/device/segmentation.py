"""Segmentation: the confusion matrix and its metrics, whole images predicted tile by tile, mask files read as
class indices."""

from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image


def confusion(prediction: np.ndarray, target: np.ndarray, classes: int) -> np.ndarray:
    """``classes`` x ``classes`` pixel counts: rows the true class, columns the predicted one."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and mask {target.shape} differ in shape")
    index = target.astype(np.int64).ravel() * classes + prediction.astype(np.int64).ravel()
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def segmentation_metrics(matrix: np.ndarray, classes: list[str] | None = None) -> dict:
    """Pixel accuracy, per-class IoU and Dice, mean IoU and mean Dice (classes neither present nor predicted left
    out)."""
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
            "mean_dice": float(np.nanmean(dice)) if seen.any() else float("nan"),
            "iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
            "dice": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, dice)},
            "pixels": int(matrix.sum())}


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


def mask_classes(values: np.ndarray, classes: int) -> np.ndarray:
    """A mask image's pixel values as class indices: binary masks (0/255, 0/1, or grey levels split at 128) give
    0/1; class-index masks keep their values. ValueError when a value is not a class."""
    values = np.asarray(values).astype(np.int64)
    present = np.unique(values)
    if classes == 2 and set(present.tolist()) <= {0, 255}:
        return (values > 0).astype(np.int64)
    if present.max(initial=0) >= classes:
        if classes == 2:
            return (values >= 128).astype(np.int64) if present.max() > 1 else (values > 0).astype(np.int64)
        raise ValueError(f"holds class {int(present.max())}, but there are {classes} classes (0 .. {classes - 1})")
    return values


def read_mask_file(path, classes: int) -> np.ndarray:
    with Image.open(path) as image:
        values = np.asarray(image if image.mode in ("L", "P", "I", "I;16") else image.convert("L"))
    return mask_classes(values, classes)
