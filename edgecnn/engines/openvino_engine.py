"""OpenVINO on CPU: the strongest CPU peer, as an optional engine (pip install 'edgecnn[openvino]')."""

from __future__ import annotations

import os
import time

import numpy as np

from ..errors import DependencyMissing, UsageError
from .base import ModelInfo, Runner, TensorSpec, require_bf16
from .ort_engine import model_info_from_onnx
from .spec import Engine, LoadRequest, Placement

_PRECISION_HINTS = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "f32"}  # int8: from the QDQ graph itself


def require_openvino():
    try:
        import openvino as ov
    except ImportError:
        raise DependencyMissing("openvino", extra="openvino", purpose="the openvino engine") from None
    return ov


class OpenVinoRunner(Runner):
    engine = "openvino"

    def __init__(self, path: str | os.PathLike, info: ModelInfo, threads: int | None = None, precision: str = "fp32",
                 per_layer: bool = False):
        super().__init__(info)
        if precision not in _PRECISION_HINTS:
            raise UsageError(f"openvino precision must be one of {', '.join(_PRECISION_HINTS)}")
        self.path, self.threads, self.precision, self.per_layer_counters = str(path), threads, precision, per_layer
        self.compiled = self.request = None

    def activate(self) -> "OpenVinoRunner":
        ov = require_openvino()
        if self.precision == "bf16":
            require_bf16()
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[self.precision]}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        if self.per_layer_counters:
            config["PERF_COUNT"] = True
        model = core.read_model(self.path)
        started = time.perf_counter()
        self.compiled = core.compile_model(model, "CPU", config)
        self.info.extra["compile_s"] = time.perf_counter() - started  # the cold start's compile, apart from reading
        self.request = self.compiled.create_infer_request()
        # what OpenVINO actually runs the float parts in (it may not honour a hint on every CPU)
        self.info.extra["executed_precision"] = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self._inputs = [p.get_any_name() for p in self.compiled.inputs]
        self._outputs = [p.get_any_name() for p in self.compiled.outputs]
        return super().activate()

    def deactivate(self) -> None:
        self.compiled = self.request = None
        super().deactivate()

    @property
    def input_specs(self) -> list[TensorSpec]:
        if self.compiled is None:
            self.activate()
        return [TensorSpec(p.get_any_name(), tuple(d.get_length() if d.is_static else "batch"
                                                   for d in p.get_partial_shape())) for p in self.compiled.inputs]

    @property
    def output_names(self) -> list[str]:
        if self.compiled is None:
            self.activate()
        return list(self._outputs)

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # OVDict.to_tuple(), not results[i]: indexing an OVDict the first time builds its keys, about 40 us a call
        # (1.2 % of a 3.5 ms resnet18 INT8 inference, measured alternating call by call; issue 28)
        return dict(zip(self._outputs, self.request.infer(feed).to_tuple()))

    def offline_requests(self, feed: dict[str, np.ndarray], streams: int | None, seconds: float,
                         warmup_s: float) -> tuple[list[tuple[float, float, int]], int]:
        """The offline scenario the way benchmark_app runs it: the model compiled again with the THROUGHPUT hint
        (``streams`` as NUM_STREAMS, else the hint's own choice; INFERENCE_NUM_THREADS and the precision as for the
        latency runs), an AsyncInferQueue of its optimal number of infer requests kept full until the time is up,
        then drained. ``(start, end, request)`` of each request (a request's latency includes no queueing: it
        starts when an idle request takes it), and the streams OpenVINO used."""
        import time

        ov = require_openvino()
        config = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": _PRECISION_HINTS[self.precision]}
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        if streams:
            config["NUM_STREAMS"] = int(streams)
        compiled = ov.Core().compile_model(ov.Core().read_model(self.path), "CPU", config)
        used = int(compiled.get_property("NUM_STREAMS"))
        jobs = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        queue = ov.AsyncInferQueue(compiled, jobs)
        clock = time.perf_counter
        records: list[tuple[float, float, int]] = []
        keep = {"on": False}

        def finished(request, userdata) -> None:
            if keep["on"]:
                records.append((userdata[0], clock(), userdata[1]))

        queue.set_callback(finished)
        for window, counting in ((warmup_s, False), (seconds, True)):
            keep["on"] = counting
            deadline = clock() + window
            while clock() < deadline:
                slot = queue.get_idle_request_id()  # waits for a free request
                queue.start_async(feed, (clock(), slot))
            queue.wait_all()
        return records, used

    def layer_times(self) -> list[tuple[str, str, float]]:
        """(node name, node type, ms) from the last inference's performance counters."""
        return [(p.node_name, p.node_type, p.real_time.total_seconds() * 1000)
                for p in self.request.profiling_info if p.status.name == "EXECUTED"]

    def per_layer(self, feed: dict[str, np.ndarray], runs: int = 20) -> list[dict]:
        """OpenVINO's performance counters (the model is compiled with PERF_COUNT for this)."""
        runner = self
        if not self.per_layer_counters:
            runner = OpenVinoRunner(self.path, self.info, threads=self.threads, precision=self.precision,
                                    per_layer=True).activate()
        rows: dict[str, dict] = {}
        for _ in range(runs):
            runner.infer(feed)
            for name, kind, ms in runner.layer_times():
                entry = rows.setdefault(name, {"name": name, "op": kind, "total_us": 0.0, "calls": 0})
                entry["total_us"] += ms * 1000
                entry["calls"] += 1
        return list(rows.values())


def load(request: LoadRequest) -> OpenVinoRunner:
    return OpenVinoRunner(request.artifact, model_info_from_onnx(request.artifact), threads=request.threads,
                          precision=request.precision or "fp32", per_layer=request.per_layer)


ENGINE = Engine(
    name="openvino", title="OpenVINO CPU", artifacts=("onnx",), precisions=("fp32", "fp16", "bf16", "int8"),
    devices=("cpu",), load=load, extra="openvino", module="openvino",
    # fp16 and bf16 by INFERENCE_PRECISION_HINT from the FP32 ONNX; INT8 from NNCF's placement, or with an accuracy
    # budget from ONNX Runtime's (the budget is met there)
    sources={"fp32": "fp32", "fp16": "fp32", "bf16": "fp32", "int8": "int8_openvino"}, budget_sources={"int8": "int8"},
    libraries=("openvino", "numpy", "pillow"), runtime_library="openvino", profiler="OpenVINO's performance counters",
    placement=Placement(quantizer="nncf", kind="int8_openvino", help="NNCF, what OpenVINO runs fastest",
                        budget=False, checked_on_itself=True, libraries=("nncf", "openvino")),
    scenarios=("single-stream", "offline"),
    colour="#9467bd",
)
ENGINES = (ENGINE,)
