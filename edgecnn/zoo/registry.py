"""The model registry: name -> how to build it and what it expects.

Every architecture is a :class:`ModelSpec`: a builder taking ``num_classes``,
the input size, the preprocessing contract, where its classifier head lives
and which task it solves. Names are registered with :func:`register`; names
with a prefix (``timm:NAME``, ``siamese:BACKBONE``) are resolved on demand by
the resolvers added with :func:`register_prefix`.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field, replace
from typing import Callable

from torch import nn

from ..core.preprocess import PreprocessSpec
from ..errors import UnknownModelError

# The task of a plain spec: an image classifier. The tasks themselves (and which names are tasks) are
# edgecnn.tasks.registry's, a layer above this one; tests/test_task_ownership.py checks that every registered
# spec names one of them.
CLASSIFIER_TASK = "classification"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable[[int], nn.Module]
    source: str  # "torchvision", "edgecnn" or "timm"
    input_size: tuple[int, int, int] = (3, 224, 224)
    num_classes: int = 1000
    preprocess: PreprocessSpec = field(default_factory=PreprocessSpec)
    head: tuple[str, ...] = ()  # dotted paths of classifier layers; empty: model.reset_classifier
    task: str = CLASSIFIER_TASK  # a name of edgecnn.tasks.registry.TASKS
    fixed_input: bool = False  # FC layers fix the spatial size (LeNet-5, original AlexNet, ZFNet)
    min_input: int = 32
    num_inputs: int = 1
    labels: Callable[[], list[str]] | None = None  # default class names (e.g. ImageNet's)
    torchvision_weights: str | None = None  # torchvision weights enum, e.g. "ResNet50_Weights"
    optional_prefixes: tuple[str, ...] = ()  # state_dict keys that may be absent (aux heads)
    description: str = ""

    def build(self, num_classes: int | None = None) -> nn.Module:
        return self.builder(self.num_classes if num_classes is None else num_classes)

    def default_labels(self, num_classes: int) -> list[str]:
        if self.labels is not None and num_classes == self.num_classes:
            return list(self.labels())
        return [f"class_{i}" for i in range(num_classes)]

    def with_input_size(self, height: int, width: int) -> "ModelSpec":
        return replace(
            self,
            input_size=(self.input_size[0], height, width),
            preprocess=self.preprocess.resized_for(height, width),
        )


_REGISTRY: dict[str, ModelSpec] = {}
_PREFIXES: dict[str, Callable[[str], ModelSpec]] = {}
_ALIASES: dict[str, str] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def register_alias(alias: str, name: str) -> None:
    _ALIASES[alias] = name


def register_prefix(prefix: str, resolver: Callable[[str], ModelSpec]) -> None:
    """``resolver(rest)`` builds the spec for ``prefix:rest``."""
    _PREFIXES[prefix] = resolver


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted, optionally filtered by a shell-style pattern."""
    names = sorted(_REGISTRY)
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def prefixes() -> list[str]:
    return sorted(_PREFIXES)


def get_spec(name: str) -> ModelSpec:
    """The spec of a model name; raises UnknownModelError with the closest names."""
    name = name.strip()
    key = _ALIASES.get(name.lower(), name.lower())
    if key in _REGISTRY:
        return _REGISTRY[key]
    if ":" in name:
        prefix, rest = name.split(":", 1)
        if prefix.lower() in _PREFIXES:
            return _PREFIXES[prefix.lower()](rest)
    candidates = list(_REGISTRY) + list(_ALIASES) + [f"{p}:" for p in _PREFIXES]
    close = difflib.get_close_matches(name.lower(), candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; run 'edgecnn models' to list them"
    raise UnknownModelError(f"unknown model {name!r}{hint}")
