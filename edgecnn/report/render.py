"""report.md and report.html from a results dict (one run, or several devices merged).

The HTML file is self-contained (plots embedded as PNG data URIs, inline CSS, no
scripts), so it can be mailed or opened from a device's SD card as it is.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from tabulate import tabulate

from ..core.paired import describe
from ..core.text import bounded_list
from ..engines.registry import runtime_libraries

from ..fileio import atomic_path
from ..quantize.accuracy_aware import calibrations_tried
from ..quantize.layer_error import layer_table
from ..tasks.registry import headline_key, headline_label
from .best import best_lines
from .plots import plot_latency, plot_pareto, save_figure

COLUMNS = [  # (header, row key, format)
    ("device", "device", "{}"), ("engine", "engine", "{}"), ("precision", "precision", "{}"),
    ("scenario", "scenario", "{}"), ("streams", "streams", "{}"), ("batch", "batch", "{}"),
    ("p50 ms", "p50_ms", "{:.3f}"), ("p90 ms", "p90_ms", "{:.3f}"), ("p99 ms", "p99_ms", "{:.3f}"),
    ("img/s", "throughput", "{:.1f}"), ("top-1 %", "top1", "pct"), ("top-5 %", "top5", "pct"),
    ("mean IoU %", "mean_iou", "pct"), ("mean Dice %", "mean_dice", "pct"), ("pixel acc %", "pixel_accuracy", "pct"),
    ("verification %", "verification_accuracy", "pct"), ("ROC-AUC", "roc_auc", "{:.4f}"),
    ("load MiB", "load_rss_mib", "{:.1f}"), ("run MiB", "run_rss_mib", "{:.1f}"), ("file MiB", "file_size_mib", "{:.2f}"),
    ("H2D ms", "h2d_ms", "{:.3f}"), ("GPU compute ms", "compute_ms", "{:.3f}"), ("D2H ms", "d2h_ms", "{:.3f}"),
    ("GPU MiB", "device_memory_mib", "{:.1f}"),
]
OPTIONAL = ("top5", "mean_iou", "mean_dice", "pixel_accuracy", "verification_accuracy", "roc_auc", "h2d_ms", "compute_ms", "d2h_ms", "device_memory_mib")  # shown when some row has them


def _fmt(value, fmt: str) -> str:
    if value is None:
        return "–"
    if fmt == "pct":
        return f"{100 * value:.2f}"
    return fmt.format(value)


def table_rows(results: dict) -> tuple[list[str], list[list[str]]]:
    multi = len({r["device"] for r in results["rows"]}) > 1
    columns = [c for c in COLUMNS if multi or c[1] != "device"]
    columns = [c for c in columns if c[1] not in OPTIONAL or any(r.get(c[1]) is not None for r in results["rows"])]
    if all(r.get("scenario", "single-stream") == "single-stream" for r in results["rows"]):
        columns = [c for c in columns if c[1] not in ("scenario", "streams")]  # today's default: no columns for it
    if any(r.get("mean_iou") is not None or r.get("verification_accuracy") is not None for r in results["rows"]) \
            and all(r.get("top1") is None for r in results["rows"]):  # another task's run: no top-1 column
        columns = [c for c in columns if c[1] != "top1"]
    # devices side by side for each engine x precision x batch
    ordered = sorted(results["rows"], key=lambda r: (r["engine"], r["precision"], r.get("scenario", ""),
                                                     str(r.get("streams", "")), r["batch"], r["device"]))
    return [c[0] for c in columns], [[_fmt(r.get(key), fmt) for _, key, fmt in columns] for r in ordered]


DEVICE_HEADERS = ["device", "CPU / board", "arch", "cores", "ISA", "governor", "temp °C", "OS", "Python",
                  "runtime"]


def _device_rows(results: dict) -> list[list[str]]:
    """One row per device: what its figures need beside them to be compared (the environment block)."""
    envs = results.get("environments") or ({results["device"]: results["environment"]}
                                            if results.get("environment") else {})
    rows = []
    for device, env in envs.items():
        cpu = env.get("cpu", {})
        gpu = env.get("gpu")
        name = cpu.get("board") or cpu.get("model", "?")
        if cpu.get("board") and cpu.get("model") and cpu["model"] != cpu["board"]:
            name += f" ({cpu['model']})"
        if cpu.get("family_model"):
            name += f" [family/model {cpu['family_model']}]"
        if gpu:
            name += f"; GPU {gpu.get('name')}"
        versions = env.get("versions", {})
        runtime = ", ".join(f"{k} {v}" for k, v in versions.items()
                            if k in runtime_libraries())
        temperature = cpu.get("temperature_c")
        arch = cpu.get("arch", "?") + (" (emulated)" if env.get("emulated") else "")
        rows.append([device, name, arch, str(cpu.get("usable_cores", "?")),
                     " ".join(cpu.get("isa", [])) or "?", cpu.get("governor", "-"),
                     f"{temperature:.0f}" if isinstance(temperature, (int, float)) else "-",
                     env.get("os", "?"), env.get("python", "?"), runtime or "?"])
    return rows


def _stage_rows(results: dict) -> list[list[str]]:
    multi = "devices" in results and len(results.get("devices", [])) > 1
    return [([s.get("device", "")] if multi else []) +
            [s["name"], s["status"], f"{s.get('seconds', 0):.1f}", s.get("message", "")] for s in results["stages"]]


def _warnings(results: dict) -> list[str]:
    lines = [f"{r['device']} {r['engine']} {r['precision']}: {w}" for r in results["rows"] for w in r.get("warnings", [])]
    return list(dict.fromkeys(lines))  # a profile's warnings are on each of its batch rows: list them once


def _training_line(results: dict) -> str | None:
    t = results.get("training")
    if not t:
        return None
    if t.get("best_roc_auc") is not None:
        return (f"Training: best validation ROC-AUC {t['best_roc_auc']:.4f} (same/different pairs) at epoch "
                f"{t.get('best_epoch')}, decision threshold {t.get('threshold', 0):.4f}, {t.get('seconds', 0):.0f} s.")
    if t.get("best_mean_iou") is not None:
        return (f"Training: best validation mean IoU {100 * t['best_mean_iou']:.2f}% (whole images) at epoch "
                f"{t.get('best_epoch')}, {t.get('seconds', 0):.0f} s.")
    if t.get("best_top1") is None:
        return None
    return (f"Training: best validation top-1 {100 * t['best_top1']:.2f}% at epoch {t.get('best_epoch')}, "
            f"{t.get('seconds', 0):.0f} s.")


_METHODS = {"ptq": "PTQ", "ptq+fallback": "PTQ with float fallback", "qat": "quantization-aware training"}


def _qat_words(b: dict) -> str:
    q = b.get("qat")
    if not q:
        return ""
    return (f" QAT ({q['epochs']} epochs, {q['seconds']:.0f} s) reached {100 * q['top1']:.2f}% (drop "
            f"{q['drop']:.2f} points).")


def _calibration_words(b: dict) -> str:
    """' with entropy calibration' when the model written came from a calibration method the budget tried after
    the one asked for (those steps carry ``calibration``)."""
    return f" with {b['calibration']} calibration" if b.get("calibration") in calibrations_tried(b.get("steps", [])) else ""


def _budget_line(results: dict) -> str | None:
    b = results.get("accuracy_budget")
    if not b:
        return None
    kept = (f" Kept in float ({len(b['kept_float'])}): {bounded_list(b['kept_float'], limit=8)}." if b["kept_float"]
            else " Nothing had to be kept in float.")
    return (f"INT8 accuracy budget {b['max_drop']:g} points: FP32 {b.get('metric', 'top-1')} "
            f"{100 * b['fp32_top1']:.2f}%, plain INT8 "
            f"{100 * b['int8_top1']:.2f}%, final {100 * b['final_top1']:.2f}% (drop {b['final_drop']:.2f} points, "
            f"{'met' if b['met'] else 'NOT met'}, by {_METHODS.get(b.get('method'), 'PTQ')}{_calibration_words(b)}) "
            f"on {b.get('images', '?')} "
            f"validation images{' (pairs drawn from them)' if b.get('metric') == 'verification accuracy' else ''}.{kept}" + _qat_words(b)
            + (f" {describe(b['difference'])}." if b.get("difference") else ""))


def _accuracy_words(results: dict) -> str:
    """What the accuracy columns measured: 'top-1 on the validation images', 'mean IoU on the validation images
    (whole images, tiled)', 'verification accuracy on pairs of the validation images'."""
    key = headline_key(results.get("rows") or [])
    where = {"mean_iou": "the whole validation images (tiled with the model's tile size)",
             "verification_accuracy": "same/different pairs of the validation images"}.get(key, "the validation images")
    return f"{headline_label(key)} on {where}"


STARTUP_HEADERS = ["device", "engine", "precision", "process start to loaded s", "load s", "compile s",
                   "first inference ms", "clock MHz", "hottest °C", "energy mJ / inference"]


def startup_rows(rows: list[dict]) -> list[list[str]]:
    """Per device x engine x precision: the cold start (what starting the model on demand costs) and the machine's
    state during the timed calls (clock, temperature, energy), where the profile measured them."""
    seen: dict[tuple, list[str]] = {}
    for row in rows:
        cold, machine = row.get("cold_start"), row.get("machine")
        key = (row["device"], row["engine"], row["precision"])
        if key in seen or not (cold or machine) or row.get("scenario", "single-stream") != "single-stream":
            continue
        cold, machine = cold or {}, machine or {}
        clock, temp, energy = machine.get("clock_mhz"), machine.get("temperature_c"), machine.get("energy") or {}
        first = cold.get("first_inference_ms") or {}
        seen[key] = [*key, _fmt(cold.get("process_to_loaded_s"), "{:.2f}"), _fmt(cold.get("load_s"), "{:.2f}"),
                     _fmt(cold.get("compile_s"), "{:.2f}"),
                     ", ".join(f"b{b} {ms:.1f}" for b, ms in first.items()) or "–",
                     f"{clock['min']:.0f}-{clock['max']:.0f}" if isinstance(clock, dict) else "no sensor",
                     f"{temp['max']:.0f}" if isinstance(temp, dict) else "no sensor",
                     _fmt(energy.get("mj_per_inference"), "{:.2f}") if energy.get("mj_per_inference") is not None
                     else "no sensor"]
    return list(seen.values())


STARTUP_INTRO = ("Cold start: process start to model loaded (interpreter and imports included), the load itself (an "
                 "OpenVINO compile inside it), the first inference per batch before any warm-up. Machine: the CPU "
                 "clock's range, the hottest thermal zone and the energy per inference (RAPL, Jetson rails) read "
                 "between the timed calls; \"no sensor\" where the machine exposes none.")


def slowest_layers(rows: list[dict], top: int = 8) -> list[tuple[str, list[list[str]]]]:
    """Per device x engine x precision whose profile has per-layer times (``--per-layer`` on the host, ``infer.py
    --profile --per-layer`` on a device): its slowest layers, so a device's sit beside the host's."""
    found = []
    for row in sorted(rows, key=lambda r: (r["engine"], r["precision"], r["device"])):
        layers = [r for r in row.get("per_layer") or [] if not str(r.get("name", "")).startswith("[all ")]
        if layers:
            found.append((f"{row['device']}: {row['engine']} {row['precision']}, batch {row['batch']}",
                          [[str(r["name"])[:60], str(r["op"]), f"{r['mean_ms']:.3f}", f"{100 * r['share']:.1f}"]
                           for r in layers[:top]]))
    return found


LAYER_HEADERS = ["layer", "op", "ms / call", "share %"]


DELEGATION_INTRO = ("Which operators of each mobile file the XNNPACK delegate runs; those that fall back run on the "
                    "runtime's own kernels, the usual reason a mobile model is slow:")


def delegation_lines(rows: list[dict]) -> list[str]:
    """One line per mobile file profiled (engine, precision, file): its delegation summary."""
    seen: dict[tuple, str] = {}
    for row in rows:
        if row.get("delegation"):
            key = (row["engine"], row["precision"], Path(str(row.get("artifact") or "")).name)
            seen.setdefault(key, row["delegation"])
    return [f"{engine} {precision} ({name}): {summary}" for (engine, precision, name), summary in seen.items()]


def render_markdown(results: dict, images: dict[str, str]) -> str:
    headers, rows = table_rows(results)
    out = [f"# edgecnn report: {results['recipe']} ({results['model']})", "",
           f"Measured on {results['device']}, {results['created']}. Latency: p50/p90/p99 of single calls after "
           f"warm-up; memory: peak RSS increase while loading and while running; {_accuracy_words(results)}.", ""]
    placements = [f"INT8 for {engine}: {note}." for engine, note in (results.get("placement_notes") or {}).items()]
    for line in (_training_line(results), _budget_line(results), *placements, *best_lines(results.get("best") or {})):
        if line:
            out += [line, ""]
    out += [tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True), ""]
    for name in ("pareto", "latency"):
        if name in images:
            out += [f"![{name}]({images[name]})", ""]
    differences = results.get("accuracy_differences") or []
    if differences:
        multi = len({d["device"] for d in differences}) > 1
        out += ["## Accuracy differences", "", "Each against FP32 on the same validation images (paired):", ""]
        out += [f"- {d['device'] + ': ' if multi else ''}{d['line']}" for d in differences] + [""]
    startup = startup_rows(results.get("rows") or [])
    if startup:
        out += ["## Cold start and machine state", "", STARTUP_INTRO, "",
                tabulate(startup, headers=STARTUP_HEADERS, tablefmt="github", disable_numparse=True), ""]
    layers = slowest_layers(results.get("rows") or [])
    if layers:
        out += ["## Slowest layers", ""]
        for title, table in layers:
            out += [f"**{title}**", "", tabulate(table, headers=LAYER_HEADERS, tablefmt="github",
                                                 disable_numparse=True), ""]
    delegation = delegation_lines(results.get("rows") or [])
    if delegation:
        out += ["## Delegation", "", DELEGATION_INTRO, ""] + [f"- {line}" for line in delegation] + [""]
    layer = results.get("layer_error")
    if layer:
        out += ["## Per-layer INT8 error", "", _layer_error_intro(layer), "", layer_table(layer["worst"]), ""]
        if "layer_error" in images:
            out += [f"![per-layer INT8 error]({images['layer_error']})", ""]
    out += ["## Devices", "", tabulate(_device_rows(results), headers=DEVICE_HEADERS, tablefmt="github",
                                       disable_numparse=True), ""]
    stage_headers = (["device"] if "devices" in results and len(results["devices"]) > 1 else []) + \
        ["stage", "status", "seconds", "message"]
    out += ["## Stages", "", tabulate(_stage_rows(results), headers=stage_headers, tablefmt="github",
                                      disable_numparse=True), ""]
    warnings = _warnings(results)
    if warnings:
        out += ["## Warnings", ""] + [f"- {w}" for w in warnings] + [""]
    return "\n".join(out)


_CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #eef2f7; } td.text { text-align: left; }
tr:nth-child(even) td { background: #f8f9fb; }
.status-failed { color: #b00020; font-weight: bold; } .status-unavailable { color: #9a6700; }
.plots img { max-width: 100%; border: 1px solid #ddd; margin: 0.4em 0; }
.meta { color: #555; font-size: 0.9em; }
"""


def _html_table(headers: list[str], rows: list[list[str]], text_columns: int, status_column: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cls = "text" if i < text_columns or i == len(row) - 1 and status_column is not None else ""
            if status_column is not None and i == status_column:
                cls += f" status-{cell}"
            cells.append(f'<td class="{cls.strip()}">{html.escape(str(cell))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(results: dict, images: dict[str, Path]) -> str:
    headers, rows = table_rows(results)
    text_columns = headers.index("batch")
    parts = [f"<h1>edgecnn report: {html.escape(results['recipe'])} ({html.escape(results['model'])})</h1>",
             f"<p class=\"meta\">Measured on {html.escape(results['device'])}, {html.escape(results['created'])}. "
             "Latency: p50/p90/p99 of single calls after warm-up; memory: peak RSS increase while loading and while "
             f"running; {html.escape(_accuracy_words(results))}.</p>"]
    placements = [f"INT8 for {engine}: {note}." for engine, note in (results.get("placement_notes") or {}).items()]
    for line in (_training_line(results), _budget_line(results), *placements, *best_lines(results.get("best") or {})):
        if line:
            parts.append(f"<p>{html.escape(line)}</p>")
    parts += ["<h2>Results</h2>", _html_table(headers, rows, text_columns)]
    plots = []
    for name, path in images.items():  # the per-layer plot among them: self-contained, like the others
        data = base64.b64encode(Path(path).read_bytes()).decode()
        plots.append(f'<img alt="{name}" src="data:image/png;base64,{data}">')
    if plots:
        parts += ["<h2>Plots</h2>", '<div class="plots">' + "".join(plots) + "</div>"]
    startup = startup_rows(results.get("rows") or [])
    if startup:
        parts += ["<h2>Cold start and machine state</h2>", f"<p>{html.escape(STARTUP_INTRO)}</p>",
                  _html_table(STARTUP_HEADERS, startup, 3)]
    layers = slowest_layers(results.get("rows") or [])
    if layers:
        parts.append("<h2>Slowest layers</h2>")
        for title, table in layers:
            parts += [f"<p><b>{html.escape(title)}</b></p>", _html_table(LAYER_HEADERS, table, 2)]
    delegation = delegation_lines(results.get("rows") or [])
    if delegation:
        parts += ["<h2>Delegation</h2>", f"<p>{html.escape(DELEGATION_INTRO)}</p>",
                  "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in delegation) + "</ul>"]
    layer = results.get("layer_error")
    if layer:
        parts += ["<h2>Per-layer INT8 error</h2>", f"<p>{html.escape(_layer_error_intro(layer))}</p>",
                  f"<pre>{html.escape(layer_table(layer['worst']))}</pre>"]
    parts += ["<h2>Devices</h2>", _html_table(DEVICE_HEADERS, _device_rows(results), len(DEVICE_HEADERS))]
    multi = "devices" in results and len(results["devices"]) > 1
    stage_headers = (["device"] if multi else []) + ["stage", "status", "seconds", "message"]
    parts += ["<h2>Stages</h2>", _html_table(stage_headers, _stage_rows(results), 2 + multi, 1 + multi)]
    warnings = _warnings(results)
    if warnings:
        parts += ["<h2>Warnings</h2>", "<ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>"]
    title = html.escape(f"edgecnn report: {results['recipe']}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _layer_error_intro(layer: dict) -> str:
    return (f"The {len(layer['worst'])} worst of {layer['tensors']} quantized tensors of model_int8.onnx, lowest "
            f"SQNR of their own Q/DQ first, on images of {layer['images']} (every tensor: {layer['json']}). "
            "\"vs FP32\" is the INT8 model's tensor against the FP32 model's: the error accumulated up to there.")


def write_plots(results: dict, folder: str | os.PathLike) -> dict[str, Path]:
    folder = Path(folder)
    images = {}
    layer = results.get("layer_error")
    if layer and (folder / layer["plot"]).exists():
        images["layer_error"] = folder / layer["plot"]
    # latency against accuracy and per-call latency are single-stream figures (an offline request's latency is
    # measured under load); the offline rows are in the table
    single = [r for r in results["rows"] if r.get("scenario", "single-stream") == "single-stream"]
    for name, draw in (("pareto", plot_pareto), ("latency", plot_latency)):
        path = folder / f"{name}.png"
        fig = draw(single)
        if fig is not None:
            save_figure(fig, path)
            images[name] = path
        elif path.exists():
            path.unlink()
    return images


def write_reports(results: dict, folder: str | os.PathLike) -> dict[str, Path]:
    """report.md, report.html, pareto.png, latency.png in ``folder``."""
    folder = Path(folder)
    images = write_plots(results, folder)
    with atomic_path(folder / "report.md", force=True) as tmp:
        tmp.write_text(render_markdown(results, {k: v.relative_to(folder).as_posix() for k, v in images.items()}))
    with atomic_path(folder / "report.html", force=True) as tmp:
        tmp.write_text(render_html(results, images))
    return {"report.md": folder / "report.md", "report.html": folder / "report.html", **{
        f"{k}.png": v for k, v in images.items() if k != "layer_error"}}


def write_html_report(results: dict, output: str | os.PathLike) -> Path:
    """A single self-contained HTML file (``edgecnn report``); the plots are embedded, not left beside it."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgecnn-report-") as tmp:
        images = write_plots(results, tmp)
        text = render_html(results, images)
    with atomic_path(output, force=True) as tmp:
        tmp.write_text(text)
    return Path(output)
