"""Replacing an architecture's classifier head for ``num_classes`` outputs."""

from __future__ import annotations

from torch import nn

from ..errors import UsageError


def get_submodule(model: nn.Module, path: str) -> nn.Module:
    return model.get_submodule(path) if path else model


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    setattr(get_submodule(model, parent_path), leaf, module)


def _new_head(old: nn.Module, num_classes: int, path: str) -> nn.Module:
    if isinstance(old, nn.Linear):
        return nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    if isinstance(old, nn.Conv2d):
        return nn.Conv2d(old.in_channels, num_classes, old.kernel_size, old.stride, old.padding,
                         bias=old.bias is not None)
    raise UsageError(f"cannot replace head {path!r}: unsupported layer type {type(old).__name__}")


def head_weight_key(state_dict_keys, heads: tuple[str, ...]) -> str | None:
    """The state_dict key of the main head's (last) weight, whose first dim is the class count."""
    if not heads:
        return None
    prefix = heads[0] + "."
    keys = [k for k in state_dict_keys if k.startswith(prefix) and k.endswith("weight")]
    return keys[-1] if keys else None


def replace_head(model: nn.Module, heads: tuple[str, ...], num_classes: int) -> nn.Module:
    """Give ``model`` fresh classifier layer(s) with ``num_classes`` outputs, in place.

    A model with its own ``reset_classifier`` (timm models, the seed architectures
    whose head is a block) uses it. Otherwise ``heads`` lists the dotted paths of the
    classifier layers (main head first, then auxiliary heads such as GoogLeNet's),
    and each is swapped for a fresh layer of the same kind.
    """
    if num_classes < 1:
        raise UsageError(f"--num-classes must be at least 1, got {num_classes}")
    if hasattr(model, "reset_classifier"):
        model.reset_classifier(num_classes)
        return model
    if not heads:
        raise UsageError(f"{type(model).__name__} has no known classifier head to replace")
    for path in heads:
        try:
            old = get_submodule(model, path)
        except AttributeError:
            continue  # an optional auxiliary head that this instance does not have
        _set_submodule(model, path, _new_head(old, num_classes, path))
    return model
