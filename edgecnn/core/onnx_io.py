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


# ---------------------------------------------------------------- older graphs
MODERN_OPSET = 13  # per-channel QuantizeLinear (axis), Resize/Split forms that the tools expect
_IR_FOR_OPSET = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10}


def is_classic(model: onnx.ModelProto) -> bool:
    """Written by an older converter: an opset below 13, or initializers also listed as graph inputs."""
    initializers = {i.name for i in model.graph.initializer}
    return opset_of(model) < MODERN_OPSET or any(i.name in initializers for i in model.graph.input)


def normalize(model: onnx.ModelProto, *, fold_constants: bool = True) -> tuple[onnx.ModelProto, list[str]]:
    """A private copy of ``model`` in the form today's tools expect, and a note per change.

    Graphs from older converters (the classic ONNX model zoo: IR version 3, opsets 7-9, every
    initializer also a graph input) load in ONNX Runtime, but its quantizer treats each listed
    initializer as an input to feed, and per-channel Q/DQ needs opset 13. The copy has the
    initializers removed from the inputs, the opset upgraded to 13 (``onnx.version_converter``),
    constants folded (onnxsim) and a matching IR version. Raises a one-line error if it cannot.
    """
    from onnx import version_converter

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    notes: list[str] = []
    initializers = {i.name for i in copy.graph.initializer}
    listed = [i for i in copy.graph.input if i.name in initializers]
    if listed:
        kept = [i for i in copy.graph.input if i.name not in initializers]
        del copy.graph.input[:]
        copy.graph.input.extend(kept)
        notes.append(f"{len(listed)} initializers were also listed as graph inputs (as older converters write "
                     "them); they are weights, not inputs, in the copy")
    copy.ir_version = max(copy.ir_version, 4)  # IR >= 4 lets initializers stay out of the inputs
    opset = opset_of(copy)
    if opset < MODERN_OPSET:
        try:
            copy = version_converter.convert_version(copy, MODERN_OPSET)
        except Exception as exc:
            raise UsageError(f"cannot upgrade the graph from opset {opset} to {MODERN_OPSET}: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None
        notes.append(f"upgraded from opset {opset} to {MODERN_OPSET}")
    copy.ir_version = max(copy.ir_version, _IR_FOR_OPSET.get(opset_of(copy), 7))
    cap_ir_version(copy)
    if fold_constants:
        try:
            from onnxsim import simplify

            simplified, ok = simplify(copy)
        except Exception:  # folding is an optimisation: the normalised graph is valid without it
            simplified, ok = copy, False
        if ok:
            before, after = len(copy.graph.node), len(simplified.graph.node)
            copy = cap_ir_version(simplified)
            if after != before:
                notes.append(f"constants folded ({before} -> {after} nodes)")
    try:
        onnx.checker.check_model(copy)
    except Exception as exc:
        raise UsageError(f"the normalised graph does not pass onnx.checker: {str(exc).splitlines()[0][:200]}") from None
    return copy, notes


def graph_fingerprint(model: onnx.ModelProto) -> str:
    """A digest of what a graph computes, blind to tensor and node names, doc strings and metadata: two files
    with the same ops, attributes, wiring and weights (nodes in the same order) share it, so one timing serves
    both (NNCF's file and edgecnn's placement of the same Q/DQ, for example)."""
    import hashlib

    from onnx import numpy_helper

    digest = hashlib.sha256()
    initializers = {t.name: t for t in model.graph.initializer}
    ids: dict[str, int] = {}

    def ref(name: str) -> str:
        if not name:
            return "-"
        if name not in ids:
            ids[name] = len(ids)
            if name in initializers:
                array = numpy_helper.to_array(initializers[name])
                digest.update(f"w{ids[name]}:{array.dtype}:{array.shape}".encode())
                digest.update(array.tobytes())
        return str(ids[name])

    for value in graph_inputs(model):
        digest.update(f"in{ref(value.name)}:{value.type.SerializeToString().hex()}".encode())
    for node in model.graph.node:
        inputs = ",".join(ref(n) for n in node.input)
        attributes = b"".join(a.SerializeToString() for a in sorted(node.attribute, key=lambda a: a.name))
        digest.update(f"{node.domain}:{node.op_type}({inputs})".encode() + attributes)
        digest.update(("->" + ",".join(ref(n) for n in node.output)).encode())
    digest.update(("out:" + ",".join(ref(o.name) for o in model.graph.output)).encode())
    return digest.hexdigest()
