"""ncnn on the CPU: engine ``ncnn``, for the ``MODEL.param`` + ``MODEL.bin`` files ``edgecnn export --format ncnn``
writes (pnnx's conversion; the metadata in the sidecar ``MODEL.param.json``).

The runtime is ncnn's Python package (``ncnn.Net``, Vulkan off). ``threads`` is the net's ``num_threads``; without it
every core is used. Precisions are ncnn's options on the one FP32 file (:data:`edgecnn.export.ncnn.PRECISION_OPTIONS`):
fp32 switches off the fp16/bf16 storage and arithmetic ncnn turns on by default; fp16 switches them on, which
changes the arithmetic where the CPU has fp16 (ARMv8.2 asimdhp: a Raspberry Pi 5, phones); on x86 ncnn keeps FP32
arithmetic. INT8 is not offered: ncnn's INT8 files come from its C++ tools (ncnn2table, ncnn2int8), which no wheel
ships. Per-layer times: the Python package is built without ``NCNN_BENCHMARK``, so profile ``--per-layer`` says so.
ncnn has no delegate: every layer runs on ncnn's own kernels, so there is no delegation report.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import UsageError
from ..export import ncnn
from ..export.sidecar import read_sidecar
from .base import MetadataIO, Runner, info_from_metadata
from .spec import DeviceSide, Engine, LoadRequest


class NcnnRunner(MetadataIO, Runner):
    engine = "ncnn"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, precision: str | None = None):
        ncnn.require_ncnn()
        meta, _ = read_sidecar(path)
        if meta is None:
            raise UsageError(f"{path} has no edgecnn sidecar ({os.fspath(path)}.json): export it with "
                             "'edgecnn export MODEL --format ncnn', or keep the .json beside the .param")
        if not ncnn.weights_path(path).is_file():
            raise UsageError(f"{path}: its weights {ncnn.weights_path(path).name} are not beside it")
        super().__init__(info_from_metadata(meta))
        self.meta, self.path, self.threads = meta, str(path), threads
        self.precision = precision or meta.extra.get("precision", "fp32")
        self.info.extra["precision"] = self.precision
        self.session = None

    def activate(self) -> "NcnnRunner":
        self.session = ncnn.Session(self.path, self.precision, self.threads, meta=self.meta)
        if len(self.session.inputs) != len(self.meta.input_names):
            raise UsageError(f"{self.path} has inputs {self.session.inputs}; its sidecar names "
                             f"{self.meta.input_names}")
        return super().activate()

    def deactivate(self) -> None:
        self.session = None
        super().deactivate()

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.session is None:
            self.activate()
        outs = self.session.run([feed[name] for name in self.meta.input_names])
        return dict(zip(self.meta.output_names, outs))


def load(request: LoadRequest) -> NcnnRunner:
    return NcnnRunner(request.artifact, threads=request.threads, precision=request.precision)


ENGINE = Engine(
    name="ncnn", title="ncnn (CPU)", artifacts=("ncnn",), precisions=("fp32", "fp16"), devices=("cpu",),
    load=load, dynamic_batch=False, extra="ncnn", module="ncnn", distribution="ncnn", default_for=("ncnn",),
    libraries=("ncnn", "pnnx", "torch", "numpy"), runtime_library="ncnn",
    profiler="none: ncnn's Python package is built without NCNN_BENCHMARK (its per-layer timer)",
    # from the checkpoint (a recipe: artifacts/model_fp32.param); fp16 is ncnn's options on the same file
    sources={"fp32": "fp32_ncnn", "fp16": "fp32_ncnn"},
    device=DeviceSide(loader="ncnn_net", requirements=("numpy>=1.24", "pillow>=10", "ncnn>=1.0.20261020"),
                      runtime="ncnn (CPU)", artifacts=("ncnn",), imports=("ncnn",)),
    colour="#17becf",
)
ENGINES = (ENGINE,)
