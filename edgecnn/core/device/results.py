"""Results in the schema edgecnn.results v1: one row per model, engine, precision and batch, and the device's
label."""

from __future__ import annotations

RESULTS_SCHEMA, RESULTS_VERSION = "edgecnn.results", 1
MIB = 2**20


def results_row(*, device: str, model: str, engine: str, precision: str, stats: dict, load_rss_bytes: int,
                run_rss_bytes: int, device_memory_bytes: int | None, accuracy: dict | None,
                file_size_bytes: int | None, artifact: str, warnings: list[str], phases: dict | None = None) -> dict:
    """One row of results.json: a model on an engine at a precision and a batch size, measured on a device."""
    accuracy = accuracy or {}
    return {
        "device": device, "model": model, "engine": engine, "precision": precision, "batch": stats["batch"],
        **{k: stats[k] for k in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms",
                                  "cv", "runs")},
        "throughput": stats["throughput"],
        "load_rss_mib": (load_rss_bytes or 0) / MIB, "run_rss_mib": (run_rss_bytes or 0) / MIB,
        "device_memory_mib": device_memory_bytes / MIB if device_memory_bytes is not None else None,
        "top1": accuracy.get("top1"), "top5": accuracy.get("top5"), "accuracy_images": accuracy.get("images"),
        "correct": accuracy.get("correct"),  # per image, "1"/"0": paired accuracy differences are computed from it
        "mean_iou": accuracy.get("mean_iou"), "mean_dice": accuracy.get("mean_dice"),  # segmentation
        "pixel_accuracy": accuracy.get("pixel_accuracy"),
        "verification_accuracy": accuracy.get("verification_accuracy"), "roc_auc": accuracy.get("roc_auc"),  # Siamese
        "file_size_mib": file_size_bytes / MIB if file_size_bytes is not None else None,
        "artifact": artifact, "warnings": list(warnings),
        # GPU engines: the copies apart from compute (CUDA events), as trtexec reports them
        **{k: (phases or {}).get(k) for k in ("h2d_ms", "compute_ms", "d2h_ms")},
    }


def device_label(environment: dict) -> str:
    """A short name for the device the figures were measured on."""
    gpu = environment.get("gpu")
    if gpu:
        return gpu.get("name", "GPU")
    cpu = environment.get("cpu", {})
    name = cpu.get("board") or cpu.get("model", "CPU")
    cores = cpu.get("usable_cores")
    label = f"{name} ({cores} cores)" if cores else name
    return f"{label}, emulated" if environment.get("emulated") else label
