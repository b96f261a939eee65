"""The environment block every result carries: CPU, ISA flags, cores, threads, versions, GPU."""

from __future__ import annotations

from functools import lru_cache

from .core.device import cpu_info as device_cpu_info
from .core.device import environment_block
from .core.versions import installed_version, library_versions


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    """The CPU block, read by the code bundles ship (edgecnn_device/environment.py), so host and device agree."""
    return device_cpu_info()


def gpu_info() -> dict | None:
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            return {"name": props.name, "memory_gb": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}", "cuda": torch.version.cuda}
    except Exception:  # torch missing or a broken driver: no GPU block
        return None
    return None


OPTIONAL_RUNTIMES = ("openvino", "nncf", "executorch", "torchao", "ai-edge-litert", "litert-torch", "ncnn", "pnnx")


def environment(threads: int | None = None, with_gpu: bool = False) -> dict:
    versions = library_versions()
    for package in OPTIONAL_RUNTIMES:  # the engines' runtimes that are installed here
        version = installed_version(package)
        if version:
            versions[package] = version
    block = environment_block(threads, versions, cpu=cpu_info())
    if with_gpu:
        block["gpu"] = gpu_info()
    return block
