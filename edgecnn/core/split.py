"""The train/validation split of labelled data, declared once: ``edgecnn train``, ``edgecnn eval --split``,
``edgecnn quantize`` (its ``--val`` and ``--calib-split train``), QAT, the accuracy budget and a recipe's ``data:``
section all take :class:`SplitOptions`' ``val_split`` (its default, help and range are written here only).

How a split is made: :func:`edgecnn.data.datasets.stratified_split` (by class) and
:func:`edgecnn.data.segmentation.split_masked` (by image, for images with masks), both seeded by the caller's seed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .options import opt


@dataclass
class SplitOptions:
    """How much of the labelled data validates."""

    val_split: float = opt(0.2, "Fraction of the labelled data on the validation side of the split (stratified by "
                                "class; by image for images with masks), the rest trains and calibrates.",
                           min=0.0, max=1.0, min_open=True, max_open=True)


def default_val_split() -> float:
    """The declared default (for library functions that take the fraction as a plain argument)."""
    return next(f for f in fields(SplitOptions) if f.name == "val_split").default


def split_help() -> str:
    """The declared help (for scripts whose own argument parser offers ``--val-split``)."""
    return next(f for f in fields(SplitOptions) if f.name == "val_split").metadata["option"].help
