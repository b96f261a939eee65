"""The options of ``edgecnn bundle``, declared once (see :mod:`edgecnn.core.options`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.options import check_options, opt

ARCHIVES = ("tar.gz", "zip")


@dataclass
class BundleOptions:
    archive: str | None = opt(None, "Also pack the folder as OUTPUT.tar.gz or OUTPUT.zip.", choices=ARCHIVES)

    def __post_init__(self) -> None:
        check_options(self)
