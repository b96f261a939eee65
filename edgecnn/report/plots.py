"""The report's two plots, drawn with matplotlib (Agg backend: no display needed).

pareto.png   the task's headline metric (top-1, mean IoU) vs p50 latency, one point per device x engine x precision (its smallest
             batch), marker area proportional to the model file's size, the Pareto front drawn; a point with per-image
             results beside its FP32 reference carries a bar: the 95 % paired interval of its difference from FP32.
latency.png  p50 per engine x precision x batch as bars, whiskers to p90 and p99.
"""

from __future__ import annotations

from ..engines.registry import colour as engine_colour
from ..engines.registry import engines
from ..figures import pyplot, save_figure  # noqa: F401  (save_figure re-exported)
from ..tasks.registry import headline_key, headline_label
from .differences import accuracy_differences
from .pareto import operating_points, pareto_front

DEVICE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
PRECISION_MARKERS = {"fp32": "o", "fp16": "s", "int8": "D"}


_pyplot = pyplot


def _label(row: dict, devices: list[str], short: bool = False) -> str:
    """'ort int8'; with several devices the device too (as D1, D2, ... where space is short)."""
    base = f"{row['engine']} {row['precision']}"
    if len(devices) == 1:
        return base
    return f"{base} · {_tag(row['device'], devices) if short else row['device']}"


def _tag(device: str, devices: list[str]) -> str:
    return f"D{devices.index(device) + 1}"


def plot_pareto(rows: list[dict], title: str = ""):
    """The Pareto figure of the task's headline metric (top-1, mean IoU) against latency, or None when no row has
    it measured."""
    import math

    key = headline_key(rows)
    points = [dict(r, top1=r[key]) for r in operating_points(rows) if r.get(key) is not None]
    if not points:
        return None
    plt = _pyplot()
    devices = sorted({r["device"] for r in points})
    sizes = [r.get("file_size_mib") or 0.0 for r in points]
    biggest = max(sizes) or 1.0
    latencies = [r["p50_ms"] for r in points]
    accuracies = [100 * r["top1"] for r in points]
    fig, ax = plt.subplots(figsize=(9.5, 5.2), dpi=110)
    on_front: set[int] = set()
    for d_index, device in enumerate(devices):
        mine = [i for i, r in enumerate(points) if r["device"] == device]
        front = [mine[k] for k in pareto_front([(latencies[i], points[i]["top1"]) for i in mine])]
        on_front.update(front)
        colour = DEVICE_COLOURS[d_index % len(DEVICE_COLOURS)] if len(devices) > 1 else "#d62728"
        name = f" · {_tag(device, devices)} = {device}" if len(devices) > 1 else ""
        ax.step([latencies[i] for i in front], [accuracies[i] for i in front], where="post", linestyle="--",
                color=colour, linewidth=1.2, zorder=2, marker="x", markersize=5, label=f"Pareto front{name}")
    for i, (r, size) in enumerate(zip(points, sizes)):
        colour = DEVICE_COLOURS[devices.index(r["device"]) % len(DEVICE_COLOURS)] if len(devices) > 1 \
            else engine_colour(r["engine"])
        ax.scatter(latencies[i], accuracies[i], s=40 + 900 * size / biggest, c=colour, alpha=0.55,
                   marker=PRECISION_MARKERS.get(r["precision"], "o"), edgecolors="#d62728" if i in on_front else
                   "black", linewidths=1.8 if i in on_front else 0.6, zorder=3)
    intervals = _difference_bars(rows, points, accuracies)
    for i, (low, high) in intervals.items():
        ax.errorbar(latencies[i], accuracies[i], yerr=[[accuracies[i] - low], [high - accuracies[i]]], fmt="none",
                    ecolor="#444444", elinewidth=1.0, capsize=3, zorder=2.5)
    log_x = max(latencies) / max(min(latencies), 1e-9) > 5
    if log_x:
        from matplotlib.ticker import FormatStrFormatter, FuncFormatter

        def minor(value, _):  # label 2x and 5x of each decade only
            mantissa = round(value / 10 ** math.floor(math.log10(value)), 3) if value > 0 else 0
            return f"{value:g}" if mantissa in (2.0, 5.0) else ""

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(FuncFormatter(minor))
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlim(min(latencies) / 1.5, max(latencies) * 3.0)
    else:
        ax.set_xlim(0, max(latencies) * 1.4)  # room for the labels on the right
    spans = accuracies + [v for bar in intervals.values() for v in bar]
    pad = max(0.15 * (max(spans) - min(spans)), 1.0)  # never magnify a 0.1-point difference to full height
    ax.set_ylim(min(spans) - pad, max(spans) + pad)
    ax.set_xlabel("p50 latency (ms) at the smallest batch measured")
    ax.set_ylabel(f"{headline_label(key)} (%) on the validation images")
    ax.set_title(title or "Accuracy vs latency (marker area ∝ model file size)", fontsize=10)
    ax.grid(True, alpha=0.3)
    handles = [plt.Line2D([], [], marker=m, linestyle="", color="#555555", label=p)
               for p, m in PRECISION_MARKERS.items() if any(r["precision"] == p for r in points)]
    if intervals:
        handles.append(plt.Line2D([], [], marker="|", markersize=10, linestyle="", color="#444444",
                                  label="95 % paired interval\nof the difference\nfrom FP32"))
    if len(devices) == 1:
        handles += [plt.Line2D([], [], marker="o", linestyle="", color=e.colour, alpha=0.7, label=e.name)
                    for e in engines() if any(r["engine"] == e.name for r in points)]
    ax.legend(handles=ax.get_legend_handles_labels()[0] + handles, fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    _place_labels(fig, ax, points, sizes, devices, on_front)
    return fig


def _difference_bars(rows: list[dict], points: list[dict], accuracies: list[float]) -> dict[int, tuple[float, float]]:
    """Point index -> (low, high) in %: the point's accuracy moved by the ends of its paired interval against
    FP32 (the bar crosses the FP32 reference's level when the difference is within noise)."""
    by_key = {(d["device"], d["engine"], d["precision"]): d for d in accuracy_differences(rows)}
    bars = {}
    for i, r in enumerate(points):
        found = by_key.get((r["device"], r["engine"], r["precision"]))
        if found:
            low, high = found["interval_points"]
            base = accuracies[i] - found["difference_points"]  # the FP32 reference's accuracy
            bars[i] = (base + low, base + high)
    return bars


def _place_labels(fig, ax, points: list[dict], sizes: list[float], devices: list[str], on_front: set[int]) -> None:
    """Label every point without overlapping another label: try offsets around it, keep the first free one."""
    renderer = fig.canvas.get_renderer()
    order = sorted(range(len(points)), key=lambda i: (i not in on_front, points[i]["p50_ms"]))
    placed = []
    for i in order:
        r = points[i]
        x, y = r["p50_ms"], 100 * r["top1"]
        where = ax.transAxes.inverted().transform(ax.transData.transform((x, y)))[0]
        side = -1 if where > 0.7 else 1  # right-hand points are labelled on their left
        text = f"{_label(r, devices, short=True)}, {sizes[i]:.2f} MiB"
        label = ax.annotate(text, (x, y), fontsize=7, xytext=(9 * side, 4), textcoords="offset points", zorder=4,
                            ha="left" if side > 0 else "right", fontweight="bold" if i in on_front else "normal")
        for dy in (4, -10, 14, -20, 24, -30, 34, -40, 44, -50):
            label.xyann = (9 * side, dy)
            box = label.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
        placed.append(box)
        if dy != 4:  # moved away from its point: a thin leader line says whose label it is
            anchor = (box.x0 if side > 0 else box.x1, (box.y0 + box.y1) / 2)
            end = ax.transData.inverted().transform(anchor)
            ax.plot([x, end[0]], [y, end[1]], color="#888888", linewidth=0.5, zorder=2.5)


def plot_latency(rows: list[dict], title: str = ""):
    """The latency figure, or None when there are no rows."""
    if not rows:
        return None
    plt = _pyplot()
    devices = sorted({r["device"] for r in rows})
    ordered = sorted(rows, key=lambda r: (r["device"], r["batch"], r["engine"], r["precision"]))
    labels = [f"{_label(r, devices)} · b{r['batch']}" for r in ordered]
    p50 = [r["p50_ms"] for r in ordered]
    low = [0.0] * len(ordered)
    high90 = [max(0.0, r["p90_ms"] - r["p50_ms"]) for r in ordered]
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.38 * len(ordered)), dpi=110)
    colours = [engine_colour(r["engine"]) for r in ordered]
    y = list(range(len(ordered)))
    ax.barh(y, p50, color=colours, alpha=0.8, xerr=[low, high90], capsize=3, error_kw={"elinewidth": 1})
    ax.scatter([r["p99_ms"] for r in ordered], y, marker="|", s=120, color="black", zorder=3, label="p99")
    for yi, r in zip(y, ordered):
        ax.text(r["p99_ms"], yi, f"  {r['p50_ms']:.2f} ms · {r['throughput']:.0f} img/s", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("latency (ms): bar p50, whisker p90, tick p99")
    ax.set_title(title or "Latency per engine, precision and batch", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_xlim(0, max(r["p99_ms"] for r in ordered) * 1.45)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig




def plot_sustained(timeline: dict, title: str = ""):
    """Latency over a sustained run (``edgecnn profile --sustained``), per second, with the clock and temperature
    read between calls on a second axis; where the machine exposes neither, the figure says so."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.plot(timeline["t_s"], timeline["p50_ms"], color="#1f77b4", linewidth=1.2,
            label=f"p50 per {timeline['bin_s']:g} s (batch {timeline['batch']})")
    ax.set_xlabel("seconds from the first timed call")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(0, max(timeline["p50_ms"] or [1]) * 1.25)
    ax.grid(True, alpha=0.3)
    readings = timeline.get("readings") or []
    clock = [(r["t_s"], r["clock_mhz"]) for r in readings if r.get("clock_mhz") is not None]
    temperature = [(r["t_s"], r["temperature_c"]) for r in readings if r.get("temperature_c") is not None]
    handles, labels = ax.get_legend_handles_labels()
    if clock or temperature:
        other = ax.twinx()
        if clock:
            other.plot(*zip(*clock), color="#d62728", linewidth=1, label="clock (MHz, mean of CPUs)")
        if temperature:
            other.plot(*zip(*temperature), color="#ff7f0e", linewidth=1, linestyle="--",
                       label="temperature (degrees C, hottest zone)")
        other.set_ylabel("MHz / degrees C")
        more = other.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    else:
        ax.text(0.5, 0.06, "this machine exposes no CPU clock (cpufreq) and no temperature (thermal zones)",
                transform=ax.transAxes, ha="center", fontsize=8, color="#555555")
    ax.legend(handles, labels, fontsize=8, loc="upper right")
    ax.set_title(title or "Latency over a sustained run", fontsize=10)
    fig.tight_layout()
    return fig
