"""INT8 static PTQ (QDQ), FP16, and accuracy-aware mixed precision."""

from .int8 import QuantizeOptions, QuantizeReport, quantize_int8
from .placed import quantize_placed

__all__ = ["QuantizeOptions", "QuantizeReport", "quantize_int8", "quantize_placed"]
