"""INT8 static post-training quantization in QDQ format with ONNX Runtime.

ONNX Runtime's pre-processing (``quant_pre_process``: optimisation + shape
inference), then ``quantize_static`` in QDQ format: QuantizeLinear /
DequantizeLinear pairs around the quantized ops, which ONNX Runtime fuses into
integer kernels and TensorRT reads as explicit quantization. Weights are
symmetric INT8 (per channel by default); activations are UINT8 asymmetric
(the fastest form for x86 CPUs), or symmetric INT8 with
``symmetric_activations`` (what TensorRT requires).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from ..core.compare import compare_outputs as compare
from ..core.metadata import (
    ModelMetadata,
    library_versions,
    read_metadata,
    write_metadata,
)
from ..core.onnx_io import cap_ir_version, dims_of, is_classic, load_onnx, normalize
from ..core.onnx_io import graph_inputs as fed_inputs
from ..core.ort import make_session
from ..core.preprocess import PreprocessSpec
from ..engines.registry import placement_of
from ..errors import EdgeCNNError, UsageError
from ..fileio import atomic_path, sha256_file
from ..tasks.registry import DEFAULT
from .calibration import (
    ArrayDataReader,
    cache_dir,
    calibration_stride,
    load_calibration_set,
    tensorrt_calibration_table,
)
from .options import DEFAULT_METHOD, METHODS, QuantizeOptions  # noqa: F401  (re-exported)
from .ranges import calibrate, minmax_fallback
from .selection import speed_aware_exclusions
from .source import open_float_model

QUANTIZER = "onnxruntime"  # the quantizer this module is (edgecnn.engines.spec.Placement.quantizer)
QUANTIZED_OP_TYPES = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                      "MatMulInteger", "DynamicQuantizeLinear", "QLinearAdd", "QLinearMul"}


class QuantizeError(EdgeCNNError):
    pass


@dataclass
class QuantizeReport:
    path: str
    size_bytes: int
    fp32_size_bytes: int
    method: str
    samples: int
    data_hash: str
    calibration_from_cache: bool
    ranges_from_cache: bool
    images_read: int
    quantized_nodes: int
    float_nodes: dict[str, int]  # op type -> count of compute nodes left in float
    excluded: list[str]
    minmax_fallback: list[str] = field(default_factory=list)  # tensors whose histogram cannot be built: min/max
    agreement: dict = field(default_factory=dict)  # vs the float model on calibration inputs, run by ONNX Runtime
    engine_agreement: dict = field(default_factory=dict)  # engine -> the same, the INT8 file run by that engine
    placement_note: str | None = None  # why the placement asked for was not used
    speed_note: str | None = None
    seconds: float = 0.0
    trt_table: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def is_quantized(model: onnx.ModelProto) -> bool:
    return any(node.op_type in QUANTIZED_OP_TYPES for node in model.graph.node)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The image inputs: one, or several of the same shape (a Siamese net: calibration feeds each the same images)."""
    inputs = fed_inputs(model)
    shapes = {str(i.type.tensor_type.shape) for i in inputs}
    if not inputs or len(shapes) != 1:
        raise UsageError(f"quantization needs an image model (one input, or inputs of one shape); this one has "
                         f"{len(inputs)} inputs of {len(shapes)} shapes")
    return inputs


def graph_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    return graph_inputs(model)[0]


def feed(names: str | list[str], batch: np.ndarray) -> dict[str, np.ndarray]:
    return {name: batch for name in ([names] if isinstance(names, str) else names)}


def input_chw(model: onnx.ModelProto) -> tuple[int | None, ...]:
    return dims_of(graph_input(model))


def resolve_preprocess(model: onnx.ModelProto, path: str, mean=None, std=None, input_size=None,
                       ) -> tuple[PreprocessSpec, tuple[int, int, int], ModelMetadata | None]:
    """The model's preprocessing: its edgecnn metadata, or the values given for a model without it."""
    meta = read_metadata(model)
    shape = input_chw(model)
    if len(shape) != 4:
        raise UsageError(f"{path} takes a {len(shape)}-d input; edgecnn quantizes NCHW image models")
    if isinstance(shape[1], int) and shape[1] not in (1, 3):
        raise UsageError(f"{path} takes {shape[1]}-channel input, but calibration images are RGB (3) or "
                         "greyscale (1)")
    if meta is not None and mean is None and std is None and input_size is None:
        return meta.preprocess, tuple(meta.input_shape[1:]), meta
    if meta is None and (mean is None or std is None or input_size is None):
        raise UsageError(f"{path} has no edgecnn metadata, so its preprocessing is unknown: pass --mean, --std "
                         "and --input-size (e.g. --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --input-size 224)")
    base = meta.preprocess if meta else PreprocessSpec()
    channels = shape[1] if len(shape) == 4 and shape[1] else (len(mean) if mean else base.channels)
    if input_size is not None:
        height, width = input_size
    else:
        height, width = base.crop
    color = "L" if channels == 1 else "RGB"
    for name, values in (("--mean", mean), ("--std", std)):
        if values is not None and len(values) != channels:
            raise UsageError(f"{name} has {len(values)} values but the model takes {channels}-channel images")
    spec = PreprocessSpec(resize=int(round(max(height, width) * 256 / 224)), crop=(height, width),
                          mean=tuple(mean) if mean else base.mean, std=tuple(std) if std else base.std,
                          interpolation=base.interpolation, color=color)
    return spec, (channels, height, width), meta


def _ranges_cache(model_hash: str, data_hash: str, options: QuantizeOptions, samples: int) -> Path:
    detail = json.dumps({"method": options.method, "percentile": options.percentile if options.method ==
                         "percentile" else None, "symmetric": options.symmetric_activations,
                         "op_types": sorted(options.op_types or []), "samples": samples, "seed": options.seed},
                        sort_keys=True)
    tag = hashlib.sha256(detail.encode()).hexdigest()[:10]
    return cache_dir() / f"ranges-{model_hash}-{data_hash}-{options.method}-{tag}.json"


def _count_nodes(model: onnx.ModelProto) -> tuple[int, dict[str, int]]:
    """Compute nodes fed by a DequantizeLinear (quantized) and the float compute nodes left."""
    dq_outputs = {o for n in model.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    quantized, left = 0, {}
    structural = {"QuantizeLinear", "DequantizeLinear", "Reshape", "Flatten", "Shape", "Gather", "Unsqueeze",
                  "Concat", "Constant", "Identity", "Squeeze", "Transpose", "Cast"}
    for node in model.graph.node:
        if node.op_type in structural:
            continue
        if any(i in dq_outputs for i in node.input):
            quantized += 1
        else:
            left[node.op_type] = left.get(node.op_type, 0) + 1
    return quantized, left


def compare_outputs(float_path: str, quant_path: str, inputs: np.ndarray, input_name: str | list[str],
                    limit: int = 64, quantized_session=make_session) -> dict:
    """Top-1 agreement, cosine and max abs error of the quantized model against the float one (both on ONNX
    Runtime, or the quantized one on ``quantized_session(path)``: anything with ONNX Runtime's ``run``)."""

    a_session, b_session = make_session(float_path), quantized_session(quant_path)
    batch = input_chw(load_onnx(float_path, external_data=False))[0]
    fixed = isinstance(batch, int) and batch > 0
    step = batch if fixed else 16
    inputs = inputs[:limit]
    a_out, b_out = [], []
    for start in range(0, len(inputs), step):
        chunk = inputs[start : start + step]
        count = len(chunk)
        if fixed and count < step:  # a fixed-batch model: pad the last chunk, keep only the real rows
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - count, axis=0)])
        a_out.append(a_session.run(None, feed(input_name, chunk))[0][:count])
        b_out.append(b_session.run(None, feed(input_name, chunk))[0][:count])
    result = compare(np.concatenate(a_out), np.concatenate(b_out))
    if result["top1_agreement"] is None:
        del result["top1_agreement"]
    return result


@contextlib.contextmanager
def _quiet_ort_logging():
    """ORT's quantizer logs warnings and prints histogram progress to stdout; keep our output clean."""
    import io

    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def quantize_int8(model_path: str | os.PathLike, output: str | os.PathLike, calib: str, *,
                  options: QuantizeOptions | None = None, force: bool = False, mean=None, std=None,
                  input_size=None, trt_table: str | os.PathLike | None = None, progress: bool = True,
                  log=lambda line: None) -> QuantizeReport:
    """Quantize ``model_path`` to INT8 QDQ at ``output`` with calibration images from ``calib`` (``mean``, ``std``,
    ``input_size``: the preprocessing of a model without edgecnn metadata; ``trt_table``: also write TensorRT's
    calibration table from the same ranges)."""
    options = _checked(options or QuantizeOptions())
    started = time.perf_counter()
    model_path, output, model = open_float_model(model_path, output, force)
    source_sha256 = sha256_file(model_path)  # of the file as given: keys the range cache, goes in the metadata
    normalized = is_classic(model)
    if normalized:  # an older converter's graph: quantize a normalised private copy
        model, notes = normalize(model)
        for note in notes:
            log(f"note: {note}")
    if is_quantized(model):
        raise UsageError(f"{model_path} is already quantized (it has QuantizeLinear/DequantizeLinear or integer ops); "
                         "quantize the float model")
    preprocess, chw, meta = resolve_preprocess(model, model_path, mean, std, input_size)
    exclude, speed_note = _exclusions(model, options, log)
    calibration = load_calibration_set(calib, preprocess, chw, samples=options.samples, seed=options.seed,
                                       split=options.calib_split, val_split=options.val_split, progress=progress,
                                       task=meta.task if meta else None)
    log(f"calibration: {len(calibration.inputs)} samples from {calib}" + (
        " (cached tensors, no image read)" if calibration.from_cache else f" ({calibration.images_read} images read)"))
    ranges_path = _ranges_cache(source_sha256[:16], calibration.data_hash, options, len(calibration.inputs))
    ranges_cached = ranges_path.exists()
    batch = input_chw(model)[0]
    input_names = [i.name for i in graph_inputs(model)]
    reader = ArrayDataReader(calibration.inputs, input_names,
                             batch_size=1 if batch in (1, None) or batch < 1 else batch)
    with tempfile.TemporaryDirectory(prefix="edgecnn-quant-") as tmp:
        source = Path(model_path)  # the float model as quantized: the file, or its normalised copy
        if normalized:
            source = Path(tmp) / "source.onnx"
            onnx.save(model, str(source))
        result = _ort_quantized(model, source, Path(tmp), reader, ranges_path, ranges_cached, options, exclude, log,
                                str(model_path))
        quantized_nodes, left = _count_nodes(result)
        from onnxruntime.quantization.calibrate import load_tensors_data

        tensors = load_tensors_data(ranges_path)
        fallback = minmax_fallback(tensors, options.method)
        info = _provenance(options, calibration, calib, exclude, speed_note, source_sha256, fallback)
        base = meta or ModelMetadata(architecture=Path(model_path).stem, task=DEFAULT.name,
                                     input_names=[graph_input(model).name],
                                     output_names=[o.name for o in model.graph.output],
                                     input_shape=[batch or "batch", *chw], layout="NCHW", preprocess=preprocess,
                                     labels=[], weights_sha256="", weights_source="")
        base.preprocess = preprocess
        base.extra = {**base.extra, "precision": "int8", "quantization": json.dumps(info, sort_keys=True)}
        write_metadata(result, base)
        with atomic_path(output, force=force) as final:
            onnx.save(cap_ir_version(result), str(final))
            try:  # checked before the rename: a model ONNX Runtime cannot run is never written
                agreement = compare_outputs(str(source), str(final), calibration.inputs, input_names)
            except Exception as exc:
                raise QuantizeError(f"ONNX Runtime cannot run the quantized {Path(model_path).name}: "
                                    f"{type(exc).__name__}: {exc}") from None
    table_path = _write_trt_table(tensors, trt_table) if trt_table else None
    return QuantizeReport(
        path=str(output), size_bytes=Path(output).stat().st_size, fp32_size_bytes=Path(model_path).stat().st_size,
        method=options.method, samples=len(calibration.inputs), data_hash=calibration.data_hash,
        calibration_from_cache=calibration.from_cache, ranges_from_cache=ranges_cached,
        images_read=calibration.images_read, quantized_nodes=quantized_nodes, float_nodes=left,
        excluded=exclude, minmax_fallback=fallback, agreement=agreement, seconds=time.perf_counter() - started,
        trt_table=table_path, speed_note=speed_note,
    )


def _checked(options: QuantizeOptions) -> QuantizeOptions:
    """The options as this quantizer runs them: a placement that is another quantizer's is refused; one for
    TensorRT makes activations symmetric (TensorRT reads symmetric INT8 only)."""
    placement = placement_of(options.placed_for)
    if placement.quantizer != QUANTIZER:
        raise UsageError(f"a placement for {options.placed_for} is {placement.quantizer}'s: call "
                         "edgecnn.quantize.quantize_placed")
    if placement.symmetric_activations and not options.symmetric_activations:
        return dataclasses.replace(options, symmetric_activations=True)
    return options


def _exclusions(model: onnx.ModelProto, options: QuantizeOptions, log) -> tuple[list[str], str | None]:
    """The nodes kept in float: the user's, plus the speed-aware choice (with its note) unless op types are given."""
    exclude = list(options.exclude)
    speed_note = None
    if options.speed_aware and not options.op_types:
        kept, speed_note = speed_aware_exclusions(model)
        exclude += [name for name in kept if name not in exclude]
        if speed_note:
            log(f"note: {speed_note}")
    return exclude, speed_note


def _ort_quantized(model: onnx.ModelProto, source: Path, tmp: Path, reader, ranges_path: Path, ranges_cached: bool,
                   options: QuantizeOptions, exclude: list[str], log, name: str) -> onnx.ModelProto:
    """ONNX Runtime's pre-processing, the ranges (unless cached) and ``quantize_static`` into QDQ."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[options.method]
    extra = {"ActivationSymmetric": options.symmetric_activations, "WeightSymmetric": options.symmetric_weights}
    pre, quantized = tmp / "pre.onnx", tmp / "int8.onnx"
    with _quiet_ort_logging():
        try:
            quant_pre_process(str(source), str(pre), skip_symbolic_shape=True)
        except Exception as exc:  # pre-processing is an optimisation; quantize the original if it fails
            log(f"note: ONNX Runtime pre-processing skipped ({type(exc).__name__})")
            onnx.save(model, str(pre))
        try:
            if not ranges_cached:  # the ranges (a min/max fallback included) into ORT's calibration cache,
                # computed in chunks: one chunk of activations in memory at a time. (CalibMaxIntermediateOutputs
                # is not used: in ORT 1.31 it drops the chunks it clears.)
                calibrate(pre, reader, options.method, ranges_path, op_types=options.op_types,
                          percentile=options.percentile, stride=calibration_stride(len(reader)))
            quantize_static(
                str(pre), str(quantized), reader, quant_format=QuantFormat.QDQ,
                op_types_to_quantize=options.op_types or None, per_channel=options.per_channel,
                activation_type=QuantType.QInt8 if options.symmetric_activations else QuantType.QUInt8,
                weight_type=QuantType.QInt8, nodes_to_exclude=exclude or None,
                calibrate_method=method, extra_options=extra, calibration_cache_path=str(ranges_path),
            )
        except (ValueError, RuntimeError, KeyError) as exc:
            raise QuantizeError(f"ONNX Runtime could not quantize {name}: {exc}") from exc
    return onnx.load(str(quantized))


def _provenance(options: QuantizeOptions, calibration, calib: str, exclude: list[str], speed_note: str | None,
                source_sha256: str, fallback: list[str]) -> dict:
    """How the file was quantized, as its metadata records it."""
    return {"method": options.method, "percentile": options.percentile if options.method == "percentile" else None,
            "minmax_fallback": fallback,
            "samples": len(calibration.inputs), "data_hash": calibration.data_hash, "calib": str(calib),
            "per_channel": options.per_channel, "symmetric_weights": options.symmetric_weights,
            "symmetric_activations": options.symmetric_activations,
            "activation_type": "int8" if options.symmetric_activations else "uint8", "weight_type": "int8",
            "op_types": options.op_types, "excluded": exclude, "speed_aware": speed_note,
            "source_sha256": source_sha256, "format": "QDQ", "versions": library_versions()}


def _write_trt_table(tensors: dict, path: str | os.PathLike) -> str:
    """TensorRT's INT8 calibration table from the same ranges."""
    ranges = {name: (float(np.min(data.range_value[0])), float(np.max(data.range_value[1])))
              for name, data in tensors.items()}
    with atomic_path(path, force=True) as tmp_table:
        tmp_table.write_text(tensorrt_calibration_table(ranges))
    return str(path)
