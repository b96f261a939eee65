"""The float model every quantizer starts from: the file exists, the output may be written, the graph loads."""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from ..core.onnx_io import load_onnx
from ..errors import UsageError
from ..fileio import check_output_path


def open_float_model(model_path: str | os.PathLike, output: str | os.PathLike, force: bool
                     ) -> tuple[str, Path, onnx.ModelProto]:
    """(the path as a string, the checked output path, the loaded model); one-line errors otherwise."""
    model_path = str(model_path)
    if not Path(model_path).exists():
        raise UsageError(f"{model_path} does not exist")
    output = check_output_path(output, force)
    return model_path, output, load_onnx(model_path)
