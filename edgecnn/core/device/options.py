"""The device-side options, declared once as plain data: how long to time, the batch sizes, the threads.

Each declaration is the option's name, type, default, help and lower bound. edgecnn's options dataclasses build
their fields from it (:class:`edgecnn.profile.options.Timing` and ``TargetShape``, through
:func:`edgecnn.core.options.declared`), and the bundle's ``infer.py`` builds its flags from the same objects
(``--warmup-s``, ``--min-runs``, ``--min-time-s``, ``--threads``, ``--batch``) and checks their ranges with
:meth:`Declaration.problem`, so neither side restates a default, a help text or a range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Declaration:
    """One option. ``default`` of a list option (``batches``) is a tuple, each item bounded by ``min``."""

    name: str  # the field of edgecnn's options dataclass; the flag is --name-with-dashes unless ``flag`` says
    type: type  # of the value (of each item, for a list option)
    default: Any
    help: str
    min: float | None = None
    flag: str | None = None
    metavar: str | None = None

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def problem(self, value: Any) -> str | None:
        """What is wrong with ``value`` (each item of a list), or None; worded as edgecnn's option errors are."""
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if item is not None and self.min is not None and item < self.min:
                return f"must be >= {self.min:g}, got {item!r}"
        return None

    def shown_default(self) -> str | None:
        """The default as a command line writes it (``1``, ``3``, ``1,8``); None when there is none."""
        if self.default is None:
            return None
        items = self.default if isinstance(self.default, (list, tuple)) else [self.default]
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in items)

    def described(self, text: str | None = None) -> str:
        """``text`` (default: the help) with the default named before its closing "..." or "."."""
        text = text or self.help
        shown = self.shown_default()
        if shown is None:
            return text
        for tail in (" ...", "."):
            if text.endswith(tail):
                return f"{text[:-len(tail)]} (default {shown}){tail}"
        return f"{text} (default {shown})"


WARMUP_S = Declaration("warmup_s", float, 1.0, "Seconds of warm-up before timing.", min=0.0)
MIN_RUNS = Declaration("min_runs", int, 50, "Time at least this many runs ...", min=1)
MIN_TIME_S = Declaration("min_time_s", float, 3.0, "... and for at least this many seconds.", min=0.0)
BATCHES = Declaration("batches", int, (1,), "Batch sizes to time.", min=1, flag="--batch", metavar="1,8")
THREADS = Declaration("threads", int, None, "Intra-op threads (default: the engine's own).", min=1)

TIMING = (WARMUP_S, MIN_RUNS, MIN_TIME_S)  # how long to measure
DECLARATIONS = {d.name: d for d in (*TIMING, BATCHES, THREADS)}
