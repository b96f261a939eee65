"""ONNX Runtime on the CPU: engine ``ort``, the default for ONNX files (and the reference the others are
checked against). Its bundles run on the device with ``infer.py``'s onnxruntime loader."""

from __future__ import annotations

import os

import numpy as np

from ..core.device import ort_node_times
from ..core.metadata import read_metadata
from ..core.onnx_io import load_onnx
from ..core.ort import make_session
from .base import ModelInfo, Runner, TensorSpec, info_from_metadata
from .spec import DeviceSide, Engine, LoadRequest, Placement
from .streams import drive_streams
from .third_party import default_info

# what a bundle's requirements.txt names for ONNX Runtime on the device
ONNX_REQUIREMENTS = ["numpy>=1.24", "pillow>=10", "onnxruntime>=1.18"]


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


def model_info_from_onnx(path: str | os.PathLike, overrides: dict | None = None) -> ModelInfo:
    """The model's own metadata, or, for a third-party file, stated defaults (see third_party)."""

    meta = read_metadata(path)
    if meta is None or overrides:
        return default_info(path, overrides or {}, meta)
    return info_from_metadata(meta)


class OrtRunner(Runner):
    engine = "ort"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None,
                 info: ModelInfo | None = None, spinning: bool = True, optimization: str | None = None):
        super().__init__(info or model_info_from_onnx(path))
        self.path = str(path)
        self.threads = threads
        self.providers = providers or ["CPUExecutionProvider"]
        self.spinning = spinning
        self.optimization = optimization  # a GraphOptimizationLevel name; None: ONNX Runtime's default (all)
        self.session = None
        self.profile_prefix: str | None = None  # set to collect ONNX Runtime's per-node profile

    def activate(self) -> "OrtRunner":
        self.session = make_session(self.path, self.threads, self.providers, self.spinning, self.profile_prefix,
                                    self.optimization)
        self._input_names = [i.name for i in self.session.get_inputs()]
        self._output_names = [o.name for o in self.session.get_outputs()]
        return super().activate()

    def deactivate(self) -> None:
        self.session = None
        super().deactivate()

    def _require(self):
        if self.session is None:
            self.activate()
        return self.session

    @property
    def input_specs(self) -> list[TensorSpec]:
        return [TensorSpec(i.name, tuple(i.shape)) for i in self._require().get_inputs()]

    @property
    def output_names(self) -> list[str]:
        self._require()
        return list(self._output_names)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = (self.session or self._require()).run(None, feed)
        return dict(zip(self._output_names, outputs))

    def offline_requests(self, feed: dict[str, np.ndarray], streams: int | None, seconds: float,
                         warmup_s: float) -> tuple[list[tuple[float, float, int]], int]:
        """The offline scenario: ``streams`` sessions (default: one per core), the intra-op threads split between
        them (``--threads`` in all, default every core), each driven by its own Python thread (ONNX Runtime lets go
        of the GIL while it runs), spinning off so that idle streams do not steal the busy ones' cores. Every
        request started before the time is up runs to its end; ``(start, end, stream)`` of each, and the streams."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        total = self.threads or cores
        streams = streams or max(1, min(total, cores))
        each = max(1, total // streams)
        sessions = [make_session(self.path, each, self.providers, False, None, self.optimization)
                    for _ in range(streams)]
        calls = [lambda session=session: session.run(None, feed) for session in sessions]
        return drive_streams(calls, seconds, warmup_s), streams

    def end_profiling(self) -> str | None:
        """Stop ORT's profiler; the path of its JSON trace."""
        return self.session.end_profiling() if self.session is not None and self.profile_prefix else None

    def per_layer(self, feed: dict[str, np.ndarray], runs: int = 20) -> list[dict]:
        """ONNX Runtime's profiler, in a second session so that the timed one stays unprofiled."""
        import json
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory(prefix="edgecnn-ortprof-") as tmp:
            profiled = OrtRunner(self.path, threads=self.threads, providers=self.providers, info=self.info,
                                 spinning=self.spinning, optimization=self.optimization)
            profiled.profile_prefix = str(Path(tmp) / "ort")
            with profiled:
                for _ in range(runs):
                    profiled.infer(feed)
                events = json.loads(Path(profiled.end_profiling()).read_text())
        return ort_node_times(events)  # the code infer.py --per-layer runs on the device


def load(request: LoadRequest) -> OrtRunner:
    return OrtRunner(request.artifact, threads=request.threads, info=model_info_from_onnx(request.artifact))


ENGINE = Engine(
    name="ort", title="ONNX Runtime CPU", artifacts=("onnx",), precisions=("fp32", "fp16", "int8"),
    devices=("cpu", "cuda"), load=load, module="onnxruntime",
    sources={"fp32": "fp32", "fp16": "fp16", "int8": "int8"}, default_for=("onnx",),
    libraries=("onnxruntime", "onnxruntime-gpu", "numpy", "pillow"), runtime_library="onnxruntime",
    profiler="ONNX Runtime's profiler",
    placement=Placement(quantizer="onnxruntime", kind="int8",
                        help="ONNX Runtime's quantizer, UINT8 activations, speed-aware exclusions"),
    device=DeviceSide(loader="onnxruntime", requirements=tuple(ONNX_REQUIREMENTS), runtime="ONNX Runtime (CPU)"),
    scenarios=("single-stream", "offline"),
    colour="#1f77b4",
)
ENGINES = (ENGINE,)
