"""``results.json``: one row per model x engine x precision x batch, plus the environment block.

Schema ``edgecnn.results`` version 1::

    {"schema": "edgecnn.results", "version": 1, "recipe": ..., "device": ..., "created": ...,
     "environment": {...}, "training": {...} | null, "stages": [...], "rows": [row, ...]}

Each row: device, model, engine, precision, batch, p50/p90/p95/p99/mean/std/min/max (ms),
cv, runs, throughput (images/s), load and run memory (MiB, peak RSS increase),
device memory (MiB, TensorRT), top1/top5 (fraction, on the validation images) and
how many images, file size (MiB), artifact path, warnings; the scenario (single-stream, or offline
with its streams: then the percentiles are each request's latency under load and throughput the
images/s with requests in flight), the machine's state during the timed calls (``machine``: clock,
temperature, throttling, energy) and the cold start (``cold_start``), and for a mobile file its
delegation summary.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from ..envinfo import environment
from ..core.device import RESULTS_SCHEMA, RESULTS_VERSION, device_label, results_row  # noqa: F401
from ..errors import UsageError
from .best import pick_best
from .differences import accuracy_differences
from ..fileio import atomic_path

SCHEMA, VERSION = RESULTS_SCHEMA, RESULTS_VERSION


def rows_from_profile(profile: dict, device: str) -> list[dict]:
    rows = [results_row(device=device, model=profile.get("model"), engine=profile["engine"],
                        precision=profile["precision"], stats=stats, load_rss_bytes=profile.get("load_rss_bytes", 0),
                        run_rss_bytes=profile.get("run_rss_bytes", 0),
                        device_memory_bytes=profile.get("device_memory_bytes"), accuracy=profile.get("accuracy"),
                        file_size_bytes=profile.get("file_size_bytes"), artifact=profile.get("artifact"),
                        warnings=profile.get("warnings", []),
                        phases=next((p for p in profile.get("gpu_phases") or [] if p.get("batch") == stats["batch"]),
                                    None))
            for stats in profile.get("latency", [])]
    states = {s.get("batch"): s for s in profile.get("machine_state") or []}
    for row in rows:
        row.update(scenario="single-stream", streams="1", machine=states.get(row["batch"]))
    for stats in profile.get("offline") or []:  # the offline scenario: a row per batch and streams
        row = results_row(device=device, model=profile.get("model"), engine=profile["engine"],
                          precision=profile["precision"], stats=dict(stats, runs=stats["requests"]),
                          load_rss_bytes=profile.get("load_rss_bytes", 0), run_rss_bytes=profile.get("run_rss_bytes", 0),
                          device_memory_bytes=profile.get("device_memory_bytes"), accuracy=profile.get("accuracy"),
                          file_size_bytes=profile.get("file_size_bytes"), artifact=profile.get("artifact"),
                          warnings=profile.get("warnings", []))
        rows.append(dict(row, scenario="offline", streams=stats["streams_asked"], streams_used=stats["streams"]))
    for row in rows:  # what starting the model on demand costs: the same for every row of one profile
        row["cold_start"] = profile.get("cold_start")
    if rows and profile.get("per_layer"):  # the slowest layers (at the first batch), beside a device's in the report
        rows[0]["per_layer"] = profile["per_layer"]
    summary = (profile.get("delegation") or {}).get("summary")
    for row in rows if summary else []:  # a mobile file: what XNNPACK took of it (the report's Delegation lines)
        row["delegation"] = summary
    return rows


def build_results(recipe, profiles: list[dict], stages: list[dict], *, device: str | None = None,
                  training: dict | None = None) -> dict:

    env = profiles[0]["environment"] if profiles else environment()
    env = dict(env, threads=None)  # per target; each row's profile knows its own
    device = device or device_label(env)
    rows = [row for p in profiles for row in rows_from_profile(p, device)]
    return {"schema": SCHEMA, "version": VERSION, "recipe": recipe.name, "model": recipe.model.arch,
            "device": device, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": env,
            "training": training, "recipe_settings": asdict(recipe), "stages": stages, "rows": rows}


def write_results(results: dict, path: str | os.PathLike) -> None:
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(results, indent=1, default=str))


def load_results(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UsageError(f"{path} is not JSON; give the results.json that 'edgecnn run' wrote") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UsageError(f"{path} is not an edgecnn results file (no \"schema\": \"{SCHEMA}\"); give the "
                         "results.json that 'edgecnn run' wrote")
    if data.get("version", 0) > VERSION:
        raise UsageError(f"{path} was written by a newer edgecnn (results version {data['version']}); upgrade edgecnn")
    return data


def merge_results(results: list[dict], names: list[str] | None = None) -> dict:
    """One results dict whose rows carry their device; devices with the same name get their file's name added."""
    if not results:
        raise UsageError("give at least one results.json")
    counts = Counter(r["device"] for r in results)
    merged_rows, devices, environments, stages = [], [], {}, []
    for i, result in enumerate(results):
        device = result["device"]
        if counts[device] > 1:
            device = f"{device} [{names[i] if names else i + 1}]"
        if device in devices:  # the same name and file twice: number them
            device = f"{device} #{i + 1}"
        devices.append(device)
        environments[device] = result.get("environment", {})
        for row in result["rows"]:
            merged_rows.append(dict(row, device=device))
        stages += [dict(s, device=device) for s in result.get("stages", [])]
    recipes = sorted({r.get("recipe") or "device profile" for r in results})
    return {"schema": SCHEMA, "version": VERSION, "recipe": ", ".join(recipes),
            "model": ", ".join(sorted({r.get("model") or "?" for r in results})), "device": ", ".join(devices),
            "devices": devices, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environments": environments,
            "environment": results[0].get("environment", {}) if len(results) == 1 else None,
            "training": results[0].get("training") if len(results) == 1 else None, "stages": stages,
            "rows": merged_rows, "best": pick_best(merged_rows),
            "accuracy_differences": accuracy_differences(merged_rows)}
