"""Reading ONNX files: one loader every command goes through, and the small graph facts they all need.

:func:`load_onnx` turns whatever a file that is not a usable ONNX model raises
(protobuf's ``DecodeError``, an empty file that parses as an empty model, a
missing external-data file) into one :class:`ModelFileError` line, so no command
prints a protobuf traceback. :func:`check_onnx_file` is the same check for code
that hands the path to a runtime (ONNX Runtime, OpenVINO) instead of parsing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from ..errors import ModelFileError, UsageError

# The oldest runtime edgecnn supports (onnxruntime 1.18) reads IR version 10; onnx >= 1.23 writes 14 by default.
MAX_IR_VERSION = 10


def _unreadable(path: str | os.PathLike, why: str = "truncated or not ONNX?") -> ModelFileError:
    return ModelFileError(f"{path} is not a readable ONNX model ({why})")


def load_onnx(path: str | os.PathLike, *, external_data: bool = True) -> onnx.ModelProto:
    """Parse ``path`` as an ONNX model, or raise one line saying it is not one (exit code 1)."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    if path.is_dir():
        raise UsageError(f"{path} is a directory, not an ONNX file")
    try:
        model = onnx.load(str(path), load_external_data=external_data)
    except OSError as exc:  # the file itself was found: an external-data file is missing or unreadable
        raise _unreadable(path, f"its external data cannot be read: {exc.strerror or exc}") from None
    except Exception:  # protobuf DecodeError, RuntimeWarning turned error, UnicodeDecodeError, ...
        raise _unreadable(path) from None
    if not is_usable(model):
        raise _unreadable(path)
    return model


def is_usable(model: onnx.ModelProto) -> bool:
    """An empty or half-written file can parse as a model without a graph; such a model is not usable."""
    return model.ir_version > 0 and len(model.graph.node) > 0 and len(model.graph.output) > 0


def check_onnx_file(path: str | os.PathLike) -> None:
    """Raise the loader's one-line error if ``path`` is not a readable ONNX model (weights not read)."""
    load_onnx(path, external_data=False)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The inputs a caller feeds: graph inputs that are not also initializers (old converters list both)."""
    initializers = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def single_input(model: onnx.ModelProto, purpose: str = "this") -> onnx.ValueInfoProto:
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise UsageError(f"{purpose} needs a single-input image model; this one has {len(inputs)} inputs")
    return inputs[0]


def dims_of(value: onnx.ValueInfoProto) -> tuple[int | None, ...]:
    """Static dimensions as ints, dynamic ones (a name or nothing) as None."""
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim)


def opset_of(model: onnx.ModelProto) -> int:
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)


def cap_ir_version(model: onnx.ModelProto) -> onnx.ModelProto:
    """Keep a graph edgecnn writes readable by the oldest onnxruntime it supports."""
    if model.ir_version > MAX_IR_VERSION:
        model.ir_version = MAX_IR_VERSION
    return model
