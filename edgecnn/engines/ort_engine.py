"""ONNX Runtime: the CPU provider (and CUDA's when present and asked for)."""

from __future__ import annotations

import os

import numpy as np

from ..errors import UsageError
from .base import ModelInfo, Runner, TensorSpec


def model_info_from_onnx(path: str | os.PathLike) -> ModelInfo:
    from ..export.metadata import read_metadata

    meta = read_metadata(path)
    if meta is None:
        raise UsageError(f"{path} has no edgecnn metadata (architecture, preprocessing, labels); "
                         "export it with 'edgecnn export'")
    return ModelInfo(architecture=meta.architecture, task=meta.task, labels=meta.labels,
                     preprocess=meta.preprocess, input_size=tuple(meta.input_shape[1:]),
                     extra={"metadata": meta})


class OrtRunner(Runner):
    engine = "ort"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None,
                 info: ModelInfo | None = None, spinning: bool = False):
        super().__init__(info or model_info_from_onnx(path))
        self.path = str(path)
        self.threads = threads
        self.providers = providers or ["CPUExecutionProvider"]
        self.spinning = spinning
        self.session = None

    def activate(self) -> "OrtRunner":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        if not self.spinning:  # spinning threads disturb other runtimes and the machine's other work
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(self.path, sess_options=options, providers=self.providers)
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
        return [o.name for o in self._require().get_outputs()]

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._require()
        outputs = session.run(None, feed)
        return dict(zip(self.output_names, outputs))
