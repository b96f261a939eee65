"""What an engine declares: one :class:`Engine` (or a few) per engine module, collected by :mod:`.registry`.

An engine module (``torch_engine``, ``ort_engine``, ``openvino_engine``, ``ort_gpu``, ``trt_engine``) says
everything edgecnn needs to know about its engine here, as data and the functions it names:

* its name, the files it runs and the capabilities a request is checked against (precisions, devices,
  dynamic batch), the import that must succeed and how to install it;
* how each precision's artifact is made: ``sources`` maps a precision to the artifact kind that feeds it
  (an ONNX kind written by the export or a quantization, or :data:`CHECKPOINT`); a precision fed by the FP32
  ONNX is one the engine lowers itself (OpenVINO's fp16/bf16 hints); ``placement`` is how an INT8 model
  for it is quantized (``edgecnn quantize --for NAME``); ``build`` an artifact built on this machine
  from an ONNX (a TensorRT engine);
* its runner (``load``) and per-layer profiler (the runner's ``per_layer``), the libraries that decide
  its results (cache keys) and the one whose version is its runtime's, its options dataclass;
* its device side (:class:`DeviceSide`): what a bundle ships for it and which loader of
  ``edgecnn/bundle/infer.py`` runs it there.

This module imports nothing heavy and no engine: the vocabulary (precisions, file kinds) lives here too.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 ISA extensions with BF16 arithmetic
CHECKPOINT = "checkpoint"  # the source kind of an engine that runs the PyTorch checkpoint, not an ONNX
FLOAT_SOURCE = "fp32"  # the ONNX kind the export writes: a precision fed by it is lowered by the engine itself


def bf16_problem(cpu: dict) -> str | None:
    """Why ``cpu`` (a :func:`~edgecnn.core.device.cpu_info` block) cannot run BF16 fast, or None when it can.
    Without AVX512-BF16 or AMX-BF16 a bf16 request would be emulated or silently run in f32."""
    isa = set(cpu.get("isa", []))
    if isa & set(BF16_FLAGS) or (str(cpu.get("arch", "")).startswith("aarch64") and "bf16" in isa):
        return None
    shown = " ".join(cpu.get("isa", [])) or "none listed"
    return (f"bf16 needs a CPU with AVX512-BF16 or AMX-BF16 (ARM: the bf16 extension); this one ({cpu.get('model', '?')};"
            f" ISA {shown}) has neither: use fp32, fp16 on OpenVINO, or int8")


def fp16_arithmetic(cpu: dict) -> bool:
    """``cpu`` (a :func:`~edgecnn.core.device.cpu_info` block) computes in FP16 natively: ARMv8.2's asimdhp (a
    Raspberry Pi 5, phones). There an engine's own FP16 lowering (ncnn's options, OpenVINO's hint) is a real
    candidate; on x86 it is emulated or left in FP32, so not worth timing by default."""
    return str(cpu.get("arch", "")).startswith("aarch64") and "asimdhp" in cpu.get("isa", [])


MOBILE_KINDS = {".pte": "pte", ".tflite": "tflite", ".param": "ncnn"}  # the files of the runtimes phones and boards ship
SIDECAR_FORMATS = ("pte", "ncnn")  # no room for metadata in the file: MODEL.pte.json beside it (edgecnn.export.sidecar)
COMPANIONS = {"ncnn": (".bin",)}  # files that go with the artifact: ncnn's weights, MODEL.bin beside MODEL.param


def companion_files(artifact: str) -> list[str]:
    """The files that travel with ``artifact`` besides it and its sidecar (``m.param`` -> ``[m.bin]``)."""
    import os

    stem, _ = os.path.splitext(str(artifact))
    return [stem + suffix for suffix in COMPANIONS.get(artifact_kind(artifact), ())]


def artifact_size(artifact: str) -> int | None:
    """Bytes of ``artifact`` with its companions (an ncnn model is its .param and .bin); None when it is no file."""
    import os

    files = [str(artifact), *companion_files(artifact)]
    return sum(os.path.getsize(f) for f in files if os.path.isfile(f)) if os.path.isfile(str(artifact)) else None


def mobile_kind(precision: str, fmt: str) -> str:
    """The artifact kind of a ``fmt`` (tflite, pte, ncnn) file holding ``precision``: ``int8_tflite``; a recipe
    writes it as ``artifacts/model_int8.tflite`` (:func:`kind_file`)."""
    return f"{precision}_{fmt}"


def split_mobile_kind(kind: str) -> tuple[str, str] | None:
    """(precision, format) of a mobile artifact kind (``fp32_pte`` -> ``("fp32", "pte")``), else None."""
    precision, _, fmt = kind.partition("_")
    return (precision, fmt) if fmt in MOBILE_KINDS.values() and precision in PRECISIONS else None


def kind_file(kind: str) -> str:
    """The file name a recipe gives an artifact kind: ``model.pt`` (the checkpoint), ``model_int8.tflite`` (a mobile
    kind; ncnn's ``model_fp32.param``), ``model_KIND.onnx`` (an ONNX kind: fp32, fp16, int8, int8_openvino,
    int8_sym)."""
    if kind == CHECKPOINT:
        return "model.pt"
    mobile = split_mobile_kind(kind)
    if mobile is None:
        return f"model_{kind}.onnx"
    suffix = next(suffix for suffix, fmt in MOBILE_KINDS.items() if fmt == mobile[1])
    return f"model_{mobile[0]}{suffix}"


def artifact_kind(path: str) -> str:
    """The kind of file ``path`` names: onnx, engine (a serialized TensorRT plan), pte (ExecuTorch), tflite
    (LiteRT), ncnn (a ``.param``), checkpoint, or zoo (a name)."""
    lower = str(path).lower()
    if lower.endswith(".onnx"):
        return "onnx"
    for suffix, kind in MOBILE_KINDS.items():
        if lower.endswith(suffix):
            return kind
    if lower.endswith((".engine", ".plan", ".trt")):
        return "engine"
    if lower.endswith((".pt", ".pth", ".ckpt")):
        return "checkpoint"
    return "zoo"


@dataclass(frozen=True)
class LoadRequest:
    """What :func:`edgecnn.engines.load_runner` hands an engine's ``load`` (already validated)."""

    artifact: str
    threads: int | None = None
    precision: str | None = None  # as asked; None: what the artifact holds
    per_layer: bool = False  # the runner will be asked for per-layer times


@dataclass(frozen=True)
class Placement:
    """How an INT8 model made for this engine is quantized: ``edgecnn quantize --for NAME``."""

    quantizer: str  # "onnxruntime" (ONNX Runtime's quantize_static, edgecnn's ranges) or "nncf"
    kind: str  # the ONNX kind a recipe writes with it (artifacts/model_KIND.onnx)
    help: str  # in words, for --for's help
    symmetric_activations: bool = False  # forced on: the engine reads symmetric INT8 only
    budget: bool = True  # an accuracy budget (max_drop) can be met on this placement
    checked_on_itself: bool = False  # the INT8 file is also run by the engine itself (engine_agreement)
    libraries: tuple[str, ...] = ()  # besides the ONNX ones, the libraries that decide the file (cache keys)


@dataclass(frozen=True)
class Build:
    """An artifact built on this machine from an ONNX file (a recipe stage ``build-NAME-PRECISION``)."""

    source: Callable[[str], str]  # precision -> the ONNX kind it is built from (for what is installed here)
    outputs: Callable[[str], tuple[str, ...]]  # precision -> the files it writes (the artifact first)
    settings: Callable[[str, str], dict]  # (precision, batch spec MIN:OPT:MAX) -> what keys the stage
    make: Callable[..., dict]  # (source, output, precision, batch spec, log) -> what the stage records
    check: Callable[[], None]  # raises EngineUnavailable where it cannot build (before any input is read)


@dataclass(frozen=True)
class DeviceSide:
    """What a bundle made for this engine ships and how ``infer.py`` runs it on the device.

    ``loader`` names one of infer.py's loaders (its ``LOADERS``); the bundle records it as preprocess.json's
    ``engine``, and ``options`` as its ``runtime_options`` (which the loader applies). An engine whose artifact
    is built on the device (TensorRT) ships an ONNX and a plan: ``build`` gives a device target's build
    settings, ``plan`` the plan made from them, stored under ``plan_key``."""

    loader: str
    requirements: tuple[str, ...]  # requirements.txt
    runtime: str  # in words, for the README
    artifacts: tuple[str, ...] = ("onnx",)  # file kinds a bundle of it ships
    options: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""  # names its device stages (device-NAME-LABEL-PRECISION); "" -> device-NAME-PRECISION
    source: Callable[[str, Any], str] | None = None  # (precision, device target) -> ONNX kind; None: the engine's
    tag: Callable[[Any], str] | None = None  # device target -> what names its bundle (bundle-TAG-PRECISION)
    build: Callable[[str, Any, list], dict] | None = None  # (precision, target, batches) -> build settings
    plan: Callable[[Any, dict], dict] | None = None  # (ONNX path, build settings) -> the plan shipped
    plan_key: str | None = None  # preprocess.json's key for the plan
    notes: Callable[[dict], list[str]] | None = None  # preprocess.json -> README paragraphs
    imports: tuple[str, ...] = ()  # the runtime's Python modules on the device; () -> the loader's name
    without: str = ""  # the README's line on what the device does not need; "" -> no PyTorch and no edgecnn

    @property
    def modules(self) -> tuple[str, ...]:
        """What the device must import to run a bundle of it (besides numpy and PIL)."""
        return self.imports or (self.loader,)


@dataclass(frozen=True)
class Engine:
    """One engine, as its module declares it (see the module docstring)."""

    name: str
    title: str  # in words: "ONNX Runtime CPU"
    artifacts: tuple[str, ...]  # file kinds it runs: onnx, engine, checkpoint, zoo
    precisions: tuple[str, ...]
    devices: tuple[str, ...]
    load: Callable[[LoadRequest], Any]  # -> a Runner
    dynamic_batch: bool = True
    extra: str | None = None  # the pip extra that installs it; None when always present
    module: str = ""  # the import that must succeed
    distribution: str | None = None  # the pip package that must be installed, where the module does not say it
    install_hint: str | None = None  # how to install it, where ``pip install 'edgecnn[extra]'`` is not enough
    sources: Mapping[str, str] = field(default_factory=dict)  # precision -> the artifact kind that feeds it
    budget_sources: Mapping[str, str] = field(default_factory=dict)  # the same with an accuracy budget (max_drop)
    default_for: tuple[str, ...] = ()  # the file kinds it runs when no engine is named
    libraries: tuple[str, ...] = ()  # the libraries that decide its results (cache keys)
    runtime_library: str | None = None  # the package whose version is its runtime's (the report's table)
    profiler: str = ""  # its per-layer profiler (Runner.per_layer), in words
    delegation: Callable[[str], Any] | None = None  # artifact -> which operators its accelerated kernels took
    scenarios: tuple[str, ...] = ("single-stream",)  # + "offline" where its runner has offline_requests
    placement: Placement | None = None
    build: Build | None = None
    device: DeviceSide | None = None
    options: type | None = None  # its options dataclass
    colour: str = "#333333"  # in the report's plots

    @property
    def gpu(self) -> bool:
        """Runs on an NVIDIA GPU only: its results depend on the GPU, and its environment block names it."""
        return self.devices == ("cuda",)

    @property
    def install(self) -> str:
        if self.install_hint:
            return self.install_hint
        return f"pip install 'edgecnn[{self.extra}]'" if self.extra else "installed with edgecnn"

    def available(self) -> bool:
        """Its module (and distribution) are installed here: found, not imported, so this is cheap. Whether it
        runs (a GPU, a driver) its runner says when it starts."""
        try:
            found = importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False
        if found and self.distribution:
            try:
                importlib.metadata.version(self.distribution)
            except importlib.metadata.PackageNotFoundError:
                return False
        return found

    def source(self, precision: str, budget: bool = False) -> str:
        """The artifact kind that feeds ``precision``: an ONNX kind (fp32, fp16, int8, int8_openvino, int8_sym)
        or :data:`CHECKPOINT`; with an accuracy ``budget``, the one the budget is met on."""
        if self.build is not None:
            return self.build.source(precision)
        if budget and precision in self.budget_sources:
            return self.budget_sources[precision]
        return self.sources[precision]

    def lowers(self, precision: str) -> bool:
        """It runs ``precision`` from the FP32 file itself (OpenVINO's fp16/bf16 hints, ONNX Runtime's TensorRT
        provider's fp16 flag, ncnn's fp16 options): the one case where the file may hold another precision than the
        one asked for."""
        fp32 = self.sources.get(FLOAT_SOURCE, FLOAT_SOURCE)  # the file FP32 runs (a checkpoint runs as it is asked)
        return precision != FLOAT_SOURCE and fp32 != CHECKPOINT and self.sources.get(precision) in (FLOAT_SOURCE, fp32)

    @property
    def uses_export(self) -> bool:
        """It runs the exported ONNX (or what is made from it), not the PyTorch checkpoint."""
        return self.build is not None or any(kind != CHECKPOINT and split_mobile_kind(kind) is None
                                             for kind in self.sources.values())

    def device_source(self, precision: str, target: Any) -> str:
        """The ONNX kind a bundle of it ships for ``precision`` on a device ``target``."""
        side = self.device
        return side.source(precision, target) if side is not None and side.source else self.source(precision)
