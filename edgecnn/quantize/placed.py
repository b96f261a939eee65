"""INT8 placed for the engine that will run it: one entry point over the quantizers.

Each engine's placement (:class:`edgecnn.engines.spec.Placement`) names its quantizer: ONNX Runtime's
(:mod:`.int8`; ort, and trt with symmetric activations forced) or NNCF (:mod:`.nncf_backend`; openvino),
unless OpenVINO on this CPU does not run NNCF's file as ONNX Runtime does
(:func:`.nncf_backend.openvino_unfaithful`): then ONNX Runtime's placement, checked on OpenVINO too.
"""

from __future__ import annotations

import dataclasses
import os

from ..engines.registry import default_placement, placement_of
from .int8 import QUANTIZER, QuantizeReport, quantize_int8
from .nncf_backend import QUANTIZER as NNCF
from .nncf_backend import openvino_check, openvino_unfaithful, quantize_for_openvino
from .options import QuantizeOptions


def quantize_placed(model_path: str | os.PathLike, output: str | os.PathLike, calib: str, *,
                    options: QuantizeOptions | None = None, **kwargs) -> QuantizeReport:
    """INT8 Q/DQ of ``model_path`` at ``output``, placed for ``options.placed_for``."""
    options = options or QuantizeOptions()
    quantizer = placement_of(options.placed_for).quantizer
    if quantizer == QUANTIZER:
        return quantize_int8(model_path, output, calib, options=options, **kwargs)
    if quantizer != NNCF:
        raise ValueError(f"no quantizer {quantizer!r} (placement for {options.placed_for})")
    kwargs.pop("trt_table", None)
    report = quantize_for_openvino(model_path, output, calib, options=options, **kwargs)
    why = openvino_unfaithful(report.agreement, report.engine_agreement.get(options.placed_for, {}))
    if why is None:
        return report
    log = kwargs.get("log") or (lambda line: None)
    note = f"NNCF's placement not used: {why}"
    log(f"note: {note}; quantizing with ONNX Runtime's placement instead")
    fallback = quantize_int8(model_path, output, calib,
                             options=dataclasses.replace(options, placed_for=default_placement()),
                             **{**kwargs, "force": True})
    on_openvino = openvino_check(str(model_path), str(output), calib, options, mean=kwargs.get("mean"),
                                 std=kwargs.get("std"), input_size=kwargs.get("input_size"))
    fallback.engine_agreement = {options.placed_for: on_openvino}
    fallback.placement_note = note
    still = openvino_unfaithful(fallback.agreement, on_openvino)
    if still:
        log(f"warning: ONNX Runtime's placement is no better: {still}")
    return fallback
