"""The environment block every result carries: CPU, ISA flags, cores, threads, versions, GPU."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

from .core.versions import library_versions

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_int8", "amx_bf16", "asimd", "asimddp", "i8mm", "sve")


@lru_cache(maxsize=1)
def cpu_info() -> dict:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Hardware") and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "arch": platform.machine(),
        "isa": [f for f in ISA_FLAGS if f in flags],
        "vnni": bool({"avx512_vnni", "avx_vnni", "asimddp"} & flags),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }


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


def environment(threads: int | None = None, with_gpu: bool = False) -> dict:
    block = {"cpu": cpu_info(), "threads": threads, "os": platform.platform(), "python": platform.python_version(),
             "versions": library_versions()}
    try:
        from importlib import metadata

        block["versions"]["openvino"] = metadata.version("openvino")
    except Exception:
        pass
    if with_gpu:
        block["gpu"] = gpu_info()
    return block
