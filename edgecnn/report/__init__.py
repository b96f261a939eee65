"""Results of ``edgecnn run`` as JSON rows, and the reports rendered from them (Markdown, HTML, plots).

Reports are rendered from ``results.json`` alone, so results measured on
different devices (a laptop, a Jetson, a Raspberry Pi) merge into one report:
``edgecnn report a.json b.json -o report.html``.
"""

from .results import build_results, load_results, merge_results, write_results

__all__ = ["build_results", "load_results", "merge_results", "write_results"]
