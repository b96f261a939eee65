"""The float <-> integer conversion of a model whose inputs and outputs are INT8 tensors (a full-integer
``.tflite``): what an app feeding it does, with each tensor's own scale and zero point. edgecnn's LiteRT engine
and a bundle's ``infer.py`` both use it."""

from __future__ import annotations

import numpy as np


def quantizer_of(detail: dict):
    """``(scale, zero_point, dtype)`` of a tensor held in an integer type (LiteRT's tensor details: ``dtype``,
    ``quantization``), or None for a float tensor."""
    dtype = np.dtype(detail["dtype"])
    if dtype.kind not in "iu":
        return None
    scale, zero = detail["quantization"]
    return float(scale), int(zero), dtype


def to_tensor(array: np.ndarray, detail: dict) -> np.ndarray:
    """A float feed as the tensor takes it: quantized (rounded, clipped) where the tensor is an integer one."""
    q = quantizer_of(detail)
    if q is None:
        return np.ascontiguousarray(array, dtype=np.float32)
    scale, zero, dtype = q
    info = np.iinfo(dtype)
    return np.clip(np.round(np.asarray(array, dtype=np.float32) / scale) + zero, info.min, info.max).astype(dtype)


def from_tensor(array: np.ndarray, detail: dict) -> np.ndarray:
    """An output as float: dequantized where the tensor is an integer one."""
    q = quantizer_of(detail)
    if q is None:
        return array
    scale, zero, _ = q
    return (array.astype(np.float32) - zero) * scale
