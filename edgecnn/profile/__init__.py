"""Latency, memory and accuracy measurement through the Runner interface.

The package is also the public API's ``edgecnn.profile``: calling it, ``edgecnn.profile("m.onnx", "ort",
batches=[1, 8])``, calls :func:`~edgecnn.profile.run.profile` (what ``edgecnn profile`` calls; see
:mod:`edgecnn.core.api`).
"""

from ..core.api import make_callable
from .latency import LatencyStats, measure_latency
from .run import ProfileResult, profile

__all__ = ["LatencyStats", "ProfileResult", "measure_latency", "profile"]


make_callable(__name__, "profile")
