"""ONNX Runtime: the CPU provider (and CUDA's when present and asked for)."""

from __future__ import annotations

import os

import numpy as np

from ..core.metadata import read_metadata
from ..core.ort import make_session
from .base import ModelInfo, Runner, TensorSpec
from .third_party import default_info


def model_info_from_onnx(path: str | os.PathLike, overrides: dict | None = None) -> ModelInfo:
    """The model's own metadata, or, for a third-party file, stated defaults (see third_party)."""

    meta = read_metadata(path)
    if meta is None or overrides:
        return default_info(path, overrides or {}, meta)
    return ModelInfo(architecture=meta.architecture, task=meta.task, labels=meta.labels,
                     preprocess=meta.preprocess, input_size=tuple(meta.input_shape[1:]),
                     extra={"metadata": meta})


class OrtRunner(Runner):
    engine = "ort"

    def __init__(self, path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None,
                 info: ModelInfo | None = None, spinning: bool = True):
        super().__init__(info or model_info_from_onnx(path))
        self.path = str(path)
        self.threads = threads
        self.providers = providers or ["CPUExecutionProvider"]
        self.spinning = spinning
        self.session = None
        self.profile_prefix: str | None = None  # set to collect ONNX Runtime's per-node profile

    def activate(self) -> "OrtRunner":
        self.session = make_session(self.path, self.threads, self.providers, self.spinning, self.profile_prefix)
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
                                 spinning=self.spinning)
            profiled.profile_prefix = str(Path(tmp) / "ort")
            with profiled:
                for _ in range(runs):
                    profiled.infer(feed)
                events = json.loads(Path(profiled.end_profiling()).read_text())
        totals: dict[str, dict] = {}
        for event in events:
            if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
                continue
            name = event["name"][: -len("_kernel_time")]
            entry = totals.setdefault(name, {"name": name, "op": event.get("args", {}).get("op_name", "?"),
                                             "total_us": 0.0, "calls": 0})
            entry["total_us"] += float(event.get("dur", 0))
            entry["calls"] += 1
        return list(totals.values())
