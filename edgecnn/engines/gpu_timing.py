"""GPU timing as trtexec reports it: compute time by CUDA events, host-to-device and device-to-host copies apart.

One run = copy the inputs in, compute, copy the outputs out, all on one CUDA stream, with a CUDA event
recorded between the phases; the events' elapsed times are the GPU's own clock, free of Python and
launch overhead. Runners on GPUs (TensorRT, ONNX Runtime's CUDA and TensorRT providers) give
:func:`time_phases` their three steps; :func:`summarize_phases` (pure, tested on CPU) turns the per-run
figures into medians. Written against PyTorch's CUDA events and streams (PyTorch is installed with
edgecnn); not run by the developers: no NVIDIA GPU was available to them.
"""

from __future__ import annotations

import statistics
from typing import Callable

PHASES = ("h2d_ms", "compute_ms", "d2h_ms")


def summarize_phases(runs: list[tuple[float, float, float]]) -> dict:
    """Median (and mean) milliseconds per phase over ``runs`` of (h2d, compute, d2h)."""
    if not runs:
        raise ValueError("no timed runs")
    columns = list(zip(*runs))
    summary = {name: statistics.median(values) for name, values in zip(PHASES, columns)}
    summary.update({name.replace("_ms", "_mean_ms"): statistics.fmean(values) for name, values in zip(PHASES, columns)})
    summary["runs"] = len(runs)
    summary["method"] = "CUDA events on the inference stream"
    return summary


def time_phases(stream, copy_in: Callable[[], None], compute: Callable[[], None], copy_out: Callable[[], None],
                runs: int = 50, warmup: int = 5) -> dict:
    """Time ``runs`` runs of copy_in -> compute -> copy_out, each enqueued on the torch CUDA ``stream``."""
    import torch

    marks = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
    timed: list[tuple[float, float, float]] = []
    with torch.cuda.stream(stream):
        for i in range(warmup + runs):
            marks[0].record(stream)
            copy_in()
            marks[1].record(stream)
            compute()
            marks[2].record(stream)
            copy_out()
            marks[3].record(stream)
            marks[3].synchronize()
            if i >= warmup:
                timed.append((marks[0].elapsed_time(marks[1]), marks[1].elapsed_time(marks[2]),
                              marks[2].elapsed_time(marks[3])))
    return summarize_phases(timed)
