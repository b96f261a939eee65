"""Matplotlib without a display, and figures written whole (a temporary name, then renamed)."""

from __future__ import annotations

import os

from .fileio import atomic_path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike) -> None:
    with atomic_path(path, force=True) as tmp:
        fig.savefig(tmp, format="png")
    pyplot().close(fig)
