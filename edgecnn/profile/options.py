"""The options of profiling, declared once (see :mod:`edgecnn.core.options`).

``TargetShape`` (batch sizes, threads) is shared by ``edgecnn profile`` and a recipe's
``targets:`` entries; ``ProfileOptions`` adds how long to measure, which ``edgecnn profile``
takes as flags and a recipe's ``profile:`` section as keys.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.options import check_options, opt


def _batches(values) -> str | None:
    if not values:
        return "must list at least one batch size"
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
        return f"must be positive integers, got {list(values)}"
    return None


@dataclass
class TargetShape:
    batches: list[int] = opt([1], "Batch sizes to time.", check=_batches, metavar="1,8", flag="--batch")
    threads: int | None = opt(None, "Intra-op threads (default: the engine's own).", min=1)


@dataclass
class Timing:
    """How long to measure: shared by ``edgecnn profile``, recipes and ``edgecnn device run``."""

    warmup_s: float = opt(1.0, "Seconds of warm-up before timing.", min=0.0)
    min_runs: int = opt(50, "Time at least this many runs ...", min=1)
    min_time_s: float = opt(3.0, "... and for at least this many seconds.", min=0.0)


@dataclass
class ProfileOptions(Timing, TargetShape):
    per_layer: bool = opt(False, "Top ops by time (ORT profiler, OpenVINO counters, TensorRT IProfiler, "
                                 "torch.profiler).", recipe=False)
    top_layers: int = opt(15, "Rows of the per-layer table.", min=1, cli=False, recipe=False)

    def __post_init__(self) -> None:
        self.batches = list(self.batches)
        check_options(self)


ProfileSettings = ProfileOptions  # the name earlier releases used
