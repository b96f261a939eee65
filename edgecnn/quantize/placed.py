"""INT8 placed for the engine that will run it: one entry point over the quantizers.

``placed_for`` ort and trt: ONNX Runtime's quantizer (:mod:`.int8`; trt forces symmetric activations);
openvino: NNCF (:mod:`.nncf_backend`).
"""

from __future__ import annotations

import os

from .int8 import QuantizeReport, quantize_int8
from .nncf_backend import quantize_for_openvino
from .options import QuantizeOptions


def quantize_placed(model_path: str | os.PathLike, output: str | os.PathLike, calib: str, *,
                    options: QuantizeOptions | None = None, **kwargs) -> QuantizeReport:
    """INT8 Q/DQ of ``model_path`` at ``output``, placed for ``options.placed_for``."""
    options = options or QuantizeOptions()
    if options.placed_for == "openvino":
        kwargs.pop("trt_table", None)
        return quantize_for_openvino(model_path, output, calib, options=options, **kwargs)
    return quantize_int8(model_path, output, calib, options=options, **kwargs)
