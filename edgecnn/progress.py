"""Progress bars for long work: tqdm on a terminal, silent when output is a file or pipe."""

from __future__ import annotations

from typing import Iterable, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str, unit: str = "it", total: int | None = None, enabled: bool = True):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit=unit, total=total, leave=False, mininterval=1.0,
                disable=None if enabled else True)
