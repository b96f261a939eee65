"""The model zoo: ``list_models``, ``get_spec`` and ``create_model``.

>>> from edgecnn.zoo import create_model
>>> loaded = create_model("mobilenet_v2", num_classes=12)
>>> loaded.model, loaded.spec.preprocess, loaded.labels[:2]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..core.preprocess import PreprocessSpec
from ..errors import UsageError, WeightsError
from . import catalog  # noqa: F401,E402  (registers every architecture; registry itself imports nothing above it)
from .heads import head_weight_key, replace_head
from .registry import ModelSpec, get_spec, list_models, prefixes, register
from .weights import (
    PRETRAINED_ALIASES,
    LoadedWeights,
    load_into,
    read_weights,
    resolve_pretrained,
    save_checkpoint,
)

__all__ = [
    "LoadedModel", "ModelSpec", "create_model", "get_spec", "list_models", "prefixes",
    "register", "replace_head", "read_weights", "save_checkpoint", "parse_input_size",
]


@dataclass
class LoadedModel:
    """A built model in eval mode with everything known about it."""

    model: nn.Module
    spec: ModelSpec  # with the requested input size applied
    num_classes: int
    labels: list[str]
    weights: LoadedWeights | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return self.spec.input_size

    @property
    def preprocess(self) -> PreprocessSpec:
        return self.spec.preprocess


def parse_input_size(text: str | int | tuple | None) -> tuple[int, int] | None:
    """'224' -> (224, 224); '160x224' or '160,224' -> (160, 224)."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return (text, text)
    if isinstance(text, (tuple, list)):
        parts = [int(v) for v in text]
    else:
        try:
            parts = [int(v) for v in str(text).lower().replace(",", "x").split("x") if v]
        except ValueError:
            raise UsageError(f"--input-size must look like 224 or 160x224, got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise UsageError(f"--input-size must look like 224 or 160x224, got {text!r}")
    return parts[0], parts[1]


def _apply_input_size(spec: ModelSpec, size: tuple[int, int] | None) -> ModelSpec:
    if size is None or size == spec.input_size[1:]:
        return spec
    height, width = size
    if spec.fixed_input:
        raise UsageError(
            f"{spec.name} takes only {spec.input_size[1]}x{spec.input_size[2]} input: its fully "
            f"connected layers fix the spatial size"
        )
    if min(height, width) < spec.min_input:
        raise UsageError(f"{spec.name} needs an input of at least {spec.min_input}x{spec.min_input}, "
                         f"got {height}x{width}")
    if spec.name == "unet":
        from .seed.unet import nearest_valid_sizes, output_size

        for side in (height, width):
            if output_size(side) is None:
                below, above = nearest_valid_sizes(side)
                raise UsageError(f"unet (valid convolutions) cannot take side {side}: every map before a "
                                 f"pooling must be even; the nearest sizes that fit are {below} and {above}")
    return spec.with_input_size(height, width)


def _is_file_like(name: str) -> bool:
    return os.path.sep in name or name.endswith((".pt", ".pth", ".ckpt", ".bin", ".safetensors")) or (
        Path(name).is_file()
    )


def create_model(
    name: str,
    *,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    input_size: tuple[int, int] | str | int | None = None,
) -> LoadedModel:
    """Build a zoo model (or the model of an edgecnn checkpoint) in eval mode.

    ``name`` is a registry name or the path of an edgecnn checkpoint. ``weights``
    is a state_dict file, an edgecnn checkpoint, or ``imagenet`` for the
    published torchvision weights found in the offline torch hub cache. With
    ``num_classes`` different from the weights' head, the backbone is loaded
    and a fresh head with ``num_classes`` outputs replaces it.
    """
    loaded: LoadedWeights | None = None
    if _is_file_like(str(name)):
        loaded = read_weights(name)
        if not loaded.is_checkpoint:
            raise UsageError(f"{name} holds weights but no architecture; pass the model name and --weights {name}")
        if weights is not None:
            raise UsageError("give either a checkpoint as the model or --weights, not both")
        name = loaded.checkpoint["arch"]
    spec = get_spec(str(name))
    if loaded is None and weights is not None:
        path = resolve_pretrained(spec, str(weights)) if str(weights).lower() in PRETRAINED_ALIASES or (
            str(weights).isupper() and not Path(str(weights)).exists()) else weights
        loaded = read_weights(path)
    notes: list[str] = []
    if loaded is not None and loaded.checkpoint:
        arch = loaded.checkpoint.get("arch")
        if arch and get_spec(arch).name != spec.name:
            raise WeightsError(f"{loaded.path} is a checkpoint of {arch}, not of {spec.name}")
        if input_size is None and loaded.checkpoint.get("input_size"):
            input_size = tuple(loaded.checkpoint["input_size"][1:])
    size = parse_input_size(input_size)
    spec = _apply_input_size(spec, size)
    if loaded is not None and loaded.checkpoint.get("preprocess"):
        spec = _with_preprocess(spec, PreprocessSpec.from_dict(loaded.checkpoint["preprocess"]))

    file_classes = None
    if loaded is not None:
        key = head_weight_key(loaded.state_dict.keys(), spec.head)
        if key is not None:
            file_classes = int(loaded.state_dict[key].shape[0])
    build_classes = file_classes or num_classes or spec.num_classes
    model = spec.build(build_classes)
    labels = spec.default_labels(build_classes)
    if loaded is not None:
        load_into(model, loaded.state_dict, arch=spec.name, source=str(loaded.path),
                  head_prefixes=spec.head, optional_prefixes=spec.optional_prefixes)
        if loaded.checkpoint.get("classes") and len(loaded.checkpoint["classes"]) == build_classes:
            labels = list(loaded.checkpoint["classes"])
        if num_classes is None and file_classes is not None and file_classes != spec.num_classes:
            notes.append(f"{file_classes} classes, from the head in {loaded.path.name}")
    if num_classes is not None and num_classes != build_classes:
        replace_head(model, spec.head, num_classes)
        labels = spec.default_labels(num_classes)
        notes.append(f"head replaced: {build_classes} -> {num_classes} outputs (new head is randomly initialised)")
        build_classes = num_classes
    model.eval()
    return LoadedModel(model=model, spec=spec, num_classes=build_classes, labels=labels, weights=loaded, notes=notes)


def _with_preprocess(spec: ModelSpec, preprocess: PreprocessSpec) -> ModelSpec:
    from dataclasses import replace

    return replace(spec, preprocess=preprocess)
