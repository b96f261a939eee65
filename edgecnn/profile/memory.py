"""Peak resident memory of a phase (loading, running), separately: the implementation bundles ship
(:class:`edgecnn.core.device.PeakRss`), so host and device measure memory the same way."""

from __future__ import annotations

from ..core.device import PeakRss, memory_pass  # noqa: F401  (re-exported)


def peak_rss(interval_s: float = 0.002) -> PeakRss:
    """``with peak_rss() as result: ...`` -> ``result.increase_bytes``: the phase's peak over its start."""
    return PeakRss(interval_s)
