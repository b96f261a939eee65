"""torch -> ONNX export, verification against PyTorch, onnxsim, metadata.

Attributes load lazily so that reading metadata (engines, bundles) never imports torch.

The package is also the public API's ``edgecnn.export``: calling it, ``edgecnn.export("mobilenet_v2",
"mnv2.onnx", batch="dynamic")``, calls :func:`~edgecnn.export.onnx_export.export_model` (what ``edgecnn export``
calls; see :mod:`edgecnn.core.api`).
"""

from __future__ import annotations

import importlib

from ..core.api import make_callable

_EXPORTS = {
    "DEFAULT_OPSET": ".onnx_export", "ExportReport": ".onnx_export", "default_output": ".onnx_export",
    "export_model": ".onnx_export", "export_onnx": ".onnx_export", "parse_batch": ".onnx_export",
    "ModelMetadata": "..core.metadata", "read_metadata": "..core.metadata", "write_metadata": "..core.metadata",
    "VerifyResult": ".verify", "verify_onnx": ".verify",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


make_callable(__name__, "export_model")
