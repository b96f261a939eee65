"""ExecuTorch on the CPU (XNNPACK): engine ``executorch``, for the ``.pte`` files ``edgecnn export --format pte``
writes (``edgecnn quantize MODEL --for executorch`` for INT8).

The runtime is ExecuTorch's Python one (``executorch.runtime``; inputs and outputs are torch tensors, so it needs
torch on the device too). Its thread pool is process-wide and XNNPACK uses it: ``threads`` resets it. Per-layer
times come from ExecuTorch's event tracer (ETDump), read back with ``executorch.devtools.Inspector``: one row per
XNNPACK operator (``"Convolution (NHWC, F32) IGEMM #3"``), in a second program loaded with the tracer on, so the
timed one runs without it. The metadata and delegation report are the sidecar's (``MODEL.pte.json``).
"""

from __future__ import annotations

import os
import warnings

import numpy as np

from ..core.device.layers import etdump_rows
from ..errors import UsageError
from ..export.sidecar import read_sidecar
from .base import MetadataIO, Runner, info_from_metadata
from .spec import DeviceSide, Engine, LoadRequest, Placement

ETDUMP_BUFFER = 1 << 24  # bytes of debug buffer the traced program gets


class ExecuTorchRunner(MetadataIO, Runner):
    engine = "executorch"

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        meta, self.delegation = read_sidecar(path)
        if meta is None:
            raise UsageError(f"{path} has no edgecnn sidecar ({os.fspath(path)}.json): export it with "
                             "'edgecnn export MODEL --format pte', or keep the .json beside the .pte")
        super().__init__(info_from_metadata(meta))
        self.meta, self.path, self.threads = meta, str(path), threads
        self.info.extra["precision"] = meta.extra.get("precision", "fp32")
        self.program = self.method = None

    def activate(self) -> "ExecuTorchRunner":
        from ..export.pte import require_executorch, set_threads

        require_executorch()
        from executorch.runtime import Runtime

        set_threads(self.threads)
        self.program = Runtime.get().load_program(self.path)
        self.method = self.program.load_method("forward")
        return super().activate()

    def deactivate(self) -> None:
        self.program = self.method = None
        super().deactivate()

    def _tensors(self, feed: dict[str, np.ndarray]):
        import torch

        return [torch.from_numpy(np.ascontiguousarray(feed[name], dtype=np.float32)) for name in self.meta.input_names]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self.method is None:
            self.activate()
        outs = self.method.execute(self._tensors(feed))
        return {name: out.numpy() for name, out in zip(self.meta.output_names, outs)}

    def per_layer(self, feed: dict[str, np.ndarray], runs: int = 20) -> list[dict]:
        """ETDump events of ``runs`` inferences of a traced copy of the program, per XNNPACK operator."""
        import tempfile
        from pathlib import Path

        from executorch.devtools import Inspector
        from executorch.runtime import Runtime

        program = Runtime.get().load_program(self.path, enable_etdump=True, debug_buffer_size=ETDUMP_BUFFER)
        method = program.load_method("forward")
        tensors = self._tensors(feed)
        for _ in range(runs):
            method.execute(tensors)
        with tempfile.TemporaryDirectory(prefix="edgecnn-etdump-") as tmp:
            etdump, debug = str(Path(tmp) / "run.etdp"), str(Path(tmp) / "run.bin")
            program.write_etdump_result_to_file(etdump, debug)
            with warnings.catch_warnings():  # "Output Buffer not found": no tensor debug data asked for, none needed
                warnings.simplefilter("ignore")
                frame = Inspector(etdump_path=etdump).to_dataframe()
        return etdump_rows(frame)  # the code infer.py --per-layer runs on the device too


def load(request: LoadRequest) -> ExecuTorchRunner:
    return ExecuTorchRunner(request.artifact, threads=request.threads)


def delegation(artifact: str):
    """The delegation report written at export (the sidecar's)."""
    _, report = read_sidecar(artifact)
    if report is None:
        raise UsageError(f"{artifact}: no delegation report beside it ({artifact}.json); ExecuTorch tells it only "
                         "at export: re-export with 'edgecnn export MODEL --format pte'")
    return report


ENGINE = Engine(
    name="executorch", title="ExecuTorch (XNNPACK)", artifacts=("pte",), precisions=("fp32", "int8"),
    devices=("cpu",), load=load, dynamic_batch=False, extra="executorch", module="executorch",
    distribution="executorch", default_for=("pte",), libraries=("executorch", "torchao", "torch", "numpy"),
    runtime_library="executorch", profiler="ExecuTorch ETDump (per XNNPACK operator)", delegation=delegation,
    sources={"fp32": "fp32_pte", "int8": "int8_pte"},  # made from the checkpoint (a recipe: artifacts/model_P.pte)
    placement=Placement(quantizer="pt2e", kind="int8_pte",
                        help="PT2E on the PyTorch model (a zoo name or checkpoint), ExecuTorch's XNNPACKQuantizer: .pte"),
    device=DeviceSide(loader="executorch_runtime",
                      requirements=("numpy>=1.24", "pillow>=10", "executorch>=1.5,<1.6"),
                      runtime="ExecuTorch (executorch.runtime, XNNPACK)", artifacts=("pte",),
                      imports=("executorch", "torch"),
                      without="ExecuTorch's Python runtime takes torch tensors, so PyTorch comes with it (an app runs "
                              "the .pte with ExecuTorch's C++ runtime instead); no edgecnn on the device."),
    colour="#8c564b",
)
ENGINES = (ENGINE,)
