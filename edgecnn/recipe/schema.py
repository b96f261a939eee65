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

from ..core.options import OptionError, check_options, opt, option_info, same_as, with_defaults
from ..core.split import SplitOptions
from ..device.run import DeviceAccess, DeviceConnection
from ..engines.registry import default_engine, device_engines, get_engine, names
from ..engines.spec import PRECISIONS
from ..engines.trt_plan import TRT_VERSIONS
from ..errors import UsageError
from ..export.options import ExportOptions
from ..profile.options import TargetShape, Timing
from ..quantize.options import QuantizeOptions
from ..report.best import OBJECTIVES
from ..tasks.registry import get_task
from ..train_options import TrainOptions


class RecipeError(UsageError):
    """A recipe that cannot run: the message names the YAML path."""


def _path(value) -> str | None:
    return None if str(value).strip() else "must not be empty"


@dataclass
class ModelSection:
    arch: str = opt("mobilenet_v2", "Architecture: a zoo name ('edgecnn models' lists them).")
    weights: str | None = opt(None, "Start from these weights: a state_dict or edgecnn checkpoint file, or imagenet "
                                    "(the offline torch hub cache).")
    num_classes: int | None = opt(None, "Classifier outputs when training is off (default: the data's classes).",
                                  min=1)


@dataclass
class DataSection:
    path: str = opt("synthetic:shapes", "Labelled images: an ImageFolder directory or synthetic:shapes[:N].",
                    check=_path)
    val: str | None = opt(None, "A separate validation directory (default: a stratified split of path).")
    val_split: float = same_as(SplitOptions, "val_split")
    seed: int = opt(0, "Seed of the split, the calibration sample and the training run.")


@dataclass
class TrainSection(TrainOptions):
    enabled: bool = opt(True, "Train on data.path (false: use model.weights as they are).")


ExportSection = with_defaults(ExportOptions, "ExportSection", batch="dynamic")


@dataclass
class QuantizeSection(QuantizeOptions):
    calib: str | None = opt(None, "Calibration images (default: the training side of data.path).")
    qat_epochs: int = opt(0, "With max_drop: when PTQ and float fallback miss the budget, fine-tune the trained "
                             "checkpoint this many epochs with quantization-aware training and keep its INT8 model "
                             "if it scores higher (0: no QAT).", min=0)
    layer_error: bool = opt(False, "Also measure the INT8 model's per-layer error (each tensor's Q/DQ SQNR, its drift "
                                   "from FP32, weight SQNR) on calibration images: "
                                   "artifacts/layer_error_int8.json + .png, a section of the report.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.qat_epochs and self.max_drop is None:
            raise OptionError("qat_epochs", "is the last step of an accuracy budget: set quantize.max_drop too",
                              type(self))


def _precisions(values) -> str | None:
    if not values:
        return "must list at least one precision"
    unknown = [v for v in values if v not in PRECISIONS]
    return f"must be among {', '.join(PRECISIONS)}, got {unknown[0]!r}" if unknown else None


@dataclass
class TargetSection(TargetShape):
    engine: str = opt(default_engine("model.onnx"), "The engine to profile on.", choices=names)
    precisions: list[str] = opt(["fp32"], "Precisions to profile on it.", check=_precisions)


def _device_name(value) -> str | None:
    text = str(value)
    if not text or not all(c.isalnum() or c in "_.-" for c in text):
        return f"must be letters, digits, '_', '.' or '-' (it names stages and files), got {value!r}"
    return None


@dataclass
class DeviceTargetSection(TargetShape):
    engine: str = opt(default_engine("model.onnx"), "The engine the bundle runs on the device (one with a device "
                                                    "side; trt: the engine is built there, from the ONNX).",
                      choices=device_engines)
    precisions: list[str] = opt(["fp32"], "Precisions to measure on the device (one bundle each).", check=_precisions)
    trt_version: int = opt(10, "trt: the TensorRT major version on the device (JetPack 6 ships 10). An engine only "
                               "runs where it was built, so the bundle ships the ONNX this version's build plan "
                               "starts from, and infer.py builds the engine on the device.", choices=TRT_VERSIONS)


@dataclass
class DeviceSection(DeviceConnection, DeviceAccess):
    """A device the run measures on: it runs the bundle (``infer.py --profile``); the host merges the figures."""

    name: str = opt("device", "The device's name in stage names, files and the report.", check=_device_name)
    host: str = opt("local", "A host as you would give it to ssh (an alias from ~/.ssh/config works), or local.",
                    check=_path)
    targets: list[DeviceTargetSection] = field(default_factory=lambda: [DeviceTargetSection()])


@dataclass
class ProfileSection(Timing):
    accuracy: bool = opt(True, "Measure top-1/top-5 on the validation images too.")
    pick: str = opt("latency", "What \"pick for me\" optimises within the accuracy budget: latency (the lowest "
                               "single-stream p50) or throughput (the most images/s of any row, offline ones "
                               "included).", choices=OBJECTIVES)


@dataclass
class Recipe:
    name: str = "recipe"
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    export: ExportSection = field(default_factory=ExportSection)  # type: ignore[valid-type]
    quantize: QuantizeSection = field(default_factory=QuantizeSection)
    targets: list[TargetSection] = field(default_factory=lambda: [TargetSection()])
    profile: ProfileSection = field(default_factory=ProfileSection)
    devices: list[DeviceSection] = field(default_factory=list)


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
    names = [f.name for f in fields(cls) if option_info(f).recipe]
    values = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"; did you mean {f'{path}.{close[0]}' if path else close[0]}?" if close else \
                f"; valid keys: {', '.join(names)}"
            raise RecipeError(f"unknown key {where}{hint}")
        values[key] = _coerce(value, hints[key], where)
    try:  # every key's domain (choices, ranges, opsets), declared with the option
        built = cls(**values)
        check_options(built)
    except OptionError as exc:
        raise RecipeError(exc.phrased(f"{path}.{exc.option}" if path else exc.option)) from None
    return built


def _check_semantics(recipe: Recipe) -> None:
    """What one key cannot say alone: the architecture exists, an engine runs a precision, batches fit."""
    from ..zoo import get_spec

    try:
        spec = get_spec(recipe.model.arch)
    except UsageError as exc:
        raise RecipeError(f"model.arch: {exc}") from None
    if recipe.train.enabled:  # an option the model's training does not use is refused before any work
        try:
            TrainOptions.of(recipe.train).for_mode(get_task(spec.task).training, spec.name)
        except OptionError as exc:
            raise RecipeError(exc.phrased(f"train.{exc.option}")) from None
    if not recipe.targets:
        raise RecipeError("targets must list at least one engine")
    for i, target in enumerate(recipe.targets):
        _check_target(recipe, target, f"targets[{i}]")
    names = [d.name for d in recipe.devices]
    for i, device in enumerate(recipe.devices):
        if device.name in names[:i]:
            raise RecipeError(f"devices[{i}].name: {device.name!r} names two devices; give each its own name")
        if not device.targets:
            raise RecipeError(f"devices[{i}].targets must list at least one target")
        for j, target in enumerate(device.targets):
            _check_target(recipe, target, f"devices[{i}].targets[{j}]")


def _check_target(recipe: Recipe, target: TargetSection | DeviceTargetSection, where: str) -> None:
    """The engine runs each precision; a batch above 1 has a dynamic batch axis to run on."""
    capability = get_engine(target.engine)
    if not capability.sources and capability.build is None:  # an engine (a plugin) that says nothing of its files
        raise RecipeError(f"{where}.engine: {capability.title} declares no artifact a recipe stage makes for it; "
                          f"profile its files with 'edgecnn profile FILE --engine {target.engine}'")
    for j, scenario in enumerate(target.scenarios):
        if isinstance(target, DeviceTargetSection) and scenario != "single-stream":
            raise RecipeError(f"{where}.scenarios[{j}]: a device runs the bundle's infer.py --profile, which measures "
                              f"single-stream, not {scenario}")
        if scenario not in capability.scenarios:
            raise RecipeError(f"{where}.scenarios[{j}]: engine {target.engine} runs {', '.join(capability.scenarios)}"
                              f", not {scenario}")
    for j, precision in enumerate(target.precisions):
        if precision not in capability.precisions:
            raise RecipeError(f"{where}.precisions[{j}]: engine {target.engine} cannot run {precision}; it "
                              f"supports {', '.join(capability.precisions)}")
    if not capability.dynamic_batch and len(set(target.batches)) > 1:
        raise RecipeError(f"{where}.batches: a {capability.title} file has a fixed batch: give one batch, not "
                          f"{sorted(set(target.batches))}")
    if max(target.batches) > 1 and recipe.export.batch != "dynamic" and capability.uses_export:
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
