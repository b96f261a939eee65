"""What each engine can do, as data: the capability table, built from the engine modules' declarations.

Requests are validated against it before any work starts (:func:`validate_request`). The table is
:data:`ENGINES` of :mod:`edgecnn.engines.registry` (live: engines registered later are in it); this module
keeps the names earlier releases imported from here.
"""

from __future__ import annotations

from .registry import ENGINES, gpu_engines, validate_request
from .spec import BF16_FLAGS, PRECISIONS, artifact_kind, bf16_problem
from .spec import Engine as EngineCapability

__all__ = ["BF16_FLAGS", "ENGINES", "GPU_ENGINES", "PRECISIONS", "EngineCapability", "artifact_kind", "bf16_problem",
           "validate_request"]


def __getattr__(name: str):
    if name == "GPU_ENGINES":  # computed: the registry can grow
        return gpu_engines()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
