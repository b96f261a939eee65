"""Per-layer summary of a PyTorch model: output shapes, parameters, multiply-adds, activations.

One forward pass at batch 1 with hooks on every leaf module. A module called
twice (a shared ReLU, a Siamese backbone) gives a row per call, and its
parameters are counted on its first call only, so the rows add up to the
model's exact parameter count.

Multiply-adds follow the convention of the published figures (torchvision's
"GFLOPS", the MobileNet paper's "Mult-Adds"): convolutions, transposed
convolutions and fully connected layers; normalisation, activations, pooling
and element-wise ops are not counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import prod

import torch
from torch import nn


@dataclass
class LayerRow:
    name: str
    type: str
    output_shape: list[list[int]]
    params: int
    macs: int
    activation_bytes: int


@dataclass
class ModelSummary:
    model: str
    input_shapes: list[list[int]]
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_macs: int = 0
    activation_bytes: int = 0
    param_bytes: int = 0
    inference_params: int | None = None  # parameters the forward pass in eval mode uses (what export keeps)
    training_only: list[str] = field(default_factory=list)  # modules only training runs (auxiliary heads)
    extra: dict = field(default_factory=dict)  # ONNX summaries: published-convention MACs, the counting tool

    def to_dict(self) -> dict:
        return asdict(self)


def _macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, nn.modules.conv._ConvNd) and not isinstance(module, nn.modules.conv._ConvTransposeNd):
        kernel = prod(module.kernel_size) * module.in_channels // module.groups
        return output.numel() * kernel
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        kernel = prod(module.kernel_size) * module.out_channels // module.groups
        return inputs[0].numel() * kernel
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    if hasattr(module, "connected_kernels"):  # LeNet-5's partially connected C3
        per_map = output.shape[-1] * output.shape[-2] * output.shape[0]
        return per_map * module.connected_kernels * prod(module.kernel_size)
    return 0


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


@torch.no_grad()
def summarize(model: nn.Module, input_shapes: list[tuple[int, ...]], name: str = "") -> ModelSummary:
    """Run one forward pass on zero-mean random inputs of ``input_shapes`` and tabulate every leaf."""
    summary = ModelSummary(model=name or type(model).__name__, input_shapes=[list(s) for s in input_shapes])
    seen: set[int] = set()
    names = {id(m): n for n, m in model.named_modules()}
    hooks = []

    def hook(module, inputs, output):
        first_call = id(module) not in seen
        seen.add(id(module))
        params = sum(p.numel() for p in module.parameters(recurse=False)) if first_call else 0
        outs = _tensors(output)
        summary.rows.append(LayerRow(
            name=names.get(id(module), "?"),
            type=type(module).__name__,
            output_shape=[list(t.shape) for t in outs],
            params=params,
            macs=_macs(module, inputs, outs[0]) if outs else 0,
            # an in-place op (ReLU(inplace=True)) writes into its input: no new memory
            activation_bytes=0 if getattr(module, "inplace", False) else sum(t.numel() * t.element_size() for t in outs),
        ))

    executed: set[int] = set()

    def ran(module, inputs, output):
        executed.add(id(module))

    for module in model.modules():
        if not list(module.children()) or hasattr(module, "connected_kernels"):
            hooks.append(module.register_forward_hook(hook))
        hooks.append(module.register_forward_hook(ran))
    was_training = model.training
    model.eval()
    try:
        generator = torch.Generator().manual_seed(0)
        model(*[torch.randn(*s, generator=generator) for s in input_shapes])
    finally:
        for handle in hooks:
            handle.remove()
        model.train(was_training)
    params = list(model.parameters())
    summary.total_params = sum(p.numel() for p in params)
    summary.trainable_params = sum(p.numel() for p in params if p.requires_grad)
    summary.param_bytes = sum(p.numel() * p.element_size() for p in params)
    summary.total_macs = sum(r.macs for r in summary.rows)
    summary.activation_bytes = sum(r.activation_bytes for r in summary.rows)
    # parameters of modules the eval-mode forward never runs (GoogLeNet's and Inception v3's auxiliary heads)
    summary.inference_params = sum(p.numel() for m in model.modules() if id(m) in executed
                                   for p in m.parameters(recurse=False))
    modules = dict(model.named_modules())
    idle = set()
    for name, module in modules.items():
        if id(module) in executed or not any(True for _ in module.parameters(recurse=False)):
            continue
        parts = name.split(".")  # name the outermost module that did not run (aux1, not aux1.conv.conv)
        idle.add(next(".".join(parts[:i]) for i in range(1, len(parts) + 1)
                      if id(modules[".".join(parts[:i])]) not in executed))
    summary.training_only = sorted(idle)
    return summary


def _human(n: float, unit: str = "") -> str:
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {suffix}{unit}"
    return f"{n:.0f} {unit}".rstrip()


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


def format_summary(summary: ModelSummary, tablefmt: str = "simple") -> str:
    from tabulate import tabulate

    rows = [
        [r.name, r.type, " ".join("x".join(map(str, s)) for s in r.output_shape) or "-",
         f"{r.params:,}", _human(r.macs) if r.macs else "-", _mib(r.activation_bytes) if r.activation_bytes else "-"]
        for r in summary.rows
    ]
    table = tabulate(rows, headers=["layer", "type", "output shape", "params", "mult-adds", "activations"],
                     tablefmt=tablefmt, disable_numparse=True, colalign=("left", "left", "left", "right", "right", "right"))
    inputs = ", ".join("x".join(map(str, s)) for s in summary.input_shapes)
    if summary.extra.get("counted_by"):  # an ONNX file: the graph's own figures
        published = summary.extra["published_macs"]
        totals = [
            f"model:             {summary.model} (input {inputs})",
            f"total params:      {summary.total_params:,} (the graph's initializers, each counted once"
            + ("" if summary.extra.get("has_batchnorm") else "; BatchNorm is folded into the convolutions") + ")",
            f"parameter memory:  {_mib(summary.param_bytes)} (as stored)",
            f"mult-adds:         {summary.total_macs:,} ({_human(summary.total_macs)}; {summary.extra['counted_by']}: "
            "every op, bias additions included)",
            f"conv/FC mult-adds: {published:,} ({_human(published)}; without bias, the convention of published "
            "figures)",
            f"activation memory: {_mib(summary.activation_bytes)} (sum of node outputs, batch 1)",
        ]
        return table + "\n\n" + "\n".join(totals)
    params = f"{summary.total_params:,}"
    if summary.training_only and summary.inference_params is not None:
        params = (f"{summary.total_params:,} with the training-only heads ({', '.join(summary.training_only)}); "
                  f"{summary.inference_params:,} in the inference model that export writes")
    totals = [
        f"model:             {summary.model} (input {inputs})",
        f"total params:      {params}",
        f"trainable params:  {summary.trainable_params:,}",
        f"parameter memory:  {_mib(summary.param_bytes)} (float32)",
        f"mult-adds:         {summary.total_macs:,} ({_human(summary.total_macs)})",
        f"activation memory: {_mib(summary.activation_bytes)} (sum of layer outputs, batch 1, in-place ops free)",
    ]
    return table + "\n\n" + "\n".join(totals)
