"""Memory: the resident set size, and the peak RSS increase of a phase measured apart from any timing."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

_PROC_SELF = Path("/proc/self")


def current_rss() -> int | None:
    """Resident set size of this process in bytes: /proc/self/statm on Linux, psutil elsewhere if present."""
    try:
        pages = int((_PROC_SELF / "statm").read_text().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # no psutil on this device: the caller states the fallback
        return None


def _vm_hwm() -> int | None:
    try:
        for line in (_PROC_SELF / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _reset_peak() -> bool:
    try:
        (_PROC_SELF / "clear_refs").write_text("5")
        return True
    except OSError:
        return False


SAMPLER_THREAD = "edgecnn-rss-sampler"  # the name of PeakRss's thread, where it needs one
MEMORY_PASS_RUNS = 3  # inferences per batch in the memory pass (the first allocates, the next reuse)


class PeakRss:
    """``with PeakRss() as peak: ...`` then ``peak.increase_bytes``: the phase's peak RSS over its start.

    Where the kernel's peak (VmHWM) can be reset (Linux), it is read after the phase and nothing runs beside the
    phase: the kernel records a peak before memory is unmapped, so spikes between reads are not lost. Elsewhere a
    thread (named :data:`SAMPLER_THREAD`) samples the RSS every ``interval_s``: it wakes every 2 ms, so it is
    never running while latency is timed (memory is measured in a pass of its own). Without /proc and psutil:
    ``method`` is "unavailable" and the increase 0, said in the results rather than guessed.
    """

    def __init__(self, interval_s: float = 0.002):
        self.interval_s = interval_s
        self.before_bytes = self.peak_bytes = 0
        self.method = ""
        self._thread = None

    @property
    def increase_bytes(self) -> int:
        return max(0, self.peak_bytes - self.before_bytes)

    def __enter__(self) -> "PeakRss":
        import threading

        first = current_rss()
        if first is None:
            self.method = "unavailable"
            return self
        self.before_bytes = self.peak_bytes = first
        if _reset_peak() and _vm_hwm() is not None:
            self.method = "VmHWM"
            return self
        self.method = "sampled"
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(self.interval_s):
                self.peak_bytes = max(self.peak_bytes, current_rss() or 0)

        self._thread = threading.Thread(target=sample, name=SAMPLER_THREAD, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.method == "unavailable":
            return
        candidates = [self.peak_bytes, current_rss() or 0]
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            candidates.append(self.peak_bytes)
        if self.method == "VmHWM":
            candidates.append(_vm_hwm() or 0)
        self.peak_bytes = max(candidates)


def memory_pass(call: Callable[[], object], runs: int = MEMORY_PASS_RUNS) -> PeakRss:
    """The peak RSS increase of ``runs`` calls, measured apart from any timing (see :class:`PeakRss`)."""
    with PeakRss() as peak:
        for _ in range(runs):
            call()
    return peak
