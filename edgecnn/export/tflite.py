"""PyTorch -> LiteRT ``.tflite`` (``edgecnn export MODEL --format tflite``), with ``litert-torch``.

Why litert-torch and not onnx2tf: it converts the PyTorch model directly (torch.export -> LiteRT's MLIR converter,
no TensorFlow), and it accepts torch 2.14; onnx2tf pins onnx 1.19, onnxruntime 1.23, numpy 1.26, protobuf 4 and
TensorFlow 2.19, which cannot share an environment with edgecnn (docs/mobile_runtimes.md). INT8 is PT2E with
litert-torch's ``PT2EQuantizer`` (static: INT8 weights, per channel by default, and INT8 activations from the
calibration images; the converter turns the Q/DQ graph into integer kernels). The input stays NCHW, as PyTorch's
and the ONNX file's, so every engine is fed the same way (the layout is in the metadata).

The metadata (the keys an ONNX file has) goes into the flatbuffer's own metadata table, entry ``edgecnn``, written
and read with the schema ``ai-edge-litert`` ships (no extra package). Which operators XNNPACK took is read from the
interpreter once it has applied its default delegate (:func:`delegation_of`). Verified with ``ai-edge-litert``.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from ..core.device.quantized_io import from_tensor, quantizer_of, to_tensor
from ..core.metadata import ModelMetadata, metadata_from_json
from ..errors import DependencyMissing, UsageError
from .delegation import DelegationReport, from_counts

METADATA_NAME = "edgecnn"
EXTRA = "litert"


def require_litert() -> None:
    """The runtime (the interpreter): what a device needs."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        raise DependencyMissing("ai-edge-litert", extra=EXTRA, purpose="LiteRT .tflite files") from None


def require_converter() -> None:
    """The converter too: what an export needs (x86-64 Linux or macOS arm64: litert-converter's wheels)."""
    require_litert()
    try:
        import litert_torch  # noqa: F401
    except ImportError:
        raise DependencyMissing("litert-torch", extra=EXTRA, purpose="PyTorch -> .tflite conversion") from None


def pt2e_quantizer(per_channel: bool = True) -> Any:
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config

    return PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel))


def lower(module, example: tuple, quantizer: Any = None):
    """``module`` (float, or PT2E's Q/DQ graph) as a .tflite flatbuffer, with its delegation report."""
    import litert_torch

    from .mobile import Lowered

    quant_config = None
    if quantizer is not None:
        from litert_torch.quantize.quant_config import QuantConfig

        quant_config = QuantConfig(pt2e_quantizer=quantizer)
    content = bytes(_quiet(lambda: litert_torch.convert(module, example, quant_config=quant_config).model_content()))
    report = delegation_of(content)
    return Lowered(content=content, delegation=report, nodes=report.delegated + report.fallback)


def _quiet(call):
    """litert-torch prints a progress tree on stdout; edgecnn's commands print their own stages."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return call()


def embed_metadata(content: bytes, text: str) -> bytes:
    """``content`` with a metadata entry ``edgecnn`` holding ``text`` (replacing one already there)."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    def named(entry) -> str:  # the object API gives names as bytes
        return entry.name.decode() if isinstance(entry.name, bytes) else str(entry.name)

    model.metadata = [m for m in (model.metadata or []) if named(m) != METADATA_NAME]
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode(), dtype=np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_NAME, len(model.buffers) - 1
    model.metadata.append(entry)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_tflite_metadata(path: str | os.PathLike) -> ModelMetadata | None:
    """The ``edgecnn`` metadata entry of a .tflite file (read with the flatbuffer schema, without copying the
    weights), or None."""
    from ai_edge_litert import schema_py_generated as schema

    data = bytearray(open(path, "rb").read())
    try:
        model = schema.Model.GetRootAs(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() and entry.Name().decode() == METADATA_NAME:
                buffer = model.Buffers(entry.Buffer())
                if buffer.DataLength() == 0 and buffer.Offset() > 1:  # stored after the flatbuffer, at an offset
                    return metadata_from_json(bytes(data[buffer.Offset():buffer.Offset() + buffer.Size()]))
                return metadata_from_json(buffer.DataAsNumpy().tobytes())
    except Exception as exc:  # a truncated or foreign file: the flatbuffer reader fails anywhere
        raise UsageError(f"{path} is not a readable .tflite file ({type(exc).__name__})") from None
    return None


def interpreter(model: str | bytes, threads: int | None = None, xnnpack: bool = True):
    """LiteRT's interpreter with its tensors allocated (which is when XNNPACK takes its partitions). ``threads``:
    None -> every core (LiteRT's own default is 1)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    source = {"model_path": os.fspath(model)} if isinstance(model, (str, os.PathLike)) else {"model_content": model}
    found = Interpreter(**source, num_threads=int(threads or os.cpu_count() or 1),
                        experimental_op_resolver_type=resolver)
    found.allocate_tensors()
    return found


def delegation_of(model: str | bytes) -> DelegationReport:
    """Which operators XNNPACK took in ``model`` (a path or the flatbuffer's bytes), from LiteRT's interpreter."""
    return delegation_from_ops(interpreter(model, threads=1)._get_ops_details())


def delegation_from_ops(ops: list[dict]) -> DelegationReport:
    """The report from the interpreter's node list (``_get_ops_details``: index, op_name, inputs, outputs). Each XNNPACK
    partition is a ``DELEGATE`` node appended after the original operators; walking back from its outputs to its
    inputs over the original graph finds the operators inside it; the rest run on LiteRT's own kernels."""
    original = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {t: op["index"] for op in original for t in op["outputs"]}
    by_index = {op["index"]: op for op in original}
    delegated: set[int] = set()
    partitions = [op for op in ops if op["op_name"] == "DELEGATE"]
    for node in partitions:
        boundary, stack = set(node["inputs"]), list(node["outputs"])
        while stack:
            tensor = stack.pop()
            if tensor in boundary or tensor not in producer or producer[tensor] in delegated:
                continue
            delegated.add(producer[tensor])
            stack.extend(by_index[producer[tensor]]["inputs"])
    counts: dict[str, tuple[int, int]] = {}
    for op in original:
        inside, outside = counts.get(op["op_name"], (0, 0))
        counts[op["op_name"]] = (inside + 1, outside) if op["index"] in delegated else (inside, outside + 1)
    return from_counts("XNNPACK", len(partitions), counts, "LiteRT interpreter: DELEGATE nodes after allocate_tensors")


def runner(path: str, threads: int | None = None):
    """A call on float input arrays -> float output arrays, with LiteRT's interpreter on ``path`` (an INT8 model's
    integer inputs and outputs quantized and dequantized with their own scales)."""
    found = interpreter(path, threads)
    inputs, outputs = found.get_input_details(), found.get_output_details()

    def run(arrays: list[np.ndarray]) -> list[np.ndarray]:
        for detail, array in zip(inputs, arrays):
            found.set_tensor(detail["index"], to_tensor(array, detail))
        found.invoke()
        return [from_tensor(found.get_tensor(d["index"]), d) for d in outputs]

    return run


FP16_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_2D_TRANSPOSE")


def fp16_weights(content: bytes) -> bytes:
    """A float .tflite with its convolution and fully connected weights stored as float16 (ai-edge-quantizer's
    FLOAT_CASTING, weight-only: a DEQUANTIZE op before each, which XNNPACK folds; the arithmetic stays float32),
    its metadata kept."""
    try:
        from ai_edge_quantizer import quantizer, qtyping
    except ImportError:
        raise DependencyMissing("ai-edge-quantizer", extra=EXTRA, purpose="FP16 .tflite files") from None
    converter = quantizer.Quantizer(bytearray(content))
    config = qtyping.OpQuantizationConfig(
        weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
        compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True)
    for op in FP16_OPS:
        converter.update_quantization_recipe(regex=".*", operation_name=getattr(qtyping.TFLOperationName, op),
                                             op_config=config, algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING)
    return bytes(_quiet(lambda: converter.quantize(enable_progress_report=False)).quantized_model)


def litert_module_name(name: str) -> str:
    """A module's name as litert-torch 0.10's PT2EQuantizer compares it: it takes an exported graph's
    nn_module_stack key ("L__self__features.0.0"), drops ten characters (dynamo's "L__self___", one more than
    torch.export's "L__self__") and turns "_" into "." ; the same done to our name matches that spelling exactly."""
    return ("L__self__" + name)[len("L__self___"):].replace("_", ".")


@functools.cache
def _format():
    from .mobile import MobileFormat

    return MobileFormat(name="tflite", suffix=".tflite", exporter="litert-torch", runtime="LiteRT (XNNPACK)",
                        require=require_converter, quantizer=pt2e_quantizer, fold=False, lower=lower,
                        embed=embed_metadata, runner=runner, libraries=("litert-torch", "ai-edge-litert", "torchao"),
                        module_name=litert_module_name)


def __getattr__(name: str):
    if name == "FORMAT":  # built on first use: the export flow imports torch, reading a file's metadata does not
        return _format()
    raise AttributeError(name)


__all__ = ["EXTRA", "delegation_from_ops", "delegation_of", "embed_metadata", "fp16_weights", "from_tensor", "interpreter",
           "lower", "pt2e_quantizer",
           "quantizer_of", "read_tflite_metadata", "require_converter", "require_litert", "runner", "to_tensor"]
