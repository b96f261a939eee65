"""Everything about a TensorRT build that can be decided without TensorRT or a GPU.

Pure functions over the ONNX graph and the request, tested on CPU:

* :func:`parse_batch_spec` / :func:`shape_profiles` — optimization profiles
  (min / opt / max shapes) for inputs with a dynamic batch;
* :func:`precision_flags` — which builder flags a precision needs, and whether
  the model allows it (INT8 needs a QDQ model or a calibration table);
* :func:`check_onnx` — ops the TensorRT ONNX parser does not support, dynamic
  dimensions that need a profile, and Q/DQ patterns TensorRT cannot use.

The operator list follows onnx-tensorrt's ``docs/operators.md`` support matrix
(TensorRT 8.5, opset 17), with LayerNormalization, native since TensorRT 8.6,
counted as supported. It could not be checked against a TensorRT 10 install on
the development machines: treat an op reported here as a warning to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx
from onnx import numpy_helper

from ..core.onnx_io import graph_inputs as fed_inputs
from ..core.text import bounded_list
from ..core.versions import installed_version
from ..errors import UsageError

TRT_UNSUPPORTED_OPS = frozenset({
    "Bernoulli", "BitShift", "BlackmanWindow", "Compress", "ConcatFromSequence", "ConvInteger", "DFT", "Det",
    "DynamicQuantizeLinear", "HammingWindow", "HannWindow", "Hardmax", "IsInf", "MatMulInteger", "MaxRoiPool",
    "MaxUnpool", "MelWeightMatrix", "Multinomial", "NegativeLogLikelihoodLoss", "Optional", "OptionalGetElement",
    "OptionalHasElement", "QLinearConv", "QLinearMatMul", "STFT", "SequenceAt", "SequenceConstruct", "SequenceEmpty",
    "SequenceErase", "SequenceInsert", "SequenceLength", "SequenceMap", "SoftmaxCrossEntropyLoss",
    "SplitToSequence", "StringNormalizer", "TfIdfVectorizer", "Unique",
})
# Ops TensorRT runs in INT8 (it fuses a DequantizeLinear feeding them); others run in float after the DQ.
TRT_INT8_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul", "AveragePool", "MaxPool", "GlobalAveragePool",
                          "GlobalMaxPool", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "Concat", "Add",
                          "Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Pad", "Gather", "Slice",
                          "Identity", "HardSigmoid", "HardSwish", "Mul"})
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class BatchSpec:
    min: int
    opt: int
    max: int

    @property
    def fixed(self) -> bool:
        return self.min == self.opt == self.max


def parse_batch_spec(text: str | int) -> BatchSpec:
    """``"1"`` -> fixed batch 1; ``"1:8:32"`` -> min 1, opt 8, max 32."""
    parts = str(text).split(":")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UsageError(f"--batch must be N or MIN:OPT:MAX, got {text!r}") from None
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or min(values) < 1 or not values[0] <= values[1] <= values[2]:
        raise UsageError(f"--batch must be N or MIN:OPT:MAX with 1 <= MIN <= OPT <= MAX, got {text!r}")
    return BatchSpec(*values)


@dataclass(frozen=True)
class InputInfo:
    name: str
    shape: tuple  # ints for fixed dims, strings/None for dynamic ones


def graph_inputs(model: onnx.ModelProto) -> list[InputInfo]:
    inputs = []
    for value in fed_inputs(model):
        dims = []
        for d in value.type.tensor_type.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or None))
        inputs.append(InputInfo(value.name, tuple(dims)))
    return inputs


@dataclass(frozen=True)
class Profile:
    name: str
    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def shape_profiles(inputs: list[InputInfo], batch: BatchSpec) -> list[Profile]:
    """One optimization-profile entry per input. Only the batch (first) dimension may be dynamic."""
    profiles = []
    for info in inputs:
        rest = info.shape[1:]
        dynamic_rest = [i + 1 for i, d in enumerate(rest) if not isinstance(d, int) or d <= 0]
        if dynamic_rest:
            raise UsageError(f"input {info.name} has dynamic dimension(s) {dynamic_rest} besides the batch; "
                             "export with a fixed --input-size")
        first = info.shape[0] if info.shape else None
        if isinstance(first, int) and first > 0:
            if not batch.fixed or batch.opt != first:
                raise UsageError(f"input {info.name} has a fixed batch of {first}; export with --batch dynamic "
                                 f"to build for batch {batch.min}:{batch.opt}:{batch.max}")
        profiles.append(Profile(info.name, (batch.min, *rest), (batch.opt, *rest), (batch.max, *rest)))
    return profiles


@dataclass
class TrtCheck:
    unsupported_ops: dict[str, int] = field(default_factory=dict)
    custom_domain_ops: dict[str, int] = field(default_factory=dict)
    dynamic_inputs: list[str] = field(default_factory=list)
    qdq_errors: list[str] = field(default_factory=list)  # TensorRT rejects these
    qdq_warnings: list[str] = field(default_factory=list)  # TensorRT accepts, but runs them in float
    is_qdq: bool = False

    @property
    def ok(self) -> bool:
        return not (self.unsupported_ops or self.custom_domain_ops or self.qdq_errors)

    def lines(self) -> list[str]:
        out = []
        if self.unsupported_ops:
            out.append("ops the TensorRT ONNX parser does not support: "
                       + bounded_list(f"{k} x{v}" for k, v in sorted(self.unsupported_ops.items())))
        if self.custom_domain_ops:
            out.append("ops from non-standard domains (need a TensorRT plugin): "
                       + ", ".join(f"{k} x{v}" for k, v in sorted(self.custom_domain_ops.items())))
        if self.dynamic_inputs:
            out.append("dynamic dimensions that need an optimization profile (--batch MIN:OPT:MAX): "
                       + ", ".join(self.dynamic_inputs))
        out += [f"Q/DQ error: {line}" for line in self.qdq_errors]
        out += [f"Q/DQ note: {line}" for line in self.qdq_warnings]
        return out


def _initializer_arrays(model: onnx.ModelProto) -> dict:
    arrays = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    arrays[node.output[0]] = attr.t
    return arrays


def check_onnx(model: onnx.ModelProto) -> TrtCheck:
    check = TrtCheck()
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            key = f"{node.domain}:{node.op_type}"
            check.custom_domain_ops[key] = check.custom_domain_ops.get(key, 0) + 1
        elif node.op_type in TRT_UNSUPPORTED_OPS:
            check.unsupported_ops[node.op_type] = check.unsupported_ops.get(node.op_type, 0) + 1
    for info in graph_inputs(model):
        dynamic = [i for i, d in enumerate(info.shape) if not isinstance(d, int) or d <= 0]
        if dynamic:
            check.dynamic_inputs.append(f"{info.name} dims {dynamic}")
    _check_qdq(model, check)
    return check


def _check_qdq(model: onnx.ModelProto, check: TrtCheck) -> None:
    arrays = _initializer_arrays(model)
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    outputs = {o.name for o in model.graph.output}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    check.is_qdq = bool(qdq)
    uint8, nonzero, float_after = 0, 0, {}
    for node in qdq:
        if len(node.input) > 2 and node.input[2] in arrays:
            zero_point = arrays[node.input[2]]
            if zero_point.data_type == onnx.TensorProto.UINT8:
                uint8 += 1
            elif numpy_helper.to_array(zero_point).any():
                nonzero += 1
        if node.input[1] not in arrays:
            check.qdq_errors.append(f"{node.name or node.op_type}: scale is computed at run time; TensorRT needs a "
                                    "constant scale")
        if node.op_type == "QuantizeLinear":
            following = consumers.get(node.output[0], [])
            if not following and node.output[0] not in outputs:
                continue
            if any(c.op_type != "DequantizeLinear" for c in following):
                check.qdq_errors.append(f"{node.name}: QuantizeLinear output feeds "
                                        f"{', '.join(sorted({c.op_type for c in following}))} directly; TensorRT "
                                        "needs each Q followed by a DequantizeLinear")
        else:
            for consumer in consumers.get(node.output[0], []):
                if consumer.op_type not in TRT_INT8_OPS and consumer.op_type != "QuantizeLinear":
                    float_after[consumer.op_type] = float_after.get(consumer.op_type, 0) + 1
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            scale = arrays.get(node.input[1])
            if scale is not None and len(scale.dims) == 1 and scale.dims[0] > 1:
                weight_consumers = {c.op_type for c in consumers.get(node.output[0], [])}
                expected = 1 if weight_consumers == {"ConvTranspose"} else 0
                if axis != expected:
                    check.qdq_errors.append(f"{node.name}: per-channel weight scales on axis {axis}; TensorRT needs "
                                            f"axis {expected} for {', '.join(sorted(weight_consumers))}")
    if uint8:
        check.qdq_errors.append(f"{uint8} Q/DQ nodes use UINT8 (asymmetric) zero points; TensorRT takes only "
                                "symmetric INT8: quantize with --symmetric-activations")
    if nonzero:
        check.qdq_errors.append(f"{nonzero} Q/DQ nodes have non-zero zero points; TensorRT needs zero points of 0")
    if float_after:
        check.qdq_warnings.append("DequantizeLinear feeds ops TensorRT runs in float (no INT8 fusion): "
                                  + ", ".join(f"{k} x{v}" for k, v in sorted(float_after.items())))


def precision_flags(precision: str, check: TrtCheck, calibration_table: str | None = None) -> list[str]:
    """Builder flags (names of ``trt.BuilderFlag``) for a precision, refusing what cannot work."""
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        if check.is_qdq:
            raise UsageError("this is a QDQ (INT8) model; build it with --precision int8")
        return []
    if precision == "fp16":
        return ["FP16"]
    if check.is_qdq:
        if check.qdq_errors:
            raise UsageError("TensorRT cannot use this QDQ model: " + check.qdq_errors[0])
        if calibration_table:
            raise UsageError("a QDQ model carries its own scales; drop --calib-table")
        return ["INT8", "FP16"]  # explicit quantization; FP16 lets non-quantized layers run in half
    if not calibration_table:
        raise UsageError("INT8 needs a QDQ model (edgecnn quantize --symmetric-activations) or --calib-table "
                         "(written by edgecnn quantize --trt-table)")
    return ["INT8", "FP16"]


# ---------------------------------------------------------------- the build plan, per TensorRT major version
TRT_VERSIONS = (10, 11)
DEFAULT_TRT_MAJOR = 11  # what the registry installs on x86 today; Jetson (JetPack) stays on 10


@dataclass
class BuildPlan:
    """How a TensorRT engine is built from one ONNX file; everything here is decided without a GPU."""

    trt_major: int
    precision: str
    onnx_holds: str  # fp32 | fp16 | int8: the types of the parsed ONNX file
    network: str  # "strongly typed" (types come from the ONNX) or "weakly typed" (builder flags choose)
    creation_flags: list[str] = field(default_factory=list)  # trt.NetworkDefinitionCreationFlag names
    builder_flags: list[str] = field(default_factory=list)  # trt.BuilderFlag names
    calibration_table: str | None = None
    profiles: list[Profile] = field(default_factory=list)
    check: TrtCheck | None = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"TensorRT {self.trt_major}: {self.network} network, {self.precision} from an ONNX that holds "
               f"{self.onnx_holds}",
               f"network flags: {', '.join(self.creation_flags) or 'none'}; builder flags: "
               f"{', '.join(self.builder_flags) or 'none'}"
               + (f"; calibration table {self.calibration_table}" if self.calibration_table else "")]
        out += [f"profile {p.name}: min {p.min} opt {p.opt} max {p.max}" for p in self.profiles]
        if self.check is not None:
            out += self.check.lines()
        return out + [f"note: {n}" for n in self.notes]

    def to_dict(self) -> dict:
        return {"trt_major": self.trt_major, "precision": self.precision, "onnx_holds": self.onnx_holds,
                "network": self.network, "creation_flags": self.creation_flags, "builder_flags": self.builder_flags,
                "calibration_table": self.calibration_table,
                "profiles": [{"name": p.name, "min": p.min, "opt": p.opt, "max": p.max} for p in self.profiles]}


def onnx_holds(model: onnx.ModelProto) -> str:
    """fp32, fp16 or int8: what the graph computes in (metadata first, then its ops and weights)."""
    props = {p.key: p.value for p in model.metadata_props}
    if props.get("edgecnn.precision") in PRECISIONS:
        return props["edgecnn.precision"]
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        return "int8"
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer):
        return "fp16"
    return "fp32"


def build_plan(model: onnx.ModelProto, precision: str, trt_major: int = DEFAULT_TRT_MAJOR, *,
               calibration_table: str | None = None, batch: BatchSpec | None = None) -> BuildPlan:
    """The plan for building ``precision`` from ``model`` with TensorRT ``trt_major``; a request that cannot
    work is refused in one line saying what to build from instead.

    TensorRT 11 builds strongly typed networks only: there are no precision flags and no implicit INT8
    calibration, so FP16 comes from an FP16 ONNX (``edgecnn quantize --precision fp16``, FP32 inputs and
    outputs) and INT8 from a QDQ ONNX with symmetric scales. TensorRT 10 keeps the weakly typed path:
    an FP32 ONNX with the FP16 / INT8 builder flags, and INT8 from QDQ or from a calibration table.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if trt_major not in TRT_VERSIONS and trt_major < 10:
        raise UsageError(f"TensorRT {trt_major} is not supported; edgecnn plans builds for TensorRT 10 and 11")
    check = check_onnx(model)
    holds = onnx_holds(model)
    profiles = shape_profiles(graph_inputs(model), batch or BatchSpec(1, 1, 1))
    if trt_major >= 11:
        if calibration_table:
            raise UsageError("TensorRT 11 removed implicit INT8 calibration (calibration tables); build from a QDQ "
                             "ONNX instead: edgecnn quantize MODEL.onnx -o MODEL_int8.onnx --calib DIR "
                             "--symmetric-activations")
        if precision == "int8" and check.qdq_errors:
            raise UsageError("TensorRT cannot use this QDQ model: " + check.qdq_errors[0])
        if holds != precision:
            fix = {"fp16": "edgecnn quantize MODEL.onnx -o MODEL_fp16.onnx --precision fp16",
                   "int8": "edgecnn quantize MODEL.onnx -o MODEL_int8.onnx --calib DIR --symmetric-activations",
                   "fp32": "build from the FP32 export"}[precision]
            raise UsageError(f"TensorRT 11 builds strongly typed networks: the ONNX's own types decide the precision, "
                             f"and this one holds {holds}; for {precision} build from an ONNX that holds it ({fix})")
        return BuildPlan(trt_major, precision, holds, "strongly typed", [], [], None, profiles, check,
                         ["types come from the ONNX file (no precision flags in TensorRT 11)"])
    if holds == "fp16":
        raise UsageError("TensorRT 10's weakly typed path builds from the FP32 ONNX (the FP16 flag lowers it); "
                         "pass the FP32 model")
    flags = precision_flags(precision, check, calibration_table)
    notes = ["explicit quantization: scales from the Q/DQ nodes"] if holds == "int8" else []
    if calibration_table:
        notes.append("implicit INT8: scales from the calibration table (TensorRT 10 only)")
    return BuildPlan(trt_major, precision, holds, "weakly typed", [], flags, calibration_table, profiles, check,
                     notes)


def trt_source(precision: str, trt_major: int) -> str:
    """Which ONNX a TensorRT ``trt_major`` build of ``precision`` starts from: ``fp32``, ``fp16`` (the FP16 ONNX:
    TensorRT 11 is strongly typed) or ``int8_sym`` (Q/DQ with symmetric activation scales, what TensorRT reads)."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        return "int8_sym"
    return "fp16" if precision == "fp16" and trt_major >= 11 else "fp32"


def installed_trt_major() -> int | None:
    """The installed TensorRT's major version, read from package metadata (no import, no GPU needed)."""
    for package in ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_lean"):
        version = installed_version(package)
        if version:
            try:
                return int(version.split(".")[0])
            except ValueError:
                return None
    return None
