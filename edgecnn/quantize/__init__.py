"""INT8 static PTQ (QDQ), FP16, and accuracy-aware mixed precision.

The package is also the public API's ``edgecnn.quantize``: calling it, ``edgecnn.quantize("m.onnx",
"m_int8.onnx", calib="images/")``, calls :func:`~edgecnn.quantize.workflow.quantize_model` (what ``edgecnn
quantize`` calls; see :mod:`edgecnn.core.api`).
"""

from ..core.api import make_callable
from .int8 import QuantizeOptions, QuantizeReport, quantize_int8
from .placed import quantize_placed
from .workflow import QuantizeOutcome, quantize_model

__all__ = ["QuantizeOptions", "QuantizeOutcome", "QuantizeReport", "quantize_int8", "quantize_model",
           "quantize_placed"]


make_callable(__name__, "quantize_model")
