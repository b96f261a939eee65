"""Engines behind one Runner interface: ``load_runner(artifact) -> Runner``."""

from __future__ import annotations

import os
from pathlib import Path

from .base import ModelInfo, Runner, TensorSpec

__all__ = ["ModelInfo", "Runner", "TensorSpec", "load_runner"]


def load_runner(artifact: str | os.PathLike, engine: str | None = None, threads: int | None = None) -> Runner:
    """``.onnx`` -> ONNX Runtime; a checkpoint or zoo name -> PyTorch eager."""
    path = Path(str(artifact))
    if engine in (None, "ort") and path.suffix == ".onnx":
        from ..errors import UsageError
        from .ort_engine import OrtRunner

        if not path.exists():
            raise UsageError(f"{path} does not exist")
        return OrtRunner(path, threads=threads)
    if engine in (None, "torch"):
        from ..zoo import create_model
        from .torch_engine import TorchRunner

        return TorchRunner(create_model(str(artifact)), threads=threads)
    from ..errors import UsageError

    raise UsageError(f"engine {engine!r} cannot run {artifact}")
