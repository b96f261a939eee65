"""Peak resident memory of a phase (loading, running), separately.

A sampling thread (every 2 ms) follows the RSS; on Linux the kernel's own peak
(VmHWM) is also reset at the start of each phase (write 5 to
/proc/self/clear_refs) and read at its end.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

import psutil

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _vm_hwm() -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


@dataclass
class PeakResult:
    before_bytes: int = 0
    peak_bytes: int = 0
    method: str = ""

    @property
    def increase_bytes(self) -> int:
        return max(0, self.peak_bytes - self.before_bytes)


@contextlib.contextmanager
def peak_rss(interval_s: float = 0.002):
    """``with peak_rss() as result: ...`` -> result.increase_bytes: the phase's peak over its start.

    A sampling thread reads the RSS every ``interval_s``; where the kernel's peak (VmHWM) can be
    reset, its value after the phase is taken too (it also sees spikes between samples, but is
    updated lazily by the kernel, so neither source is used alone).
    """
    process = psutil.Process()
    result = PeakResult(before_bytes=process.memory_info().rss)
    kernel_peak = _reset_peak() and _vm_hwm() is not None
    result.method = "VmHWM+sampled" if kernel_peak else "sampled"
    stop = threading.Event()
    peak = [result.before_bytes]

    def sample():
        while not stop.wait(interval_s):
            peak[0] = max(peak[0], process.memory_info().rss)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        candidates = [peak[0], process.memory_info().rss]
        if kernel_peak:
            candidates.append(_vm_hwm() or 0)
        result.peak_bytes = max(candidates)
