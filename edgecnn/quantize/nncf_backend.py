"""INT8 placed for OpenVINO: NNCF's post-training quantization of the FP32 ONNX, written as Q/DQ ONNX.

OpenVINO fuses Q/DQ differently from ONNX Runtime: a placement tuned for ONNX Runtime (edgecnn's
speed-aware exclusions keep SiLU regions in float, UINT8 activations) is not the fastest on OpenVINO.
NNCF, OpenVINO's own quantizer, places the Q/DQ pairs the way OpenVINO's CPU plugin runs fastest
(``preset=PERFORMANCE``: symmetric activations), so ``edgecnn quantize --for openvino`` uses it. The
calibration images, the metadata and the agreement check are edgecnn's, as for every INT8 model.

The agreement is checked twice: ONNX Runtime running the Q/DQ file (what the file means) and OpenVINO
running it (what OpenVINO makes of it on this CPU). They can part: on a Zen 1 CPU (AVX2, no VNNI) OpenVINO
2026.4 ran NNCF's INT8 U-Net (symmetric INT8 skip connections shared by Concat) with a pixel agreement of
0.69 against FP32 where ONNX Runtime's run of the same file agreed on 0.98, a loss of 19 points of mean IoU,
while it ran ONNX Runtime's placement of the same model faithfully. :func:`openvino_unfaithful` says when
OpenVINO's run falls that far behind, and :func:`edgecnn.quantize.quantize_placed` then uses the other
placement.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import onnx

from ..core.metadata import library_versions, read_metadata, write_metadata
from ..core.onnx_io import cap_ir_version, load_onnx
from ..errors import DependencyMissing, UsageError
from ..fileio import atomic_path, sha256_file
from ..tasks.registry import task_of
from .calibration import load_calibration_set
from .int8 import (
    QuantizeError,
    QuantizeReport,
    _count_nodes,
    compare_outputs,
    graph_input,
    is_quantized,
    resolve_preprocess,
)
from .options import QuantizeOptions
from .source import open_float_model


QUANTIZER = "nncf"  # the quantizer this module is (edgecnn.engines.spec.Placement.quantizer)
UNFAITHFUL_TOLERANCE = 0.05  # cosine / top-1 (or pixel) agreement with FP32: OpenVINO's run this far below ORT's


class _OpenVINOSession:
    """The ``run(None, feeds)`` of an ONNX Runtime session, on OpenVINO's CPU plugin (float parts in f32)."""

    def __init__(self, path: str):
        import openvino as ov

        self.compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def run(self, _outputs, feeds: dict) -> list:
        return [self.compiled(feeds)[self.compiled.output(0)]]


def openvino_agreement(float_path: str, quant_path: str, inputs, input_name, task: str | None = None,
                       limit: int = 16) -> dict:
    """The INT8 model run by OpenVINO itself against the float model on ONNX Runtime (see the module's notes)."""
    try:
        result = compare_outputs(float_path, quant_path, inputs, input_name, limit=limit,
                                 quantized_session=_OpenVINOSession)
    except Exception as exc:  # one line, not OpenVINO's traceback
        raise QuantizeError(f"OpenVINO cannot run the INT8 file of {Path(float_path).name}: "
                            f"{type(exc).__name__}: {exc}") from None
    if not task_of(task).class_scores:  # an embedding's largest dimension means nothing
        result.pop("top1_agreement", None)
    return result


def openvino_check(float_path: str, quant_path: str, calib: str, options: QuantizeOptions, *, mean=None, std=None,
                   input_size=None) -> dict:
    """:func:`openvino_agreement` of any INT8 file of ``float_path``, on its (cached) calibration inputs."""
    model = load_onnx(float_path, external_data=False)
    preprocess, chw, meta = resolve_preprocess(model, float_path, mean, std, input_size)
    inputs = load_calibration_set(calib, preprocess, chw, samples=options.samples, seed=options.seed,
                                  split=options.calib_split, val_split=options.val_split, progress=False,
                                  task=meta.task if meta else None).inputs
    return openvino_agreement(float_path, quant_path, inputs, graph_input(model).name, meta.task if meta else None)


def openvino_unfaithful(ort: dict, openvino: dict, tolerance: float | None = None) -> str | None:
    """Why OpenVINO's run of a Q/DQ file cannot be trusted, or None: its agreement with the float model
    (cosine; top-1, or per-pixel class, agreement) more than ``tolerance`` below ONNX Runtime's run of the file."""
    tolerance = UNFAITHFUL_TOLERANCE if tolerance is None else tolerance
    for key, name in (("top1_agreement", "top-1 agreement"), ("cosine", "cosine")):
        a, b = ort.get(key), openvino.get(key)
        if a is not None and b is not None and b < a - tolerance:
            return f"OpenVINO runs it with {name} {b:.3f} against FP32 where ONNX Runtime's run of the same file has {a:.3f}"
    return None


def require_nncf():
    try:
        import nncf
    except ImportError:
        raise DependencyMissing("nncf", extra="openvino", purpose="INT8 placed for OpenVINO (--for openvino)") from None
    return nncf


def quantize_for_openvino(model_path: str | os.PathLike, output: str | os.PathLike, calib: str, *,
                          options: QuantizeOptions, force: bool = False, mean=None, std=None, input_size=None,
                          progress: bool = True, log=lambda line: None) -> QuantizeReport:
    nncf = require_nncf()
    started = time.perf_counter()
    model_path, output, model = open_float_model(model_path, output, force)
    if is_quantized(model):
        raise UsageError(f"{model_path} is already quantized; quantize the float model")
    preprocess, chw, meta = resolve_preprocess(model, model_path, mean, std, input_size)
    input_name = graph_input(model).name
    calibration = load_calibration_set(calib, preprocess, chw, samples=options.samples, seed=options.seed,
                                       split=options.calib_split, val_split=options.val_split, progress=progress,
                                       task=meta.task if meta else None)
    log(f"calibration: {len(calibration.inputs)} samples from {calib} (NNCF, placed for OpenVINO)")
    dataset = nncf.Dataset(list(calibration.inputs), lambda x: {input_name: x[None]})
    ignored = nncf.IgnoredScope(names=list(options.exclude), validate=False) if options.exclude else None
    try:
        quantized = nncf.quantize(model, dataset, preset=nncf.QuantizationPreset.PERFORMANCE,
                                  subset_size=len(calibration.inputs), ignored_scope=ignored)
    except Exception as exc:  # NNCF's own errors name the node; one line, not its traceback
        raise QuantizeError(f"NNCF could not quantize {model_path}: {type(exc).__name__}: {exc}") from None
    info = {"backend": f"nncf {nncf.__version__}", "preset": "performance", "samples": len(calibration.inputs),
            "data_hash": calibration.data_hash, "calib": str(calib), "excluded": list(options.exclude),
            "source_sha256": sha256_file(model_path), "format": "QDQ", "placed_for": options.placed_for,
            "versions": library_versions()}
    base = meta or read_metadata(model)
    if base is not None:
        base.preprocess = preprocess
        base.extra = {**base.extra, "precision": "int8", "quantization": json.dumps(info, sort_keys=True)}
        write_metadata(quantized, base)
    with tempfile.TemporaryDirectory(prefix="edgecnn-nncf-"):
        with atomic_path(output, force=force) as final:
            onnx.save(cap_ir_version(quantized), str(final))
            try:
                agreement = compare_outputs(model_path, str(final), calibration.inputs, input_name)
            except Exception as exc:
                raise QuantizeError(f"ONNX Runtime cannot run NNCF's quantized {Path(model_path).name}: "
                                    f"{type(exc).__name__}: {exc}") from None
            on_openvino = openvino_agreement(model_path, str(final), calibration.inputs, input_name,
                                             base.task if base else None)
    quantized_nodes, left = _count_nodes(quantized)
    return QuantizeReport(
        path=str(output), size_bytes=Path(output).stat().st_size, fp32_size_bytes=Path(model_path).stat().st_size,
        method="nncf", samples=len(calibration.inputs), data_hash=calibration.data_hash,
        calibration_from_cache=calibration.from_cache, ranges_from_cache=False, images_read=calibration.images_read,
        quantized_nodes=quantized_nodes, float_nodes=left, excluded=list(options.exclude), agreement=agreement,
        engine_agreement={options.placed_for: on_openvino}, seconds=time.perf_counter() - started)
