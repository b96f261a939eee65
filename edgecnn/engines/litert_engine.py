"""LiteRT (formerly TensorFlow Lite) on the CPU: engine ``litert``, for the ``.tflite`` files ``edgecnn export
--format tflite`` writes (``edgecnn quantize MODEL --for litert`` for INT8).

The runtime is ``ai-edge-litert``'s interpreter with its default XNNPACK delegate (no TensorFlow, no torch).
``threads`` is the interpreter's ``num_threads``; without it every core is used (LiteRT's own default is one
thread, which would make it look slow beside engines that take every core). Per-layer times: LiteRT's Python
API exposes no op profiler (only the C++ ``benchmark_model --enable_op_profiling`` has one), so profile
``--per-layer`` says so instead of inventing rows. The metadata is the file's own (a flatbuffer metadata entry).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import UsageError
from ..export import tflite
from .base import MetadataIO, Runner, info_from_metadata
from .spec import DeviceSide, Engine, LoadRequest, Placement

class LiteRtRunner(MetadataIO, Runner):
    engine = "litert"

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        tflite.require_litert()
        meta = tflite.read_tflite_metadata(path)
        if meta is None:
            raise UsageError(f"{path} has no edgecnn metadata: export it with 'edgecnn export MODEL --format tflite'")
        super().__init__(info_from_metadata(meta))
        self.meta, self.path, self.threads = meta, str(path), threads
        self.info.extra["precision"] = meta.extra.get("precision", "fp32")
        self.interpreter = None

    def activate(self) -> "LiteRtRunner":
        self.interpreter = tflite.interpreter(self.path, self.threads)
        self._inputs = self.interpreter.get_input_details()
        self._outputs = self.interpreter.get_output_details()
        return super().activate()

    def deactivate(self) -> None:
        self.interpreter = None
        super().deactivate()

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float in, float out: an INT8 model's integer inputs are quantized with their own scale (as an app feeding
        it does) and its outputs dequantized, inside the timed call."""
        if self.interpreter is None:
            self.activate()
        for detail, name in zip(self._inputs, self.meta.input_names):
            self.interpreter.set_tensor(detail["index"], tflite.to_tensor(feed[name], detail))
        self.interpreter.invoke()
        return {name: tflite.from_tensor(self.interpreter.get_tensor(d["index"]), d)
                for name, d in zip(self.meta.output_names, self._outputs)}



def load(request: LoadRequest) -> LiteRtRunner:
    return LiteRtRunner(request.artifact, threads=request.threads)


def delegation(artifact: str):
    tflite.require_litert()
    return tflite.delegation_of(artifact)


ENGINE = Engine(
    name="litert", title="LiteRT (XNNPACK)", artifacts=("tflite",), precisions=("fp32", "fp16", "int8"), devices=("cpu",),
    load=load, dynamic_batch=False, extra="litert", module="ai_edge_litert", distribution="ai-edge-litert",
    default_for=("tflite",), libraries=("ai-edge-litert", "litert-torch", "torch", "numpy"),
    runtime_library="ai-edge-litert", delegation=delegation,
    profiler="none: LiteRT's Python interpreter exposes no op profiler (C++ benchmark_model --enable_op_profiling has)",
    # from the checkpoint (recipes: artifacts/model_P.tflite); fp16: float16 weights of the FP32 file
    sources={"fp32": "fp32_tflite", "fp16": "fp16_tflite", "int8": "int8_tflite"},
    placement=Placement(quantizer="pt2e", kind="int8_tflite",
                        help="PT2E on the PyTorch model (a zoo name or checkpoint), litert-torch's quantizer: .tflite"),
    device=DeviceSide(loader="ai_edge_litert", requirements=("numpy>=1.24", "pillow>=10", "ai-edge-litert>=2.3,<2.4"),
                      runtime="LiteRT (ai-edge-litert, XNNPACK)", artifacts=("tflite",), ),
    colour="#e377c2",
)
ENGINES = (ENGINE,)
