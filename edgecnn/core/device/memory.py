"""Code that must be identical on the host and on the device: edgecnn imports it, and every bundle
ships this file verbatim as ``edgecnn_device.py`` beside ``infer.py``.

It needs only the standard library, numpy and pillow (no torch, no onnx, no edgecnn), so it
runs wherever a bundle runs (x86-64, aarch64 boards). What lives here cannot drift between
``edgecnn profile`` on the host and ``infer.py`` on the device:

* the preprocessing contract's numpy/PIL path (``preprocess``): resize the shorter side,
  centre-crop, scale, normalise, CHW float32; greyscale, palette, RGBA and 16-bit images
  converted as edgecnn converts them;
* latency statistics (``latency_stats``): the percentiles every figure is quoted with;
* the bundle manifest check (``verify_manifest``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
PIL_FILTERS = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1, "box": 4, "hamming": 5}
MANIFEST = "manifest.sha256"


# ---------------------------------------------------------------- preprocessing (edgecnn's contract)
def pil_filter(name: str) -> int:
    try:
        return PIL_FILTERS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown interpolation {name!r}; use one of {', '.join(PIL_FILTERS)}") from None


def resized_size(width: int, height: int, shorter: int) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``shorter`` (torchvision's Resize(int) rule)."""
    if width <= height:
        return shorter, int(shorter * height / width)
    return int(shorter * width / height), shorter


def to_mode(image: Image.Image, color: str) -> Image.Image:
    """Convert any PIL image (greyscale, RGBA, palette, 16-bit) to ``color`` ("RGB" or "L")."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype="float64")
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray((array * (255.0 / peak)).clip(0, 255).round().astype("uint8"), "L")
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert(color)


def resize_and_crop(image: Image.Image, spec: dict) -> Image.Image:
    """PIL resize of the shorter side to ``spec["resize"]``, then a centre crop of ``spec["crop"]`` (h, w)."""
    image = to_mode(image, spec.get("color", "RGB"))
    width, height = image.size
    new_w, new_h = resized_size(width, height, int(spec["resize"]))
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), resample=pil_filter(spec.get("interpolation", "bilinear")))
    crop_h, crop_w = spec["crop"]
    if new_w < crop_w or new_h < crop_h:
        raise ValueError(f"image {new_w}x{new_h} after resize is smaller than the crop {crop_w}x{crop_h}")
    top = int(round((new_h - crop_h) / 2.0))
    left = int(round((new_w - crop_w) / 2.0))
    return image.crop((left, top, left + crop_w, top + crop_h))


def preprocess(image: Image.Image, spec: dict) -> np.ndarray:
    """PIL image -> CHW float32: resize, crop, scale to [0, 1], subtract mean, divide by std."""
    return _normalized(resize_and_crop(image, spec), spec)


def native_array(image: Image.Image, spec: dict) -> np.ndarray:
    """PIL image -> CHW float32 at the image's own size (segmentation tiles are cut from it): the colour
    conversion, scaling and normalization of :func:`preprocess`, without its resize and crop."""
    return _normalized(to_mode(image, spec.get("color", "RGB")), spec)


def _normalized(image: Image.Image, spec: dict) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    array = array * np.float32(spec.get("scale", 1 / 255))
    mean = np.asarray(spec["mean"], dtype=np.float32)
    std = np.asarray(spec["std"], dtype=np.float32)
    return ((array - mean) / std).transpose(2, 0, 1).copy()


# ---------------------------------------------------------------- segmentation: masks and their metrics
def confusion(prediction: np.ndarray, target: np.ndarray, classes: int) -> np.ndarray:
    """``classes`` x ``classes`` pixel counts: rows the true class, columns the predicted one."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and mask {target.shape} differ in shape")
    index = target.astype(np.int64).ravel() * classes + prediction.astype(np.int64).ravel()
    return np.bincount(index, minlength=classes * classes).reshape(classes, classes)


def segmentation_metrics(matrix: np.ndarray, classes: list[str] | None = None) -> dict:
    """Pixel accuracy, per-class IoU and Dice, mean IoU and mean Dice (classes neither present nor predicted left
    out)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    true_positive = np.diag(matrix)
    actual, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    union = actual + predicted - true_positive
    seen = union > 0
    iou = np.where(seen, true_positive / np.where(seen, union, 1), np.nan)
    dice = np.where(seen, 2 * true_positive / np.where(seen, actual + predicted, 1), np.nan)
    names = classes or [str(i) for i in range(len(matrix))]
    return {"pixel_accuracy": float(true_positive.sum() / max(matrix.sum(), 1)),
            "mean_iou": float(np.nanmean(iou)) if seen.any() else float("nan"),
            "mean_dice": float(np.nanmean(dice)) if seen.any() else float("nan"),
            "iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou)},
            "dice": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, dice)},
            "pixels": int(matrix.sum())}


def tile_plan(height: int, width: int, tile_in: int, tile_out: int) -> tuple[int, list[tuple[int, int]]]:
    """(mirror border, output-tile corners) covering an image with tiles of ``tile_out`` pixels of output each."""
    if tile_out < 1 or tile_in < tile_out or (tile_in - tile_out) % 2:
        raise ValueError(f"a tile of {tile_in} px in and {tile_out} px out cannot be centred")
    border = (tile_in - tile_out) // 2
    rows = list(range(0, max(height - tile_out, 0) + 1, tile_out))
    cols = list(range(0, max(width - tile_out, 0) + 1, tile_out))
    if rows[-1] + tile_out < height:
        rows.append(height - tile_out)
    if cols[-1] + tile_out < width:
        cols.append(width - tile_out)
    return border, [(r, c) for r in rows for c in cols]


def predict_tiled(predict: Callable[[np.ndarray], np.ndarray], image: np.ndarray, tile_in: int,
                  tile_out: int) -> np.ndarray:
    """Class scores (C x H x W) of a whole C_in x H x W ``image`` from ``predict`` (N x C_in x tile_in x tile_in
    -> N x C x tile_out x tile_out), mirroring the borders; images smaller than a tile are mirrored up to it."""
    _, height, width = image.shape
    padded_h, padded_w = max(height, tile_out), max(width, tile_out)
    border, corners = tile_plan(padded_h, padded_w, tile_in, tile_out)
    pad = ((0, 0), (border, border + padded_h - height), (border, border + padded_w - width))
    mirrored = np.pad(image, pad, mode="reflect")  # NumPy reflects repeatedly where the border exceeds the image
    scores = None
    for top, left in corners:
        tile = mirrored[None, :, top:top + tile_in, left:left + tile_in]
        out = predict(np.ascontiguousarray(tile, dtype=np.float32))[0]
        if scores is None:
            scores = np.zeros((out.shape[0], padded_h, padded_w), np.float32)
        scores[:, top:top + tile_out, left:left + tile_out] = out
    return scores[:, :height, :width]


def mask_classes(values: np.ndarray, classes: int) -> np.ndarray:
    """A mask image's pixel values as class indices: binary masks (0/255, 0/1, or grey levels split at 128) give
    0/1; class-index masks keep their values. ValueError when a value is not a class."""
    values = np.asarray(values).astype(np.int64)
    present = np.unique(values)
    if classes == 2 and set(present.tolist()) <= {0, 255}:
        return (values > 0).astype(np.int64)
    if present.max(initial=0) >= classes:
        if classes == 2:
            return (values >= 128).astype(np.int64) if present.max() > 1 else (values > 0).astype(np.int64)
        raise ValueError(f"holds class {int(present.max())}, but there are {classes} classes (0 .. {classes - 1})")
    return values


def read_mask_file(path, classes: int) -> np.ndarray:
    with Image.open(path) as image:
        values = np.asarray(image if image.mode in ("L", "P", "I", "I;16") else image.convert("L"))
    return mask_classes(values, classes)


# ---------------------------------------------------------------- similarity: pairs and verification metrics
def draw_pairs(labels, count: int, seed: int = 0) -> list[tuple[int, int, bool]]:
    """``count`` pairs of image indices, half of the same class and half of different classes, drawn
    deterministically from ``seed`` (the same labels and seed give the same pairs everywhere)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng([seed, 104729])
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    pairable = [c for c, members in by_class.items() if len(members) >= 2]
    if not pairable or len(by_class) < 2:
        raise ValueError("pairs need two classes, one of them with at least two images")
    classes = sorted(by_class)
    pairs = []
    for k in range(count):
        if k % 2 == 0:
            c = pairable[int(rng.integers(len(pairable)))]
            i, j = rng.choice(by_class[c], size=2, replace=False)
            pairs.append((int(i), int(j), True))
        else:
            a, b = rng.choice(len(classes), size=2, replace=False)
            pairs.append((int(rng.choice(by_class[classes[a]])), int(rng.choice(by_class[classes[b]])), False))
    return pairs


def roc_auc(scores, same) -> float:
    """Area under the ROC curve: the chance that a same-class pair scores above a different-class pair (ties half)."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    positives, negatives = scores[same], scores[~same]
    if not len(positives) or not len(negatives):
        return float("nan")
    order = np.argsort(np.concatenate([positives, negatives]), kind="mergesort")
    ranks = np.empty(len(order))
    values = np.concatenate([positives, negatives])[order]
    start = 0
    for end in range(1, len(values) + 1):  # average ranks over ties
        if end == len(values) or values[end] != values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return float((ranks[:len(positives)].sum() - len(positives) * (len(positives) + 1) / 2)
                 / (len(positives) * len(negatives)))


def best_threshold(scores, same) -> tuple[float, float]:
    """(threshold, accuracy): the similarity threshold (same class when score >= threshold) that decides the most
    pairs right; the midpoint between neighbouring scores, so that it generalizes no further than the data says."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[1:] + values[:-1]) / 2, [values[-1] + 1e-6]])
    accuracies = [float(np.mean((scores >= t) == same)) for t in candidates]
    best = int(np.argmax(accuracies))
    return float(candidates[best]), accuracies[best]


def verification_metrics(scores, same, threshold: float, far: float = 1e-2) -> dict:
    """Accuracy at ``threshold``, ROC-AUC, and the true-accept rate at the strictest threshold whose false-accept
    rate is at most ``far`` (with N different-class pairs, FAR steps are 1/N: say how many there were)."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    negatives = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(negatives)))  # how many different-class pairs may be accepted
    strict = negatives[allowed] + 1e-9 if allowed < len(negatives) else -np.inf
    return {"accuracy": float(np.mean((scores >= threshold) == same)), "threshold": float(threshold),
            "roc_auc": roc_auc(scores, same), "tar_at_far": float(np.mean(scores[same] >= strict)), "far": far,
            "pairs": int(len(scores)), "same_pairs": int(same.sum()), "different_pairs": int((~same).sum())}


def cosine_similarity(a, b) -> np.ndarray:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return np.sum(a * b, axis=-1)


# ---------------------------------------------------------------- the bundle's files
def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_manifest(folder: Path) -> list[str]:
    """Problems found checking every file named in manifest.sha256 (empty: all match)."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return [f"{MANIFEST} is missing"]
    problems = []
    listed = 0
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        expected, _, name = line.partition("  ")
        listed += 1
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name} does not match the manifest (it was modified or corrupted)")
    if listed == 0:
        problems.append(f"{MANIFEST} lists no files")
    return problems


# ---------------------------------------------------------------- latency statistics
def latency_stats(times_ms, batch: int) -> dict:
    """p50/p90/p95/p99, mean, std (n-1), min, max, coefficient of variation and throughput at p50."""
    data = np.asarray(times_ms, dtype=np.float64)
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if len(data) > 1 else 0.0
    p50 = float(np.percentile(data, 50))
    return {"batch": int(batch), "runs": int(len(data)), "mean_ms": mean, "std_ms": std, "min_ms": float(data.min()),
            "max_ms": float(data.max()), "p50_ms": p50, "p90_ms": float(np.percentile(data, 90)),
            "p95_ms": float(np.percentile(data, 95)), "p99_ms": float(np.percentile(data, 99)),
            "cv": std / mean if mean else 0.0, "throughput": batch * 1000.0 / p50 if p50 else 0.0}


# ---------------------------------------------------------------- memory
_PROC_SELF = Path("/proc/self")


def current_rss() -> int | None:
    """Resident set size of this process in bytes: /proc/self/statm on Linux, psutil elsewhere if present."""
    try:
        pages = int((_PROC_SELF / "statm").read_text().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except Exception:  # no psutil on this device: the caller states the fallback
        return None


def _vm_hwm() -> int | None:
    try:
        for line in (_PROC_SELF / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _reset_peak() -> bool:
    try:
        (_PROC_SELF / "clear_refs").write_text("5")
        return True
    except OSError:
        return False


SAMPLER_THREAD = "edgecnn-rss-sampler"  # the name of PeakRss's thread, where it needs one
MEMORY_PASS_RUNS = 3  # inferences per batch in the memory pass (the first allocates, the next reuse)


class PeakRss:
    """``with PeakRss() as peak: ...`` then ``peak.increase_bytes``: the phase's peak RSS over its start.

    Where the kernel's peak (VmHWM) can be reset (Linux), it is read after the phase and nothing runs beside the
    phase: the kernel records a peak before memory is unmapped, so spikes between reads are not lost. Elsewhere a
    thread (named :data:`SAMPLER_THREAD`) samples the RSS every ``interval_s``: it wakes every 2 ms, so it is
    never running while latency is timed (memory is measured in a pass of its own). Without /proc and psutil:
    ``method`` is "unavailable" and the increase 0, said in the results rather than guessed.
    """

    def __init__(self, interval_s: float = 0.002):
        self.interval_s = interval_s
        self.before_bytes = self.peak_bytes = 0
        self.method = ""
        self._thread = None

    @property
    def increase_bytes(self) -> int:
        return max(0, self.peak_bytes - self.before_bytes)

    def __enter__(self) -> "PeakRss":
        import threading

        first = current_rss()
        if first is None:
            self.method = "unavailable"
            return self
        self.before_bytes = self.peak_bytes = first
        if _reset_peak() and _vm_hwm() is not None:
            self.method = "VmHWM"
            return self
        self.method = "sampled"
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(self.interval_s):
                self.peak_bytes = max(self.peak_bytes, current_rss() or 0)

        self._thread = threading.Thread(target=sample, name=SAMPLER_THREAD, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.method == "unavailable":
            return
        candidates = [self.peak_bytes, current_rss() or 0]
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            candidates.append(self.peak_bytes)
        if self.method == "VmHWM":
            candidates.append(_vm_hwm() or 0)
        self.peak_bytes = max(candidates)


def memory_pass(call: Callable[[], object], runs: int = MEMORY_PASS_RUNS) -> PeakRss:
    """The peak RSS increase of ``runs`` calls, measured apart from any timing (see :class:`PeakRss`)."""
    with PeakRss() as peak:
        for _ in range(runs):
            call()
    return peak


# ---------------------------------------------------------------- the environment block
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_int8", "amx_bf16", "amx_tile", "asimd", "asimddp", "asimdhp", "i8mm", "bf16", "sve", "sve2")


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00 \n")
    except OSError:
        return None


# A CPU's flags can be faked, for the tests that run every ISA branch on any machine and for planning for a
# device one does not have: EDGECNN_CPU_FLAGS replaces the flags /proc/cpuinfo lists (space- or comma-separated),
# EDGECNN_CPU_ARCH the architecture, EDGECNN_CPU_MODEL the model name. The block then says "faked": true.
FAKE_FLAGS_ENV, FAKE_ARCH_ENV, FAKE_MODEL_ENV = "EDGECNN_CPU_FLAGS", "EDGECNN_CPU_ARCH", "EDGECNN_CPU_MODEL"


def cpu_info(root: str | Path = "/") -> dict:
    """CPU model, ISA flags and cores; on ARM boards also the board (device tree) and the CPU part.
    ``root``: where /proc and /sys are (a test gives a fake tree)."""
    import os
    import platform

    root = Path(root)
    model, flags, part, implementer, family_model = "", set(), None, None, {}
    for line in (_read(root / "proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("model name", "Hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key in ("cpu family", "model") and key not in family_model and value.isdigit():
            family_model[key] = value
        elif key == "CPU part" and part is None:
            part = value
        elif key == "CPU implementer" and implementer is None:
            implementer = value
    board = _read(root / "proc/device-tree/model")
    arch = platform.machine()
    faked = FAKE_FLAGS_ENV in os.environ
    if faked:
        flags = set(os.environ[FAKE_FLAGS_ENV].replace(",", " ").split())
        arch = os.environ.get(FAKE_ARCH_ENV, arch)
        model = os.environ.get(FAKE_MODEL_ENV, model)
    info = {
        "model": model or board or platform.processor() or arch,
        "arch": arch,
        "isa": [f for f in ISA_FLAGS if f in flags],
        "vnni": bool({"avx512_vnni", "avx_vnni", "asimddp"} & flags),
        "bf16": bool({"avx512_bf16", "amx_bf16", "bf16"} & flags),
        "amx": bool({"amx_int8", "amx_bf16"} & flags),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }
    if faked:
        info["faked"] = True
    if len(family_model) == 2 and not faked:  # x86: a VM may hide the generation from the model name ("AMD EPYC")
        info["family_model"] = f"{family_model['cpu family']}/{family_model['model']}"
    if board:
        info["board"] = board
    if part:
        info["cpu_part"] = part if implementer is None else f"{implementer}:{part}"
    governor = _read(root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor:
        info["governor"] = governor
    temperature = _read(root / "sys/class/thermal/thermal_zone0/temp")
    if temperature and temperature.lstrip("-").isdigit():
        info["temperature_c"] = int(temperature) / 1000
    return info


X86_ONLY_FLAGS = ("sse4_2", "avx", "avx2", "avx512f")


def looks_emulated(cpu: dict) -> bool:
    """An ARM process reading an x86 CPU's flags (or the reverse): a user-mode emulator such as qemu-user,
    which passes the host's /proc/cpuinfo through. Its latency is the emulator's, not the device's."""
    arch = str(cpu.get("arch", "")).lower()
    isa = set(cpu.get("isa", []))
    x86_flags = bool(isa & set(X86_ONLY_FLAGS))
    if arch.startswith(("aarch64", "arm")):
        return x86_flags
    if arch in ("x86_64", "amd64", "i686", "i386"):
        return bool(isa) and not x86_flags and bool(isa & {"asimd", "asimddp", "sve"})
    return False


EMULATED_WARNING = "measured under an emulator: the latency is the emulator's, not the device's"


def environment_block(threads: int | None, versions: dict[str, str], cpu: dict | None = None) -> dict:
    """What a figure needs beside it to be comparable: CPU, ISA, cores, threads, OS, Python, versions."""
    import platform

    cpu = cpu or cpu_info()
    return {"cpu": cpu, "threads": threads, "os": platform.platform(), "python": platform.python_version(),
            "versions": dict(versions), "emulated": looks_emulated(cpu)}


# ---------------------------------------------------------------- timing
def time_calls(call, *, warmup_s: float, min_runs: int, min_time_s: float, max_runs: int = 100_000) -> list[float]:
    """Warm up for ``warmup_s`` seconds, then time ``call()`` until both ``min_runs`` and ``min_time_s`` are met;
    milliseconds per call, each timed alone with perf_counter_ns (the harness is not in the figure)."""
    import time

    deadline = time.perf_counter() + warmup_s
    call()
    while time.perf_counter() < deadline:
        call()
    times: list[float] = []
    started = time.perf_counter()
    clock = time.perf_counter_ns
    while (len(times) < min_runs or time.perf_counter() - started < min_time_s) and len(times) < max_runs:
        t0 = clock()
        call()
        times.append((clock() - t0) / 1e6)
    return times


# ---------------------------------------------------------------- results (schema edgecnn.results v1)
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
