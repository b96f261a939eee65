"""Datasets and the preprocessing contract."""

from .datasets import DataError, ImageList, TorchImageDataset, load_images, stratified_split, train_val
from .preprocess import PreprocessSpec, preprocess_numpy, torch_transform

__all__ = [
    "DataError", "ImageList", "PreprocessSpec", "TorchImageDataset", "load_images", "preprocess_numpy",
    "stratified_split", "torch_transform", "train_val",
]
