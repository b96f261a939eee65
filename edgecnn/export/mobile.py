"""The export flow shared by the mobile formats (``.pte``, ``.tflite``, ncnn's ``.param``): PyTorch -> (PT2E INT8) -> the format's
lowering -> metadata -> verified with the format's own runtime -> written atomically.

A format is one :class:`MobileFormat` (``export.pte``, ``export.tflite``, ``export.ncnn``); this module knows none
of them. They keep the PyTorch NCHW input, so a user feeds images the same way on every engine (the layout is recorded).
The batch is fixed (the exported graphs are static). INT8 is reported as agreement with FP32 (top-1, cosine on the
calibration images), not failed on tolerance: quantization changes the numbers by design.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..core.metadata import metadata_json, sidecar_path
from ..errors import ExportError, UsageError
from ..fileio import atomic_path, check_output_path
from ..zoo import LoadedModel
from .delegation import DelegationReport
from .describe import describe
from .onnx_export import ExportReport, io_names, parse_batch
from .pt2e import batches_of, calibrated
from . import tflite
from .options import FORMATS
from .sidecar import write_sidecar
from .verify import VerifyResult, require_passed, verify_runtime

Run = Callable[[list[np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class Lowered:
    """What a format's lowering made: the file's bytes, its delegation report, how many nodes it has, and the files
    that go beside it (suffix -> bytes: ncnn's ``.bin`` beside its ``.param``)."""

    content: bytes
    delegation: DelegationReport | None
    nodes: int
    companions: Mapping[str, bytes] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)  # metadata keys the format's runtime reads back


@dataclass(frozen=True)
class MobileFormat:
    name: str  # pte, tflite, ncnn (the --format value and the artifact kind)
    suffix: str
    exporter: str  # the metadata's export.exporter
    runtime: str  # in words: what verifies and runs it
    require: Callable[[], None]  # raises DependencyMissing when the converter or runtime is not installed
    quantizer: Callable[[bool], Any] | None  # per_channel -> the format's PT2E quantizer; None: no INT8 export
    fold: bool  # convert_pt2e(fold_quantize=...) as the format's converter wants
    lower: Callable[[torch.nn.Module, tuple, Any], Lowered]  # (module, example inputs, quantizer or None)
    embed: Callable[[bytes, str], bytes] | None  # (content, metadata JSON) -> content; None: a sidecar
    runner: Callable[[str, int | None], Run]  # (path, threads) -> a call on input arrays
    libraries: tuple[str, ...] = ()  # whose versions the metadata records (converter, runtime)
    module_name: Callable[[str], str] = lambda name: name  # a module's name as the quantizer's filter spells it
    backend: str = "xnnpack"  # the metadata's export.backend: the kernels that run it
    precisions: tuple[str, ...] = ("fp32", "int8")  # what the export itself writes
    one_image: bool = False  # no batch dimension (ncnn): the file is made for batch 1, a batch runs image by image
    no_int8: str = ""  # why the export writes no INT8, where it does not


def mobile_format(name: str) -> MobileFormat:
    """The format ``name`` (pte, tflite, ncnn): the ``FORMAT`` its module of this package declares."""
    import importlib

    if name not in FORMATS or FORMATS[name] == ".onnx":
        raise UsageError(f"no mobile format {name!r}; choose {', '.join(n for n, s in FORMATS.items() if s != '.onnx')}")
    return importlib.import_module(f".{name}", __package__).FORMAT


def keep_in_float(quantizer: Any, modules: list[str], spell: Callable[[str], str] = lambda name: name) -> Any:
    """``quantizer`` (XNNPACKQuantizer, litert-torch's PT2EQuantizer) leaving the operators of ``modules`` (names
    in the PyTorch model) in float. Both skip a module whose entry in their per-module configurations is None (the
    global configuration then passes it by), which their ``set_module_name`` does not accept yet. ``spell``: the
    name as the quantizer's module filter spells it (the format's ``module_name``)."""
    for name in modules:
        quantizer.module_name_config[spell(name)] = None
    return quantizer


def export_mobile(fmt: MobileFormat, loaded: LoadedModel, output: str | os.PathLike, *, batch: int | str = 1,
                  precision: str = "fp32", calibration: np.ndarray | None = None, per_channel: bool = True,
                  do_verify: bool = True, force: bool = False, provenance: dict | None = None,
                  keep_float: list[str] | None = None,
                  on_stage: Callable[[str, float], None] | None = None) -> ExportReport:
    """Export ``loaded`` in ``fmt``; INT8 needs ``calibration`` (preprocessed images ``(N, C, H, W)``).
    ``provenance`` (the calibration's source, samples, hash) goes into the metadata; ``keep_float`` names modules
    INT8 leaves in float (an accuracy budget's fallback). The file (and its sidecar) appear only when every stage
    passed."""
    fixed = parse_batch(batch)
    if fixed is None:
        raise UsageError(f"a .{fmt.suffix.lstrip('.')} file has a fixed batch: give --batch N (not dynamic)")
    if fmt.one_image and fixed != 1:
        raise UsageError(f"{fmt.name} has no batch dimension (one image per run): export with --batch 1")
    if precision not in fmt.precisions:
        why = f"; {fmt.no_int8}" if precision == "int8" and fmt.no_int8 else ""
        raise UsageError(f"{fmt.name} exports {' or '.join(fmt.precisions)}, not {precision}{why}")
    if precision == "int8" and calibration is None:
        raise UsageError(f"int8 {fmt.name} needs calibration images (--calib)")
    output = check_output_path(output, force)
    if output.suffix != fmt.suffix:
        raise UsageError(f"a {fmt.name} file is named *{fmt.suffix}, not {output.name}")
    fmt.require()
    spec = loaded.spec
    input_names, output_names = io_names(spec.task, spec.num_inputs)
    example = tuple(torch.zeros(fixed, *spec.input_size) for _ in range(spec.num_inputs))
    seconds: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        seconds[name] = time.perf_counter() - started
        if on_stage:
            on_stage(name, seconds[name])

    module, quantizer = loaded.model.eval(), None
    if precision == "int8":
        started = time.perf_counter()
        quantizer = keep_in_float(fmt.quantizer(per_channel), list(keep_float or []), fmt.module_name)
        module = calibrated(module, example, quantizer, batches_of(calibration, fixed, spec.num_inputs), fmt.fold)
        stage("calibrate", started)
    started = time.perf_counter()
    lowered = _lowered(fmt, module, example, quantizer, spec.name)
    stage("lower", started)
    export = {"exporter": fmt.exporter, "backend": fmt.backend, "batch": fixed, "precision": precision}
    if precision == "int8":
        export.update(quantizer="pt2e", per_channel=per_channel, **(provenance or {}),
                      **({"kept_float": list(keep_float)} if keep_float else {}))
    meta = describe(loaded, input_names, output_names, [fixed, *spec.input_size], export, libraries=fmt.libraries)
    meta.extra["precision"] = precision
    meta.extra.update(lowered.extra)
    text = metadata_json(meta)
    content = fmt.embed(lowered.content, text) if fmt.embed else lowered.content
    sidecar = None
    companions = {output.with_suffix(suffix): data for suffix, data in lowered.companions.items()}
    for final in companions:
        check_output_path(final, force)
    with atomic_path(output, force=force) as tmp:
        tmp.write_bytes(content)
        beside = {final: tmp.with_suffix(final.suffix) for final in companions}  # where the runtime looks for them
        if fmt.embed is None:  # the sidecar too: the runtime verifying the file reads what its users will
            beside[Path(sidecar_path(output))] = Path(sidecar_path(tmp))
        try:
            for final, data in companions.items():
                beside[final].write_bytes(data)
            if fmt.embed is None:
                sidecar = sidecar_path(output)
                write_sidecar(sidecar_path(tmp), meta, lowered.delegation, force=True)
            verification = None
            if do_verify:
                started = time.perf_counter()
                verification = _verify(fmt, loaded, str(tmp), fixed, precision, calibration)
                stage("verify", started)
            for final, written in beside.items():  # before the file itself: a file is never without its companions
                os.replace(written, final)
        except BaseException:
            for written in beside.values():
                written.unlink(missing_ok=True)
            raise
    size = Path(output).stat().st_size + sum(final.stat().st_size for final in companions)
    return ExportReport(path=str(output), size_bytes=size, opset=None, batch=fixed,
                        nodes_exported=lowered.nodes, nodes_simplified=None, verification=verification,
                        seconds=seconds, notes=list(loaded.notes), format=fmt.name, precision=precision,
                        delegation=lowered.delegation.to_dict() if lowered.delegation else None, sidecar=sidecar)


def _lowered(fmt: MobileFormat, module, example, quantizer, name: str) -> Lowered:
    try:
        return fmt.lower(module, example, quantizer)
    except (ExportError, UsageError):
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExportError(f"{fmt.exporter} could not lower {name}: {type(exc).__name__}: {first}") from exc


def _verify(fmt: MobileFormat, loaded: LoadedModel, path: str, batch: int, precision: str,
            calibration: np.ndarray | None) -> VerifyResult:
    spec = loaded.spec
    run = fmt.runner(path, None)
    _, output_names = io_names(spec.task, spec.num_inputs)
    if precision == "fp32":
        result = verify_runtime(loaded.model, run, output_names, spec.input_size, num_inputs=spec.num_inputs,
                                task=spec.task, batch_sizes=(batch,), runtime=fmt.runtime)
        require_passed(result)
        return result
    # INT8: how far it is from FP32 on real images (the calibration set's first batches), reported, not failed
    count = max(batch, min(len(calibration), 32)) // batch * batch
    feeds = [[calibration[i:i + batch]] * spec.num_inputs for i in range(0, count, batch)]
    return verify_runtime(loaded.model, run, output_names, spec.input_size, num_inputs=spec.num_inputs,
                          task=spec.task, runtime=fmt.runtime, rtol=float("inf"), min_cosine=0.0, inputs=feeds)




__all__ = ["Lowered", "MobileFormat", "export_mobile", "mobile_format"]
