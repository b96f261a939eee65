"""TensorRT 10 and 11: build a serialized plan from ONNX, and run it behind the Runner interface.

A thin module over the TensorRT Python API; every decision that can be made
without TensorRT lives in :mod:`edgecnn.engines.trt_plan` and is tested on CPU.

Build: ``Builder.create_network(0)`` (explicit batch is the only mode in
TensorRT 10), ``OnnxParser.parse``, an optimization profile per input
(``IOptimizationProfile.set_shape(name, min, opt, max)``), precision flags
(INT8 from the QDQ nodes = explicit quantization; or from a calibration table
through a deprecated-in-10.1 ``IInt8Calibrator``, TensorRT 10 only: 11 removed it), a workspace limit
(``set_memory_pool_limit(MemoryPoolType.WORKSPACE, ...)``), a timing cache
(``create_timing_cache`` / ``set_timing_cache``, written back after the build)
and ``build_serialized_network``. A JSON sidecar records the TensorRT version,
GPU, precision and profiles.

Run: ``Runtime.deserialize_cuda_engine``, ``create_execution_context``,
``set_input_shape``, ``set_tensor_address`` and ``execute_async_v3`` with
device buffers from PyTorch's CUDA allocator; ``IProfiler`` gives per-layer
times.

NOT VERIFIED: TensorRT cannot be installed on the development machines (no GPU;
its wheels download from NVIDIA's index) so this module has never run there.
Its tests are marked ``gpu`` and skip without TensorRT and a GPU; tests/test_trt_names.py
checks on CPU that every TensorRT name used here exists in the 10.3 and 11.x bindings.
"""

from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path

import numpy as np

from ..core.metadata import ModelMetadata
from ..core.onnx_io import load_onnx
from ..core.text import bounded_list
from ..errors import EngineUnavailable, ExportError, UsageError
from ..fileio import atomic_path, check_output_path
from .base import ModelInfo, Runner, TensorSpec
from .gpu_timing import time_phases
from .spec import Build, DeviceSide, Engine, LoadRequest, Placement, artifact_kind
from .streams import drive_streams
from .trt_plan import DEFAULT_TRT_MAJOR, BatchSpec, build_plan, installed_trt_major, onnx_holds, parse_batch_spec, \
    trt_source

# A bundle's requirements.txt: TensorRT 10.3 (JetPack 6) to 11.x, the versions tests/test_trt_names.py checks the
# code against; cuda-python from 12.6.2 (the first on PyPI with cuda.bindings.runtime, which 13.x keeps alone);
# the same pins as the tensorrt extra in pyproject.toml and infer.py's CUDA_PYTHON.
AUTO_STREAMS = 2  # offline streams for "auto": one request's copies overlap another's compute (trtexec's default is 1)
TRT_REQUIREMENTS = ["numpy>=1.24", "pillow>=10", "tensorrt>=10.3,<12", "cuda-python>=12.6.2,<14"]


def require_tensorrt():
    """Import tensorrt and check for a CUDA GPU; one-line errors naming what is missing."""
    try:
        import tensorrt as trt
    except (ImportError, OSError):
        raise EngineUnavailable(
            "TensorRT is not installed: on a machine with an NVIDIA GPU and driver run "
            "pip install 'edgecnn[tensorrt]' (or use JetPack's TensorRT on Jetson)") from None
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        raise EngineUnavailable("TensorRT needs an NVIDIA GPU with a working CUDA driver; none was found here")
    return trt


def tensorrt_available() -> bool:
    try:
        require_tensorrt()
    except EngineUnavailable:
        return False
    return True


class _TableCalibrator:
    """An IInt8Calibrator that only replays a calibration table (no calibration data)."""

    def __new__(cls, trt, table: bytes):
        class Calibrator(trt.IInt8EntropyCalibrator2):
            def __init__(self):
                trt.IInt8EntropyCalibrator2.__init__(self)

            def get_batch_size(self):
                return 1

            def get_batch(self, names):
                return None

            def read_calibration_cache(self):
                return table

            def write_calibration_cache(self, cache):
                return None

        return Calibrator()


def build_engine(onnx_path: str | os.PathLike, output: str | os.PathLike, *, precision: str | None = None,
                 batch: BatchSpec = BatchSpec(1, 1, 1), workspace_mb: int = 1024,
                 timing_cache: str | os.PathLike | None = None, calibration_table: str | None = None,
                 force: bool = False, log=lambda line: None) -> dict:
    """Build a TensorRT plan from ``onnx_path``; returns the sidecar metadata."""
    model = load_onnx(onnx_path, external_data=False)
    output = check_output_path(output, force)
    trt = require_tensorrt()
    major = int(trt.__version__.split(".")[0])
    precision = precision or onnx_holds(model)
    plan = build_plan(model, precision, major, calibration_table=calibration_table, batch=batch)
    flags, profiles = plan.builder_flags, plan.profiles
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 11: always strongly typed; 10: weakly typed, flags below
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = bounded_list((str(parser.get_error(i)) for i in range(parser.num_errors)), limit=3, sep="; ")
        raise ExportError(f"TensorRT's ONNX parser rejected {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb * 2**20)
    for flag in flags:  # empty for TensorRT 11, which has no precision flags
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if plan.calibration_table:  # TensorRT 10 only (the plan refuses tables for 11)
        config.int8_calibrator = _TableCalibrator(trt, Path(calibration_table).read_bytes())
    profile = builder.create_optimization_profile()
    for entry in profiles:
        profile.set_shape(entry.name, entry.min, entry.opt, entry.max)
    config.add_optimization_profile(profile)
    cache_bytes = Path(timing_cache).read_bytes() if timing_cache and Path(timing_cache).exists() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT could not build an engine from {onnx_path} (see the messages above)")
    seconds = time.perf_counter() - started
    with atomic_path(output, force=force) as tmp:
        tmp.write_bytes(bytes(serialized))
    if timing_cache:
        with atomic_path(timing_cache, force=True) as tmp:
            tmp.write_bytes(bytes(config.get_timing_cache().serialize()))
    import torch

    sidecar = {
        "tensorrt": trt.__version__, "gpu": torch.cuda.get_device_name(0), "precision": precision, "flags": flags,
        "plan": plan.to_dict(),
        "profiles": [{"name": p.name, "min": p.min, "opt": p.opt, "max": p.max} for p in profiles],
        "workspace_mb": workspace_mb, "source": str(onnx_path), "build_seconds": seconds,
        "metadata": {p.key: p.value for p in model.metadata_props},
    }
    with atomic_path(str(output) + ".json", force=True) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=1))
    return sidecar


class TrtRunner(Runner):
    engine = "trt"

    def __init__(self, path: str | os.PathLike, info: ModelInfo):
        super().__init__(info)
        self.path = str(path)
        self.engine_obj = self.context = self.stream = None
        self.layer_times: dict[str, float] = {}

    def activate(self) -> "TrtRunner":
        trt = require_tensorrt()
        import torch

        self._torch = torch
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine_obj = runtime.deserialize_cuda_engine(Path(self.path).read_bytes())
        if self.engine_obj is None:
            raise EngineUnavailable(f"{self.path} was built for another TensorRT version or GPU; rebuild it here")
        self.context = self.engine_obj.create_execution_context()
        self.stream = torch.cuda.Stream()
        self._names = [self.engine_obj.get_tensor_name(i) for i in range(self.engine_obj.num_io_tensors)]
        self._inputs = [n for n in self._names if self.engine_obj.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._outputs = [n for n in self._names if n not in self._inputs]
        return super().activate()

    def deactivate(self) -> None:
        self.context = self.engine_obj = None
        super().deactivate()

    @property
    def input_specs(self) -> list[TensorSpec]:
        if self.engine_obj is None:
            self.activate()
        return [TensorSpec(n, tuple(self.engine_obj.get_tensor_shape(n))) for n in self._inputs]

    @property
    def output_names(self) -> list[str]:
        if self.engine_obj is None:
            self.activate()
        return list(self._outputs)

    @property
    def device_memory_bytes(self) -> int:
        engine = self.engine_obj
        return int(getattr(engine, "device_memory_size_v2", getattr(engine, "device_memory_size", 0)))

    def enable_profiler(self) -> None:
        trt = require_tensorrt()
        times = self.layer_times

        class LayerProfiler(trt.IProfiler):
            def __init__(self):
                trt.IProfiler.__init__(self)

            def report_layer_time(self, layer_name, ms):
                times[layer_name] = times.get(layer_name, 0.0) + ms

        self.context.profiler = LayerProfiler()

    def per_layer(self, feed: dict[str, np.ndarray], runs: int = 20) -> list[dict]:
        """TensorRT's IProfiler: time per layer of the built engine."""
        self.enable_profiler()
        for _ in range(runs):
            self.infer(feed)
        return [{"name": n, "op": "trt", "total_us": ms * 1000, "calls": runs} for n, ms in self.layer_times.items()]

    def transfer_phases(self, feed: dict[str, np.ndarray], runs: int = 50) -> dict:
        """Host-to-device copy, compute and device-to-host copy apart, by CUDA events on the engine's stream."""
        torch = self._torch
        hosts = {n: torch.from_numpy(np.ascontiguousarray(feed[n], dtype=np.float32)).pin_memory() for n in self._inputs}
        inputs = {n: torch.empty_like(t, device="cuda") for n, t in hosts.items()}
        for name, tensor in inputs.items():
            self.context.set_input_shape(name, tuple(tensor.shape))
            self.context.set_tensor_address(name, tensor.data_ptr())
        outputs = {n: torch.empty(tuple(self.context.get_tensor_shape(n)), dtype=torch.float32, device="cuda")
                   for n in self._outputs}
        for name, tensor in outputs.items():
            self.context.set_tensor_address(name, tensor.data_ptr())
        results = {n: torch.empty(tuple(t.shape), dtype=t.dtype).pin_memory() for n, t in outputs.items()}

        def copy_in():
            for name, tensor in inputs.items():
                tensor.copy_(hosts[name], non_blocking=True)

        def copy_out():
            for name, tensor in outputs.items():
                results[name].copy_(tensor, non_blocking=True)

        return time_phases(self.stream, copy_in, lambda: self.context.execute_async_v3(self.stream.cuda_stream),
                           copy_out, runs=runs)

    def offline_requests(self, feed: dict[str, np.ndarray], streams: int | None, seconds: float,
                         warmup_s: float) -> tuple[list[tuple[float, float, int]], int]:
        """The offline scenario as trtexec's ``--infStreams N`` runs it: N execution contexts of the one engine,
        each with its own CUDA stream and device buffers, each driven by its own Python thread (the thread waits in
        ``cudaStreamSynchronize`` without the GIL). A request is what ``infer`` does: the input copied from pinned
        host memory, ``execute_async_v3``, the output copied back, the stream synchronised. ``streams`` None (auto):
        :data:`AUTO_STREAMS`. Not run on the development machines (no GPU); the driver is ONNX Runtime's, tested."""
        torch = self._torch
        streams = streams or AUTO_STREAMS
        calls = []
        for _ in range(streams):
            context = self.engine_obj.create_execution_context()
            stream = torch.cuda.Stream()
            hosts = {n: torch.from_numpy(np.ascontiguousarray(feed[n], dtype=np.float32)).pin_memory()
                     for n in self._inputs}
            devices = {n: torch.empty_like(t, device="cuda") for n, t in hosts.items()}
            for name, tensor in devices.items():
                context.set_input_shape(name, tuple(tensor.shape))
                context.set_tensor_address(name, tensor.data_ptr())
            outputs = {n: torch.empty(tuple(context.get_tensor_shape(n)), dtype=torch.float32, device="cuda")
                       for n in self._outputs}
            for name, tensor in outputs.items():
                context.set_tensor_address(name, tensor.data_ptr())
            results = {n: torch.empty(tuple(t.shape), dtype=t.dtype).pin_memory() for n, t in outputs.items()}
            calls.append(partial(_request, torch, context, stream, hosts, devices, outputs, results))
        return drive_streams(calls, seconds, warmup_s), streams

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        keep = []
        for name in self._inputs:
            array = torch.from_numpy(np.ascontiguousarray(feed[name], dtype=np.float32)).cuda()
            keep.append(array)
            self.context.set_input_shape(name, tuple(array.shape))
            self.context.set_tensor_address(name, array.data_ptr())
        outputs = {}
        for name in self._outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=torch.float32, device="cuda")
            outputs[name] = tensor
            self.context.set_tensor_address(name, tensor.data_ptr())
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()
        return {name: tensor.cpu().numpy() for name, tensor in outputs.items()}


def _request(torch, context, stream, hosts: dict, devices: dict, outputs: dict, results: dict) -> None:
    """One offline request on ``context``'s own ``stream``: copy in, execute, copy out (all queued on ``stream``),
    then wait for it."""
    with torch.cuda.stream(stream):
        for name, tensor in devices.items():
            tensor.copy_(hosts[name], non_blocking=True)
        context.execute_async_v3(stream.cuda_stream)
        for name, tensor in outputs.items():
            results[name].copy_(tensor, non_blocking=True)
    stream.synchronize()


def load(request: LoadRequest) -> TrtRunner:
    require_tensorrt()
    artifact = request.artifact
    if artifact_kind(artifact) != "engine":
        raise UsageError(f"the trt engine runs built engines: run 'edgecnn build {artifact} -o MODEL.engine' first")
    sidecar = json.loads(Path(artifact + ".json").read_text()) if Path(artifact + ".json").exists() else {}
    meta = ModelMetadata.from_props(sidecar.get("metadata", {}))
    info = ModelInfo(meta.architecture, meta.task, meta.labels, meta.preprocess, tuple(meta.input_shape[1:]))
    return TrtRunner(artifact, info)


def _installed_major() -> int:
    return installed_trt_major() or DEFAULT_TRT_MAJOR


def _make(source, output, precision: str, batch_spec: str, log) -> dict:
    return build_engine(source, output, precision=precision, batch=parse_batch_spec(batch_spec), force=True, log=log)


def _device_build(precision: str, target, batches: list[int]) -> dict:
    """A device target's build settings: the engine is built on the device by the plan made from them."""
    return {"precision": precision, "trt_major": target.trt_version,
            "batch": f"{min(batches)}:{min(batches)}:{max(batches)}"}


def _device_plan(onnx_path, build: dict) -> dict:
    return build_plan(load_onnx(onnx_path), build["precision"], build["trt_major"],
                      batch=parse_batch_spec(build["batch"])).to_dict()


def _readme_notes(config: dict) -> list[str]:
    plan = config.get("trt_build")
    if plan:
        return [f"The TensorRT engine is built on the device at the first run, from `model.onnx`, following "
                f"edgecnn's build plan for TensorRT {plan['trt_major']} ({plan['network']} network, builder flags: "
                f"{', '.join(plan['builder_flags']) or 'none'}), and kept in `~/.cache/edgecnn/engines`. "
                "This path was not run by edgecnn's developers (no NVIDIA GPU was available to them)."]
    return ["A TensorRT engine only runs on the GPU model and TensorRT version it was built with. "
            "The TensorRT path of infer.py follows the TensorRT 10 API but was not run by edgecnn's "
            "developers (no NVIDIA GPU was available to them)."]


ENGINE = Engine(
    name="trt", title="TensorRT", artifacts=("onnx", "engine"), precisions=("fp32", "fp16", "int8"), devices=("cuda",),
    load=load, extra="tensorrt", module="tensorrt", default_for=("engine",),
    libraries=("tensorrt", "cuda-python", "numpy", "pillow"), runtime_library="tensorrt",
    profiler="TensorRT's IProfiler", scenarios=("single-stream", "offline"),
    placement=Placement(quantizer="onnxruntime", kind="int8_sym", symmetric_activations=True,
                        help="symmetric INT8, what TensorRT reads"),
    # the engine is built here from the ONNX this TensorRT's build plan starts from (11: strongly typed)
    build=Build(source=lambda precision: trt_source(precision, _installed_major()),
                outputs=lambda precision: (f"model_{precision}.engine", f"model_{precision}.engine.json"),
                settings=lambda precision, batch: {"precision": precision, "batch": batch,
                                                   "trt_major": _installed_major()},
                make=_make, check=require_tensorrt),
    # on a device: a built engine, or the ONNX its TensorRT version builds from, with the plan to build it there
    device=DeviceSide(loader="tensorrt", requirements=tuple(TRT_REQUIREMENTS), runtime="TensorRT (NVIDIA GPU, Jetson)",
                      artifacts=("engine", "onnx"), label="trt",
                      source=lambda precision, target: trt_source(precision, target.trt_version),
                      tag=lambda target: f"trt{target.trt_version}", build=_device_build, plan=_device_plan,
                      plan_key="trt_build", notes=_readme_notes),
    colour="#2ca02c",
)
ENGINES = (ENGINE,)
