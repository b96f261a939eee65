"""Engines behind one Runner interface: ``load_runner(artifact, engine) -> Runner``."""

from __future__ import annotations

import os
from pathlib import Path

from ..core.metadata import ModelMetadata, read_metadata
from ..core.onnx_io import check_onnx_file, load_onnx
from ..errors import UsageError
from .base import ModelInfo, Runner, TensorSpec
from .capabilities import ENGINES, artifact_kind, validate_request
from .openvino_engine import OpenVinoRunner
from .ort_gpu import GPU_PROVIDERS, OrtGpuRunner
from .ort_engine import OrtRunner, model_info_from_onnx
from .trt_engine import TrtRunner, require_tensorrt

__all__ = ["ENGINES", "ModelInfo", "Runner", "TensorSpec", "artifact_precision", "load_runner"]


def artifact_precision(path: str | os.PathLike) -> str:
    """fp32, fp16 or int8: what an ONNX file holds (from its metadata, else from its ops)."""
    import onnx

    model = load_onnx(path, external_data=False)
    meta = read_metadata(model)
    if meta is not None and meta.extra.get("precision"):
        return meta.extra["precision"]
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear", "QLinearConv") for n in model.graph.node):
        return "int8"
    if any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer):
        return "fp16"
    return "fp32"


def default_engine(artifact: str) -> str:
    return {"onnx": "ort", "engine": "trt"}.get(artifact_kind(artifact), "torch")


def load_runner(artifact: str | os.PathLike, engine: str | None = None, threads: int | None = None,
                precision: str | None = None, per_layer: bool = False) -> Runner:
    """``.onnx`` -> ONNX Runtime (or OpenVINO), ``.engine`` -> TensorRT, checkpoint or zoo name -> PyTorch."""
    artifact = str(artifact)
    engine = engine or default_engine(artifact)
    validate_request(engine, precision, artifact)
    kind = artifact_kind(artifact)
    if kind in ("onnx", "engine", "checkpoint") and not Path(artifact).exists():
        raise UsageError(f"{artifact} does not exist")
    if kind == "onnx":
        check_onnx_file(artifact)  # one line for a truncated or foreign file, before any runtime parses it
    if kind == "onnx" and precision is not None:
        held = artifact_precision(artifact)
        lowered_by_engine = held == "fp32" and ((engine == "openvino" and precision in ("fp16", "bf16")) or
                                                (engine == "ort-trt" and precision == "fp16"))
        if held != precision and not lowered_by_engine:
            raise UsageError(f"{artifact} holds a {held} model; make a {precision} one with 'edgecnn quantize' "
                             f"(edgecnn never changes the precision you asked for silently)")
    if engine == "torch":
        from ..zoo import create_model
        from .torch_engine import TorchRunner

        return TorchRunner(create_model(artifact), threads=threads, precision=precision or "fp32")
    if engine == "ort":
        return OrtRunner(artifact, threads=threads, info=model_info_from_onnx(artifact))
    if engine in GPU_PROVIDERS:
        return OrtGpuRunner(artifact, engine, precision or artifact_precision(artifact),
                            info=model_info_from_onnx(artifact))
    if engine == "openvino":
        return OpenVinoRunner(artifact, model_info_from_onnx(artifact), threads=threads,
                              precision=precision or "fp32", per_layer=per_layer)

    require_tensorrt()
    if kind != "engine":
        raise UsageError(f"the trt engine runs built engines: run 'edgecnn build {artifact} -o MODEL.engine' first")
    import json

    sidecar = json.loads(Path(artifact + ".json").read_text()) if Path(artifact + ".json").exists() else {}
    meta = ModelMetadata.from_props(sidecar.get("metadata", {}))
    info = ModelInfo(meta.architecture, meta.task, meta.labels, meta.preprocess, tuple(meta.input_shape[1:]))
    return TrtRunner(artifact, info)
