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
from .scenarios import SCENARIOS, parse_streams


def _batches(values) -> str | None:
    if not values:
        return "must list at least one batch size"
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values) or BATCHES.problem(values):
        return f"must be positive integers, got {list(values)}"
    return None


def _streams(values) -> str | None:
    try:
        [parse_streams(v) for v in values]
    except ValueError as exc:
        return str(exc).removeprefix("streams ")
    return None if values else "must list at least one"


def _scenarios(values) -> str | None:
    unknown = [v for v in values if v not in SCENARIOS]
    if not values or unknown:
        return f"must be among {', '.join(SCENARIOS)}, got {unknown[0] if unknown else 'none'!r}"
    return None


@dataclass
class TargetShape:
    batches: list[int] = from_declaration(BATCHES, check=_batches)
    threads: int | None = from_declaration(THREADS)
    scenarios: list[str] = opt(["single-stream"], "single-stream: one request at a time, latency percentiles; "
                                                  "offline: the engine keeps several requests in flight (OpenVINO's "
                                                  "THROUGHPUT hint and async requests, ONNX Runtime sessions in "
                                                  "parallel), images/s and each request's latency (ort, openvino).",
                               check=_scenarios, flag="--scenario", metavar="single-stream,offline")
    streams: list[str] = opt(["auto"], "The offline scenario's streams (auto: the engine's own choice), a row each.",
                             check=_streams, metavar="auto,1,2")

    def __post_init__(self) -> None:
        self.batches = list(self.batches)
        self.streams = [parse_streams(v) for v in self.streams] if not _streams(self.streams) else list(self.streams)


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
    sustained_s: float | None = opt(None, "Time the first batch for this many seconds and keep latency over time, "
                                          "with the clock and temperature read between calls (a board heating "
                                          "up); --plot draws it.", min=1.0, flag="--sustained", metavar="SECONDS",
                                    recipe=False)

    def __post_init__(self) -> None:
        TargetShape.__post_init__(self)
        check_options(self)


ProfileSettings = ProfileOptions  # the name earlier releases used
