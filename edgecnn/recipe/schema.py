"""The recipe schema, validated before any work starts.

Every key is declared once below with its type; an unknown key is refused with
its YAML path and the closest valid key, a wrong type with the path and the
expected type, and a precision an engine cannot run with the target's path.
``--set a.b=value`` overrides take YAML syntax for the value.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from ..errors import UsageError


class RecipeError(UsageError):
    """A recipe that cannot run: the message names the YAML path."""


@dataclass
class ModelSection:
    arch: str = "mobilenet_v2"
    weights: str | None = None
    num_classes: int | None = None


@dataclass
class DataSection:
    path: str = "synthetic:shapes"
    val: str | None = None
    val_split: float = 0.2
    seed: int = 0


@dataclass
class TrainSection:
    enabled: bool = True
    epochs: int = 10
    img_size: int | None = None
    batch_size: int = 32
    lr: float | None = None
    optimizer: str = "sgd"
    schedule: str = "onecycle"
    freeze: str = "none"
    finetune_epochs: int = 0
    finetune_lr: float | None = None
    augment: bool = True
    label_smoothing: float = 0.1
    workers: int = 2


@dataclass
class ExportSection:
    opset: int = 17
    batch: str = "dynamic"
    simplify: bool = True


@dataclass
class QuantizeSection:
    calib: str | None = None  # default: data.path
    samples: int = 256
    method: str = "percentile"
    per_channel: bool = True


@dataclass
class TargetSection:
    engine: str = "ort"
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    batches: list[int] = field(default_factory=lambda: [1])
    threads: int | None = None


@dataclass
class ProfileSection:
    warmup_s: float = 1.0
    min_runs: int = 50
    min_time_s: float = 3.0
    accuracy: bool = True


@dataclass
class Recipe:
    name: str = "recipe"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    export: ExportSection = field(default_factory=ExportSection)
    quantize: QuantizeSection = field(default_factory=QuantizeSection)
    targets: list[TargetSection] = field(default_factory=lambda: [TargetSection()])
    profile: ProfileSection = field(default_factory=ProfileSection)


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _describe(tp) -> str:
    origin = get_origin(tp)
    if origin is list:
        return f"a list of {_describe(get_args(tp)[0]).replace('an ', '').replace('a ', '')}s"
    args = [a for a in get_args(tp) if a is not type(None)]
    if args:
        return _describe(args[0]) + (" or null" if type(None) in get_args(tp) else "")
    if is_dataclass(tp):
        return "a mapping"
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp, path: str):
    """Check ``value`` against the annotation ``tp``; returns the (possibly converted) value."""
    args = get_args(tp)
    origin = get_origin(tp)
    if origin is None and is_dataclass(tp):
        return _build(tp, value, path)
    if type(None) in args:  # Optional
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)][0]
        return _coerce(value, inner, path)
    if origin is list:
        if not isinstance(value, list):
            raise RecipeError(f"{path} must be {_describe(tp)}, got {value!r}")
        return [_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{path} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{path} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{path} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise RecipeError(f"{path} must be a string, got {value!r}")
        return str(value)
    return value


def _build(cls, data: Any, path: str):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path or 'the recipe'} must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"; did you mean {f'{path}.{close[0]}' if path else close[0]}?" if close else \
                f"; valid keys: {', '.join(names)}"
            raise RecipeError(f"unknown key {where}{hint}")
        values[key] = _coerce(value, hints[key], where)
    return cls(**values)


def _check_semantics(recipe: Recipe) -> None:
    from ..engines.capabilities import ENGINES
    from ..quantize.int8 import METHODS
    from ..train import OPTIMIZERS, SCHEDULES
    from ..zoo import get_spec

    try:
        get_spec(recipe.model.arch)
    except UsageError as exc:
        raise RecipeError(f"model.arch: {exc}") from None
    checks = [("train.optimizer", recipe.train.optimizer, OPTIMIZERS), ("train.schedule", recipe.train.schedule,
              SCHEDULES), ("quantize.method", recipe.quantize.method, METHODS)]
    for path, value, allowed in checks:
        if value not in allowed:
            raise RecipeError(f"{path} must be one of {', '.join(allowed)}, got {value!r}")
    if not 0 < recipe.data.val_split < 1:
        raise RecipeError(f"data.val_split must be between 0 and 1, got {recipe.data.val_split}")
    if not recipe.targets:
        raise RecipeError("targets must list at least one engine")
    for i, target in enumerate(recipe.targets):
        where = f"targets[{i}]"
        if target.engine not in ENGINES:
            close = difflib.get_close_matches(target.engine, list(ENGINES), n=1)
            raise RecipeError(f"{where}.engine: unknown engine {target.engine!r}"
                              + (f"; did you mean {close[0]}?" if close else f"; choose one of {', '.join(ENGINES)}"))
        capability = ENGINES[target.engine]
        for j, precision in enumerate(target.precisions):
            if precision not in capability.precisions:
                raise RecipeError(f"{where}.precisions[{j}]: engine {target.engine} cannot run {precision}; it "
                                  f"supports {', '.join(capability.precisions)}")
        if any(b < 1 for b in target.batches):
            raise RecipeError(f"{where}.batches must be positive integers, got {target.batches}")
        if max(target.batches) > 1 and recipe.export.batch != "dynamic" and target.engine != "torch":
            raise RecipeError(f"{where}.batches: batch {max(target.batches)} needs export.batch: dynamic")


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict:
    """``["train.epochs=3", "data.path=flowers/"]`` -> nested dict; values use YAML syntax."""
    result: dict = {}
    for item in items:
        if "=" not in item:
            raise RecipeError(f"--set takes KEY=VALUE (e.g. train.epochs=3), got {item!r}")
        key, _, raw = item.partition("=")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = result
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_recipe(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> Recipe:
    """Read, merge ``--set`` overrides, and validate a recipe; nothing else happens before this passes."""
    path = Path(path)
    if not path.exists():
        raise RecipeError(f"recipe {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RecipeError(f"{path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path} must hold a mapping of sections (model, data, train, ...)")
    data = _merge(data, parse_overrides(overrides))
    data.setdefault("name", path.stem)
    recipe = _build(Recipe, data, "")
    _check_semantics(recipe)
    return recipe
