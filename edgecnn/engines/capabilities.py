"""What each engine can do, as data. Requests are validated against it before any work starts."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class EngineCapability:
    name: str
    artifacts: tuple[str, ...]  # file kinds it runs: "onnx", "engine", "checkpoint", "zoo"
    precisions: tuple[str, ...]
    devices: tuple[str, ...]
    dynamic_batch: bool
    extra: str | None  # pip extra that installs it, None when always present
    module: str  # import that must succeed


PRECISIONS = ("fp32", "fp16", "int8")

ENGINES: dict[str, EngineCapability] = {
    "torch": EngineCapability("torch", ("zoo", "checkpoint"), ("fp32",), ("cpu", "cuda"), True, None, "torch"),
    "ort": EngineCapability("ort", ("onnx",), ("fp32", "fp16", "int8"), ("cpu", "cuda"), True, None, "onnxruntime"),
    "openvino": EngineCapability("openvino", ("onnx",), ("fp32", "fp16", "int8"), ("cpu",), True, "openvino",
                                 "openvino"),
    "ort-cuda": EngineCapability("ort-cuda", ("onnx",), ("fp32", "fp16", "int8"), ("cuda",), True, "ort-gpu",
                                 "onnxruntime"),
    "ort-trt": EngineCapability("ort-trt", ("onnx",), ("fp32", "fp16", "int8"), ("cuda",), True, "ort-gpu",
                                "onnxruntime"),
    "trt": EngineCapability("trt", ("onnx", "engine"), ("fp32", "fp16", "int8"), ("cuda",), True, "tensorrt",
                            "tensorrt"),
}


GPU_ENGINES = tuple(name for name, capability in ENGINES.items() if capability.devices == ("cuda",))


def artifact_kind(path: str) -> str:
    lower = str(path).lower()
    if lower.endswith(".onnx"):
        return "onnx"
    if lower.endswith((".engine", ".plan", ".trt")):
        return "engine"
    if lower.endswith((".pt", ".pth", ".ckpt")):
        return "checkpoint"
    return "zoo"


def validate_request(engine: str, precision: str | None = None, artifact: str | None = None) -> EngineCapability:
    """Refuse what an engine cannot do, in one line, before any work starts."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    capability = ENGINES[engine]
    if precision is not None and precision not in capability.precisions:
        raise UsageError(f"engine {engine} cannot run precision {precision}; it supports "
                         f"{', '.join(capability.precisions)}")
    if artifact is not None:
        kind = artifact_kind(artifact)
        if kind not in capability.artifacts:
            raise UsageError(f"engine {engine} cannot run a {kind} artifact ({artifact}); it takes "
                             f"{', '.join(capability.artifacts)}")
    return capability
