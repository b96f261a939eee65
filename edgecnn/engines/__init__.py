"""Engines behind one Runner interface: ``load_runner(artifact, engine) -> Runner``.

Each engine is one module declaring it (:mod:`.spec`), collected by :mod:`.registry`; engines named in
``EDGECNN_ENGINE_MODULES`` are registered when this package is imported (see :mod:`.registry`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.onnx_io import check_onnx_file
from ..errors import UsageError
from . import registry
from .base import ModelInfo, Runner, TensorSpec
from .ort_engine import artifact_precision
from .registry import ENGINES, default_engine, get_engine, validate_request
from .spec import Engine, LoadRequest, artifact_kind

__all__ = ["ENGINES", "Engine", "ModelInfo", "Runner", "TensorSpec", "artifact_precision", "default_engine",
           "get_engine", "load_runner"]


def load_runner(artifact: str | os.PathLike, engine: str | None = None, threads: int | None = None,
                precision: str | None = None, per_layer: bool = False) -> Runner:
    """``.onnx`` -> ONNX Runtime (or OpenVINO, ...), ``.engine`` -> TensorRT, ``.pte`` -> ExecuTorch, ``.tflite`` ->
    LiteRT, ``.param`` -> ncnn, checkpoint or zoo name -> PyTorch:
    the engine's own ``load`` (see :mod:`.registry`), after the request is checked against what it declares."""
    artifact = str(artifact)
    engine = engine or default_engine(artifact)
    declared = validate_request(engine, precision, artifact)
    kind = artifact_kind(artifact)
    if kind not in ("zoo",) and not Path(artifact).exists():
        raise UsageError(f"{artifact} does not exist")
    if kind == "onnx":
        check_onnx_file(artifact)  # one line for a truncated or foreign file, before any runtime parses it
    if kind == "onnx" and precision is not None:
        held = artifact_precision(artifact)
        if held != precision and not (held == "fp32" and declared.lowers(precision)):
            raise UsageError(f"{artifact} holds a {held} model; make a {precision} one with 'edgecnn quantize' "
                             f"(edgecnn never changes the precision you asked for silently)")
    runner = declared.load(LoadRequest(artifact, threads=threads, precision=precision, per_layer=per_layer))
    runner.engine = declared.name
    held = runner.info.extra.get("precision")  # what a file with metadata of its own says it holds (.pte, .tflite)
    if kind != "onnx" and precision is not None and held is not None and held != precision and \
            not (held == "fp32" and declared.lowers(precision)):
        raise UsageError(f"{artifact} holds a {held} model, not {precision} (edgecnn never changes the precision "
                         "you asked for silently)")
    return runner


registry.register_from_env()
