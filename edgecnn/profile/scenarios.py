"""The benchmark scenarios, named as MLPerf Inference names them.

* ``single-stream``: one request at a time, each timed alone (latency percentiles): :mod:`.latency`.
* ``offline``: everything in flight at once, the engine's own way (OpenVINO's THROUGHPUT hint with its streams and
  asynchronous infer requests; ONNX Runtime sessions in parallel threads with the cores split between them):
  images per second, and each request's latency from its start to its completion.

An engine offers ``offline`` by its runner's ``offline_requests(feed, streams, seconds, warmup_s)``, which returns
``(start, end, stream)`` per request it ran after the warm-up (perf_counter seconds) and the streams it used (engines
import nothing from here); :func:`count_requests` turns
them into figures, counting every request exactly once: those still in flight when the time is up are waited for
and counted, and the window runs from the first start to the last completion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from ..engines.registry import engines
from ..errors import UsageError

SCENARIOS = ("single-stream", "offline")
AUTO = "auto"


class Request(NamedTuple):
    """One request of an offline run: when it started and finished (perf_counter seconds), on which stream."""

    start: float
    end: float
    stream: int = 0


@dataclass
class OfflineStats:
    batch: int
    streams: int  # what the engine ran with (``auto`` resolved)
    streams_asked: str  # "auto" or the number asked for
    requests: int
    images: int
    seconds: float  # first start to last completion
    throughput: float  # images per second
    p50_ms: float  # a request's latency, start to completion, with everything else in flight
    p90_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    max_ms: float
    cv: float
    per_worker: list[int]  # requests each worker completed: a stream (ONNX Runtime), an infer request (OpenVINO)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_streams(value: str | int) -> str:
    """``auto`` or a positive number of streams, as a string (the form rows and recipes keep)."""
    text = str(value).strip().lower()
    if text == AUTO:
        return AUTO
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"streams must be 'auto' or a positive integer, got {value!r}")
    return str(int(text))


def count_requests(requests, batch: int, streams: int, streams_asked: str) -> OfflineStats:
    """The figures of an offline run (``requests``: :class:`Request` or ``(start, end, stream)`` tuples), every
    request counted once (see the module docstring)."""
    requests = [Request(*r) for r in requests]
    if not requests:
        raise ValueError("the offline run completed no request")
    first = min(r.start for r in requests)
    last = max(r.end for r in requests)
    seconds = max(last - first, 1e-9)
    latencies = np.array([1000 * (r.end - r.start) for r in requests])
    per_worker = [0] * (1 + max(r.stream for r in requests))
    for r in requests:
        per_worker[r.stream] += 1
    return OfflineStats(batch=batch, streams=streams, streams_asked=streams_asked, requests=len(requests),
                        images=len(requests) * batch, seconds=seconds, throughput=len(requests) * batch / seconds,
                        p50_ms=float(np.percentile(latencies, 50)), p90_ms=float(np.percentile(latencies, 90)),
                        p95_ms=float(np.percentile(latencies, 95)), p99_ms=float(np.percentile(latencies, 99)),
                        mean_ms=float(latencies.mean()), std_ms=float(latencies.std()), min_ms=float(latencies.min()),
                        max_ms=float(latencies.max()), cv=float(latencies.std() / latencies.mean()),
                        per_worker=per_worker)


def run_offline(runner, feed: dict[str, np.ndarray], streams: str, seconds: float, warmup_s: float) -> OfflineStats:
    """``runner``'s offline scenario on ``feed`` for ``seconds`` (after ``warmup_s``) with ``streams``."""
    offline = getattr(runner, "offline_requests", None)
    if offline is None:
        having = ", ".join(e.name for e in engines() if "offline" in e.scenarios)
        raise UsageError(f"{runner.engine} has no offline scenario ({having} have): use --scenario "
                         "single-stream")
    batch = int(next(iter(feed.values())).shape[0])
    requests, used = offline(feed, None if streams == AUTO else int(streams), seconds, warmup_s)
    return count_requests(requests, batch, used, streams)


__all__ = ["AUTO", "OfflineStats", "Request", "SCENARIOS", "count_requests", "parse_streams",
           "run_offline"]
