"""What each task reads (its registry entry's ``reader``, ``split`` and ``held_out``), with one signature for all:

* ``reader(source, *, resize, side, labels=None, seed=0, progress=False)``: a data source as the task's dataset,
  drawn for a model whose preprocessing resizes to ``resize`` and whose input side is ``side``;
* ``split(dataset, val_split, seed) -> (training side, validation side)``, the split its training makes;
* ``held_out(source, *, val, val_split, resize, side, seed)``: the validation side its training held out (or the
  separate ``val`` source).

Classifiers and Siamese nets read class folders (ImageFolder) at the preprocessing's resize size; segmentation
models read images with masks (``image/`` + ``label/``) at their input side.
"""

from __future__ import annotations

from ..data.datasets import ImageList, load_images, stratified_split, train_val
from ..data.segmentation import MaskedImages, load_masked, masked_validation, split_masked


def sizes_of(info) -> dict:
    """The ``resize`` and ``side`` a reader takes, of a runner's :class:`~edgecnn.engines.base.ModelInfo`."""
    return {"resize": info.preprocess.resize, "side": (list(info.input_size)[1:2] or [None])[0]}


def read_classes(source, *, resize: int, side: int | None = None, labels: list[str] | None = None, seed: int = 0,
                 progress: bool = False) -> ImageList:
    return load_images(source, image_size=resize, seed=seed, progress=progress)


def read_masked(source, *, resize: int | None = None, side: int, labels: list[str] | None = None, seed: int = 0,
                progress: bool = False) -> MaskedImages:
    return load_masked(source, image_size=side, classes=list(labels or []) or None, seed=seed)


def split_classes(images: ImageList, val_split: float, seed: int = 0) -> tuple[ImageList, ImageList]:
    """The stratified split ``edgecnn train`` makes."""
    train_idx, val_idx = stratified_split(images.labels, val_split, seed)
    return images.subset(train_idx), images.subset(val_idx)


def split_masks(data: MaskedImages, val_split: float, seed: int = 0) -> tuple[MaskedImages, MaskedImages]:
    return split_masked(data, val_split, seed)


def held_out_classes(source, *, val=None, val_split: float, resize: int, side: int | None = None,
                     seed: int = 0) -> ImageList:
    return train_val(source, val=val, val_split=val_split, image_size=resize, seed=seed)[1]


def held_out_masks(source, *, val=None, val_split: float, resize: int | None = None, side: int,
                   seed: int = 0) -> MaskedImages:
    return masked_validation(source, val=val, val_split=val_split, image_size=int(side), seed=seed)
