"""Text for one-line messages: lists and messages that stay short whatever they are given."""

from __future__ import annotations

from typing import Iterable


def bounded_list(items: Iterable[object], limit: int = 5, sep: str = ", ") -> str:
    """``a, b, c, d, e ... and 12 more``: never more than ``limit`` items, however long the input."""
    items = [str(i) for i in items]
    shown = sep.join(items[:limit])
    return shown + (f" ... and {len(items) - limit} more" if len(items) > limit else "")


def bounded_message(text: str, limit: int = 400) -> str:
    """One line of at most ``limit`` characters; what is cut is counted."""
    line = " ".join(str(text).split())
    if len(line) <= limit:
        return line
    return f"{line[:limit].rstrip()} ... ({len(line) - limit} more characters; --debug shows all)"
