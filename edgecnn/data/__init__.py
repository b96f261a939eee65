"""Datasets and the preprocessing contract."""

from .preprocess import PreprocessSpec

__all__ = ["PreprocessSpec"]
