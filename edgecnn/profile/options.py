"""The options of profiling, declared once (see :mod:`edgecnn.core.options`).

``TargetShape`` (batch sizes, threads) is shared by ``edgecnn profile`` and a recipe's
``targets:`` entries; ``ProfileOptions`` adds how long to measure, which ``edgecnn profile``
takes as flags and a recipe's ``profile:`` section as keys. The fields a bundle's infer.py takes
too (timing, batch sizes, threads) are built from the declarations the device package ships
(:mod:`edgecnn.core.device.options`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.device.options import BATCHES, MIN_RUNS, MIN_TIME_S, THREADS, WARMUP_S
from ..core.options import check_options, from_declaration, opt


def _batches(values) -> str | None:
    if not values:
        return "must list at least one batch size"
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values) or BATCHES.problem(values):
        return f"must be positive integers, got {list(values)}"
    return None


@dataclass
class TargetShape:
    batches: list[int] = from_declaration(BATCHES, check=_batches)
    threads: int | None = from_declaration(THREADS)


@dataclass
class Timing:
    """How long to measure: shared by ``edgecnn profile``, recipes and ``edgecnn device run``. Declared in the
    device package (:mod:`edgecnn.core.device.options`), whose declarations the bundle's infer.py reads too."""

    warmup_s: float = from_declaration(WARMUP_S)
    min_runs: int = from_declaration(MIN_RUNS)
    min_time_s: float = from_declaration(MIN_TIME_S)


@dataclass
class ProfileOptions(Timing, TargetShape):
    per_layer: bool = opt(False, "Top ops by time (ORT profiler, OpenVINO counters, TensorRT IProfiler, "
                                 "torch.profiler).", recipe=False)
    top_layers: int = opt(15, "Rows of the per-layer table.", min=1, cli=False, recipe=False)

    def __post_init__(self) -> None:
        self.batches = list(self.batches)
        check_options(self)


ProfileSettings = ProfileOptions  # the name earlier releases used
