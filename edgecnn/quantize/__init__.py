"""INT8 static PTQ (QDQ), FP16, and accuracy-aware mixed precision."""

from .int8 import QuantizeOptions, QuantizeReport, quantize_int8

__all__ = ["QuantizeOptions", "QuantizeReport", "quantize_int8"]
