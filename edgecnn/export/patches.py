"""Export-time rewrites that keep the model's function and make it exportable.

The TorchScript ONNX exporter cannot export ``AdaptiveAvgPool2d`` when the
output size does not divide the input size (VGG's 7x7 pool at 96x96 input,
AlexNet's 6x6). At export time the input size is fixed, so adaptive average
pooling is a fixed linear map: ``out = P_h @ x @ P_w^T`` with row ``i`` of
``P_h`` averaging PyTorch's bin ``[floor(i*H/h), ceil((i+1)*H/h))``. It exports
as two MatMuls that every runtime (ONNX Runtime, TensorRT, OpenVINO) runs.
The export is verified against the unpatched model, so any difference shows.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def pooling_matrix(in_size: int, out_size: int) -> torch.Tensor:
    matrix = torch.zeros(out_size, in_size)
    for i in range(out_size):
        start = (i * in_size) // out_size
        end = math.ceil((i + 1) * in_size / out_size)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class FixedAdaptiveAvgPool2d(nn.Module):
    """``AdaptiveAvgPool2d`` for one known input size, as two matrix products."""

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int]):
        super().__init__()
        self.register_buffer("rows", pooling_matrix(in_hw[0], out_hw[0]))
        self.register_buffer("cols", pooling_matrix(in_hw[1], out_hw[1]).t().contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols)


def _out_hw(module: nn.AdaptiveAvgPool2d, in_hw: tuple[int, int]) -> tuple[int, int]:
    size = module.output_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    return tuple(in_hw[i] if size[i] is None else size[i] for i in range(2))


def patch_for_export(model: nn.Module, example_inputs: list[torch.Tensor]) -> tuple[nn.Module, list[str]]:
    """A copy of ``model`` with non-exportable adaptive pools replaced; and what was replaced."""
    seen: dict[str, tuple[int, int]] = {}

    def recorder(name: str):
        def hook(module, inputs, output) -> None:
            seen.setdefault(name, tuple(inputs[0].shape[-2:]))
        return hook

    hooks = [module.register_forward_hook(recorder(name)) for name, module in model.named_modules()
             if isinstance(module, nn.AdaptiveAvgPool2d)]
    if not hooks:
        return model, []
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for handle in hooks:
            handle.remove()
    to_patch = {}
    for name, in_hw in seen.items():
        module = model.get_submodule(name)
        out_hw = _out_hw(module, in_hw)
        if any(i % o for i, o in zip(in_hw, out_hw)):
            to_patch[name] = FixedAdaptiveAvgPool2d(in_hw, out_hw)
    if not to_patch:
        return model, []
    patched = copy.deepcopy(model)
    for name, replacement in to_patch.items():
        parent, _, leaf = name.rpartition(".")
        setattr(patched.get_submodule(parent) if parent else patched, leaf, replacement)
    notes = [f"{name}: adaptive average pool {seen[name][0]}x{seen[name][1]} -> "
             f"{_out_hw(model.get_submodule(name), seen[name])} exported as MatMuls" for name in to_patch]
    return patched, notes
