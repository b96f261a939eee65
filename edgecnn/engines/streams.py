"""Offline requests from several streams at once, each driven by its own Python thread: what an engine's
``offline_requests`` runs when its runtime lets go of the GIL while a request runs (ONNX Runtime's sessions,
TensorRT's execution contexts on their CUDA streams).

Every stream warms up alone, then all start together (a barrier opens one window for all), and each keeps issuing
requests until the window closes; a request started before then runs to its end. One stream's failure stops the
others and is raised in the caller's thread.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

Request = tuple[float, float, int]  # (start, end, stream), perf_counter seconds


def drive_streams(calls: list[Callable[[], object]], seconds: float, warmup_s: float) -> list[Request]:
    """Run ``calls[i]`` (one request on stream i, returning when it completed) over and over on its own thread
    for ``seconds`` after ``warmup_s`` of warm-up; every request timed, ``(start, end, stream)`` of each."""
    streams = len(calls)
    if streams < 1:
        raise ValueError("drive_streams needs at least one stream")
    records: list[list[Request]] = [[] for _ in range(streams)]
    clock = time.perf_counter
    window: dict[str, float] = {}
    # the window opens when every stream is warm, for all at once (the barrier's action runs before it releases)
    gate = threading.Barrier(streams, action=lambda: window.__setitem__("deadline", clock() + seconds))
    errors: list[BaseException] = []

    def drive(i: int) -> None:
        call, mine = calls[i], records[i]
        try:
            warm_until = clock() + warmup_s
            call()
            while clock() < warm_until:
                call()
            gate.wait()
            deadline = window["deadline"]
            while clock() < deadline:
                t0 = clock()
                call()
                mine.append((t0, clock(), i))
        except threading.BrokenBarrierError:
            pass  # another stream failed: its error is raised below
        except Exception as exc:  # noqa: BLE001 (re-raised in the calling thread)
            errors.append(exc)
            gate.abort()  # the other streams stop waiting for this one

    workers = [threading.Thread(target=drive, args=(i,), daemon=True) for i in range(streams)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return [r for stream in records for r in stream]


__all__ = ["Request", "drive_streams"]
