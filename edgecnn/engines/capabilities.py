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


PRECISIONS = ("fp32", "fp16", "bf16", "int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 ISA extensions with BF16 arithmetic

ENGINES: dict[str, EngineCapability] = {
    "torch": EngineCapability("torch", ("zoo", "checkpoint"), ("fp32", "bf16"), ("cpu", "cuda"), True, None, "torch"),
    "ort": EngineCapability("ort", ("onnx",), ("fp32", "fp16", "int8"), ("cpu", "cuda"), True, None, "onnxruntime"),
    "openvino": EngineCapability("openvino", ("onnx",), ("fp32", "fp16", "bf16", "int8"), ("cpu",), True, "openvino",
                                 "openvino"),
    "ort-cuda": EngineCapability("ort-cuda", ("onnx",), ("fp32", "fp16", "int8"), ("cuda",), True, "ort-gpu",
                                 "onnxruntime"),
    "ort-trt": EngineCapability("ort-trt", ("onnx",), ("fp32", "fp16", "int8"), ("cuda",), True, "ort-gpu",
                                "onnxruntime"),
    "trt": EngineCapability("trt", ("onnx", "engine"), ("fp32", "fp16", "int8"), ("cuda",), True, "tensorrt",
                            "tensorrt"),
}


GPU_ENGINES = tuple(name for name, capability in ENGINES.items() if capability.devices == ("cuda",))


def bf16_problem(cpu: dict) -> str | None:
    """Why ``cpu`` (a :func:`~edgecnn.core.device.cpu_info` block) cannot run BF16 fast, or None when it can.
    Without AVX512-BF16 or AMX-BF16 a bf16 request would be emulated or silently run in f32."""
    isa = set(cpu.get("isa", []))
    if isa & set(BF16_FLAGS) or (str(cpu.get("arch", "")).startswith("aarch64") and "bf16" in isa):
        return None
    shown = " ".join(cpu.get("isa", [])) or "none listed"
    return (f"bf16 needs a CPU with AVX512-BF16 or AMX-BF16 (ARM: the bf16 extension); this one ({cpu.get('model', '?')};"
            f" ISA {shown}) has neither: use fp32, fp16 on OpenVINO, or int8")


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
