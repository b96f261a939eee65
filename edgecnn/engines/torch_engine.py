"""PyTorch eager: engine ``torch``, the baseline users start from (a zoo name or an edgecnn checkpoint).

PyTorch is imported when a model is loaded, not with this module: the registry imports every engine module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..tasks.registry import get_task
from .base import ModelInfo, Runner, TensorSpec, require_bf16
from .spec import CHECKPOINT, Engine, LoadRequest

if TYPE_CHECKING:
    from ..zoo import LoadedModel


class TorchRunner(Runner):
    engine = "torch"

    def __init__(self, loaded: LoadedModel, threads: int | None = None, precision: str = "fp32"):
        super().__init__(ModelInfo(architecture=loaded.spec.name, task=loaded.spec.task, labels=loaded.labels,
                                   preprocess=loaded.preprocess, input_size=loaded.input_size))
        self.loaded = loaded
        self.model = loaded.model.eval()
        self.threads = threads
        self.precision = precision
        self._inputs, self._outputs = get_task(loaded.spec.task).io()  # the names its ONNX export has
        checkpoint = loaded.weights.checkpoint if loaded.weights else {}
        if "threshold" in (checkpoint or {}):  # a Siamese net's, chosen on validation pairs in training, as the ONNX
            self.info.extra["threshold"] = float(checkpoint["threshold"])  # carries it

    @property
    def input_specs(self) -> list[TensorSpec]:
        return [TensorSpec(n, ("batch", *self.loaded.input_size)) for n in self._inputs]

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def activate(self) -> "TorchRunner":
        if self.precision == "bf16":
            require_bf16()
            self.info.extra["executed_precision"] = "bf16 (autocast)"
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        return super().activate()

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.model(*[torch.from_numpy(np.asarray(feed[n], dtype=np.float32)) for n in self._inputs])
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return {n: o.float().numpy() for n, o in zip(self._outputs, outs)}

    def per_layer(self, feed: dict[str, np.ndarray], runs: int = 20) -> list[dict]:
        import torch

        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                self.infer(feed)
        return [{"name": e.key, "op": e.key, "total_us": e.self_cpu_time_total, "calls": e.count}
                for e in prof.key_averages() if e.self_cpu_time_total > 0]


def load(request: LoadRequest) -> TorchRunner:
    from ..zoo import create_model

    return TorchRunner(create_model(request.artifact), threads=request.threads, precision=request.precision or "fp32")


ENGINE = Engine(
    name="torch", title="PyTorch eager", artifacts=("zoo", "checkpoint"), precisions=("fp32", "bf16"),
    devices=("cpu", "cuda"), load=load, module="torch", sources={"fp32": CHECKPOINT, "bf16": CHECKPOINT},
    default_for=("zoo", "checkpoint"), libraries=("torch", "torchvision", "timm", "numpy", "pillow"),
    runtime_library="torch", profiler="torch.profiler", colour="#7f7f7f",
)
ENGINES = (ENGINE,)
