"""ONNX Runtime on NVIDIA GPUs: engines ``ort-cuda`` (CUDA execution provider) and ``ort-trt`` (TensorRT
execution provider), from the ``onnxruntime-gpu`` package (``pip install 'edgecnn[ort-gpu]'``; it and
the CPU ``onnxruntime`` install the same module, so the CPU one is uninstalled after, see INSTALL_HINT).

ONNX Runtime falls back to the CPU, with a warning only, when a GPU provider cannot load (no driver,
a missing CUDA or TensorRT library). Figures measured that way would be CPU figures under a GPU name,
so every session's active providers are checked (``session.get_providers()``) and such a session is
refused in one line. The decisions (provider lists and options, the availability and fallback checks)
are pure functions tested on CPU; the runs themselves need a GPU and were not made by the developers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..core.options import check_options, opt
from ..errors import EngineUnavailable
from .base import ModelInfo
from .gpu_timing import time_phases
from .ort_engine import ENGINE as ORT
from .ort_engine import OrtRunner, artifact_precision, model_info_from_onnx
from .spec import Engine, LoadRequest

GPU_PROVIDERS = {"ort-cuda": "CUDAExecutionProvider", "ort-trt": "TensorrtExecutionProvider"}
# onnxruntime and onnxruntime-gpu install the same module: the GPU one must be the one left
INSTALL_HINT = ("pip install 'edgecnn[ort-gpu]' && pip uninstall -y onnxruntime onnxruntime-gpu && pip install "
                "onnxruntime-gpu (on a machine with an NVIDIA GPU and driver)")


@dataclass
class OrtGpuOptions:
    """How ONNX Runtime uses the GPU (``ort-cuda`` and ``ort-trt``)."""

    device_id: int = opt(0, "CUDA device index.", min=0)
    engine_cache: str | None = opt(None, "ort-trt: a folder where ONNX Runtime keeps the TensorRT engines it builds "
                                         "(a later session with the same model and settings skips the build).")

    def __post_init__(self) -> None:
        check_options(self)


def provider_list(engine: str, precision: str, options: OrtGpuOptions | None = None) -> list[tuple[str, dict]]:
    """The providers, in priority order, with their options, for ``engine`` at ``precision``.

    ``ort-trt``: TensorRT takes what it can (FP16 kernels allowed for fp16 and int8, INT8 for a Q/DQ model),
    CUDA the rest, the CPU only the nodes neither has. ``ort-cuda``: CUDA, then the CPU for unsupported nodes.
    """
    options = options or OrtGpuOptions()
    device = {"device_id": str(options.device_id)}
    cuda = ("CUDAExecutionProvider", dict(device))
    cpu = ("CPUExecutionProvider", {})
    if engine == "ort-cuda":
        return [cuda, cpu]
    if engine != "ort-trt":
        raise ValueError(f"not an ONNX Runtime GPU engine: {engine}")
    trt = dict(device, trt_fp16_enable=str(precision in ("fp16", "int8")),
               trt_int8_enable=str(precision == "int8"))
    if options.engine_cache:
        trt.update(trt_engine_cache_enable="True", trt_engine_cache_path=str(options.engine_cache),
                   trt_timing_cache_enable="True", trt_timing_cache_path=str(options.engine_cache))
    return [("TensorrtExecutionProvider", trt), cuda, cpu]


def with_stream(providers: list[tuple[str, dict]], handle: int) -> list[tuple[str, dict]]:
    """The GPU providers told to compute on the CUDA stream ``handle`` (the one the timing events are recorded on)."""
    stream = {"has_user_compute_stream": "1", "user_compute_stream": str(handle)}
    return [(name, {**options, **stream}) if name in GPU_PROVIDERS.values() else (name, options)
            for name, options in providers]


def missing_provider(engine: str, available: list[str], version: str = "?") -> str | None:
    """Why ``engine`` cannot run with an onnxruntime offering ``available`` providers (None: it can try)."""
    wanted = GPU_PROVIDERS[engine]
    if wanted in available:
        return None
    return (f"{engine} needs ONNX Runtime's {wanted}, and this onnxruntime {version} offers "
            f"{', '.join(available) or 'none'}; install it with: {INSTALL_HINT}")


def check_active(engine: str, active: list[str]) -> None:
    """Refuse a session that fell back to the CPU: its figures would be CPU figures under a GPU engine's name."""
    wanted = GPU_PROVIDERS[engine]
    if not active or active[0] != wanted:
        raise EngineUnavailable(
            f"{engine}: ONNX Runtime could not load {wanted} (the session's providers are "
            f"{', '.join(active) or 'none'}); it would have run on the CPU, so nothing is measured. Check the NVIDIA "
            f"driver and the CUDA{'/TensorRT' if engine == 'ort-trt' else ''} libraries that onnxruntime-gpu needs "
            "(python -c \"import onnxruntime; onnxruntime.preload_dlls()\" lists what fails to load)")


def require_ort_gpu(engine: str) -> None:
    import onnxruntime as ort

    problem = missing_provider(engine, ort.get_available_providers(), ort.__version__)
    if problem:
        raise EngineUnavailable(problem)


class OrtGpuRunner(OrtRunner):
    """An ONNX Runtime session on the GPU; inputs and outputs bound to GPU memory (IO binding) for timing."""

    def __init__(self, path: str | os.PathLike, engine: str, precision: str, info: ModelInfo | None = None,
                 options: OrtGpuOptions | None = None):
        self.engine, self.precision = engine, precision
        self.options = options or OrtGpuOptions()
        super().__init__(path, providers=provider_list(engine, precision, self.options), info=info)

    def activate(self) -> "OrtGpuRunner":
        require_ort_gpu(self.engine)
        import torch

        self.stream = None
        if torch.cuda.is_available():  # ONNX Runtime computes on a stream of ours: CUDA events can time it
            self.stream = torch.cuda.Stream(torch.device("cuda", self.options.device_id))
            self.providers = with_stream(provider_list(self.engine, self.precision, self.options),
                                         self.stream.cuda_stream)
        super().activate()
        check_active(self.engine, self.session.get_providers())
        return self

    def transfer_phases(self, feed: dict[str, np.ndarray], runs: int = 50) -> dict:
        """Host-to-device copy, compute and device-to-host copy apart, by CUDA events on one stream that ONNX
        Runtime computes on too (IO binding to PyTorch CUDA tensors)."""
        import torch

        session = self.session or self._require()
        if self.stream is None:
            raise EngineUnavailable("timing copies apart needs PyTorch with CUDA (the CUDA events and stream)")
        device = torch.device("cuda", self.options.device_id)
        stream = self.stream
        hosts = {name: torch.from_numpy(np.ascontiguousarray(array)).pin_memory() for name, array in feed.items()}
        inputs = {name: torch.empty_like(tensor, device=device) for name, tensor in hosts.items()}
        reference = session.run(None, feed)  # the output shapes for this batch
        outputs = {name: torch.empty(tuple(value.shape), dtype=torch.float32, device=device)
                   for name, value in zip(self._output_names, reference)}
        results = {name: torch.empty(tuple(t.shape), dtype=t.dtype).pin_memory() for name, t in outputs.items()}
        binding = session.io_binding()
        for name, tensor in inputs.items():
            binding.bind_input(name, "cuda", self.options.device_id, np.float32, tuple(tensor.shape), tensor.data_ptr())
        for name, tensor in outputs.items():
            binding.bind_output(name, "cuda", self.options.device_id, np.float32, tuple(tensor.shape),
                                tensor.data_ptr())

        def copy_in():
            for name, tensor in inputs.items():
                tensor.copy_(hosts[name], non_blocking=True)

        def compute():
            binding.synchronize_inputs()
            session.run_with_iobinding(binding)

        def copy_out():
            for name, tensor in outputs.items():
                results[name].copy_(tensor, non_blocking=True)

        return time_phases(stream, copy_in, compute, copy_out, runs=runs)


def _loader(engine: str):
    def load(request: LoadRequest) -> OrtGpuRunner:
        return OrtGpuRunner(request.artifact, engine, request.precision or artifact_precision(request.artifact),
                            info=model_info_from_onnx(request.artifact))

    return load


_COMMON = dict(artifacts=("onnx",), precisions=("fp32", "fp16", "int8"), devices=("cuda",), extra="ort-gpu",
               module="onnxruntime", distribution="onnxruntime-gpu", install_hint=INSTALL_HINT, runtime_library="onnxruntime-gpu",
               profiler="ONNX Runtime's profiler", options=OrtGpuOptions)
ENGINES = (
    Engine(name="ort-cuda", title="ONNX Runtime CUDA", load=_loader("ort-cuda"), sources=ORT.sources,
           libraries=("onnxruntime-gpu", "numpy", "pillow"), colour="#17becf", **_COMMON),
    # ONNX Runtime's TensorRT provider: FP16 by its flag from the FP32 ONNX, INT8 from symmetric Q/DQ
    Engine(name="ort-trt", title="ONNX Runtime TensorRT", load=_loader("ort-trt"),
           sources={"fp32": "fp32", "fp16": "fp32", "int8": "int8_sym"},
           libraries=("onnxruntime-gpu", "tensorrt", "numpy", "pillow"), colour="#bcbd22", **_COMMON),
)
