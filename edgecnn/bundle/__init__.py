"""Deployable bundles: the model, its preprocessing, labels, a standalone infer.py and a sha256 manifest.

``infer.py`` in this package is the script every bundle ships (numpy, pillow and
onnxruntime only); it is imported by edgecnn itself for its numpy preprocessing,
so this ``__init__`` stays light and loads the builder on first use.

The package is also the public API's ``edgecnn.bundle``: calling it, ``edgecnn.bundle("m_int8.onnx",
"m-bundle/", archive="zip")``, calls :func:`~edgecnn.bundle.builder.build_bundle` (what ``edgecnn bundle``
calls; see :mod:`edgecnn.core.api`).
"""

from __future__ import annotations

from ..core.api import make_callable
from . import builder

__all__ = ["BundleReport", "build_bundle"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(builder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


make_callable(__name__, "build_bundle")
