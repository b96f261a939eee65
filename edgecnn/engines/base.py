"""One Runner interface for every engine.

``runner = load_runner(artifact)`` then, as a context manager or after
``activate()``: ``runner.infer({name: array}) -> {name: array}``. Latency,
accuracy and memory code is written once against this interface; engines
differ only in their module (see :mod:`.registry`).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from ..core.preprocess import PreprocessSpec
from ..envinfo import cpu_info
from ..errors import EngineUnavailable
from .spec import bf16_problem


def require_bf16() -> None:
    """Refuse bf16 in one line on a CPU without BF16 arithmetic (it would be emulated, or quietly run in f32)."""
    problem = bf16_problem(cpu_info())
    if problem:
        raise EngineUnavailable(problem)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple  # ints, or strings / None for dynamic dimensions
    dtype: str = "float32"


@dataclass
class ModelInfo:
    """What a runner's model expects and means, from ONNX metadata or a checkpoint."""

    architecture: str
    task: str
    labels: list[str]
    preprocess: PreprocessSpec
    input_size: tuple[int, int, int]
    extra: dict = field(default_factory=dict)


def info_from_metadata(meta) -> ModelInfo:
    """A runner's ModelInfo from an exported file's :class:`~edgecnn.core.metadata.ModelMetadata`."""
    return ModelInfo(architecture=meta.architecture, task=meta.task, labels=meta.labels, preprocess=meta.preprocess,
                     input_size=tuple(meta.input_shape[1:]), extra={"metadata": meta})


class MetadataIO:
    """``input_specs`` and ``output_names`` from the file's own metadata (``self.meta``): for the formats whose
    runtimes do not name tensors the way ONNX does (``.pte``, ``.tflite``); the batch is the file's fixed one."""

    meta = None

    @property
    def input_specs(self) -> list[TensorSpec]:
        return [TensorSpec(name, tuple(self.meta.input_shape)) for name in self.meta.input_names]

    @property
    def output_names(self) -> list[str]:
        return list(self.meta.output_names)


class Runner(abc.ABC):
    engine: str = "?"

    def __init__(self, info: ModelInfo):
        self.info = info
        self.active = False

    @property
    @abc.abstractmethod
    def input_specs(self) -> list[TensorSpec]: ...

    @property
    @abc.abstractmethod
    def output_names(self) -> list[str]: ...

    def activate(self) -> "Runner":
        self.active = True
        return self

    def deactivate(self) -> None:
        self.active = False

    def __enter__(self) -> "Runner":
        return self.activate()

    def __exit__(self, *exc) -> None:
        self.deactivate()

    @abc.abstractmethod
    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def per_layer(self, feed: dict[str, np.ndarray], runs: int = 20) -> list[dict] | None:
        """Time per node over ``runs`` inferences with the engine's own profiler: rows of
        {name, op, total_us, calls}; None when the engine has none."""
        return None

    def infer_array(self, batch: np.ndarray) -> np.ndarray:
        """First output; every input sees ``batch`` (a Siamese net's first output is then each image's embedding)."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self.infer({spec.name: batch for spec in self.input_specs})[self.output_names[0]]
