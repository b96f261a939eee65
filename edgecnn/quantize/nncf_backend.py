"""INT8 placed for OpenVINO: NNCF's post-training quantization of the FP32 ONNX, written as Q/DQ ONNX.

OpenVINO fuses Q/DQ differently from ONNX Runtime: a placement tuned for ONNX Runtime (edgecnn's
speed-aware exclusions keep SiLU regions in float, UINT8 activations) is not the fastest on OpenVINO.
NNCF, OpenVINO's own quantizer, places the Q/DQ pairs the way OpenVINO's CPU plugin runs fastest
(``preset=PERFORMANCE``: symmetric activations), so ``edgecnn quantize --for openvino`` uses it. The
calibration images, the metadata and the agreement check are edgecnn's, as for every INT8 model.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import onnx

from ..core.metadata import library_versions, read_metadata, write_metadata
from ..core.onnx_io import cap_ir_version
from ..errors import DependencyMissing, UsageError
from ..fileio import atomic_path, sha256_file
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
                                       split=options.calib_split, val_split=options.val_split, progress=progress)
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
            "source_sha256": sha256_file(model_path), "format": "QDQ", "placed_for": "openvino",
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
    quantized_nodes, left = _count_nodes(quantized)
    return QuantizeReport(
        path=str(output), size_bytes=Path(output).stat().st_size, fp32_size_bytes=Path(model_path).stat().st_size,
        method="nncf", samples=len(calibration.inputs), data_hash=calibration.data_hash,
        calibration_from_cache=calibration.from_cache, ranges_from_cache=False, images_read=calibration.images_read,
        quantized_nodes=quantized_nodes, float_nodes=left, excluded=list(options.exclude), agreement=agreement,
        seconds=time.perf_counter() - started)
