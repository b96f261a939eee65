"""``profile``: latency percentiles, memory, accuracy and per-layer times of one artifact on one engine.

Results are plain dataclasses with an environment block, serialised to JSON,
so reports are rendered from JSON only and results from several devices merge.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..core.device import SensorLog, cold_start, rank_layers
from ..core.options import options_or_keywords
from ..engines import artifact_precision, default_engine, get_engine, load_runner
from ..engines.base import Runner
from ..engines.spec import artifact_size
from ..engines.third_party import upgraded
from ..envinfo import environment
from ..errors import EdgeCNNError, UsageError
from ..fileio import atomic_path
from ..tasks.registry import task_of
from .latency import LatencyStats, measure_latency, random_feed
from .memory import memory_pass, peak_rss
from .scenarios import run_offline
from .options import ProfileOptions, ProfileSettings  # noqa: F401  (re-exported)

CV_WARNING = 0.05


@dataclass
class ProfileResult:
    artifact: str
    engine: str
    precision: str
    model: str
    file_size_bytes: int | None
    load_rss_bytes: int
    run_rss_bytes: int
    device_memory_bytes: int | None
    latency: list[LatencyStats] = field(default_factory=list)
    gpu_phases: list[dict] | None = None
    executed_precision: str | None = None  # what the engine says it ran the float parts in (OpenVINO, torch bf16)  # GPU engines: per batch, copies in and out apart from compute
    accuracy: dict | None = None
    per_layer: list[dict] | None = None
    delegation: dict | None = None  # a mobile file: which operators XNNPACK took, which fell back (DelegationReport)
    cold_start: dict | None = None  # what an app that starts the model on demand pays: load, compile, first inference
    machine_state: list[dict] = field(default_factory=list)  # per batch: clock, temperature, throttling, energy
    timeline: dict | None = None  # --sustained: latency over time, with the clock and temperature read
    scenarios: list[str] = field(default_factory=lambda: ["single-stream"])  # single-stream: latency; offline: offline
    offline: list[dict] = field(default_factory=list)  # per batch and streams: images/s, requests, request latency
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["latency"] = [s.to_dict() for s in self.latency]
        return data

    def write_json(self, path: str | os.PathLike) -> None:
        with atomic_path(path, force=True) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=1, default=str))


def _check_batches(runner: Runner, batches: tuple[int, ...]) -> None:
    fixed = runner.input_specs[0].shape[0]
    if isinstance(fixed, int) and fixed > 0:
        other = [b for b in batches if b != fixed]
        if other:
            raise UsageError(f"this model has a fixed batch of {fixed}; export it with --batch dynamic to profile "
                             f"batch {', '.join(map(str, other))}")


def _per_layer(runner: Runner, feed, settings) -> list[dict] | None:
    rows = runner.per_layer(feed, runs=20)
    return None if rows is None else rank_layers(rows, settings.top_layers)


def precision_mismatch(asked: str, executed: str | None, engine: str) -> str | None:
    """The warning a profile carries when the engine ran the float parts in another precision than was asked
    (OpenVINO honours a bf16 hint only where the CPU has BF16 arithmetic), else None."""
    if asked == "bf16" and executed and not executed.startswith("bf16"):
        return f"bf16 was asked for, and {engine} ran {executed}"
    return None


def executed_label(held: str, executed: str | None) -> str | None:
    """What the engine ran, in words that say it: OpenVINO names the precision of an INT8 file's float parts
    (the Q/DQ regions run int8): "int8 (float parts f32)", not "f32"."""
    if executed and held == "int8" and not executed.startswith("int8"):
        return f"int8 (float parts {executed})"
    return executed


def latency_timeline(starts: list[float], times: list[float], sensors: SensorLog, batch: int,
                     bin_s: float = 1.0) -> dict:
    """Per ``bin_s`` seconds of a sustained run: the median latency and the calls, beside the sensor readings
    (clock, temperature) taken between calls, all in seconds from the first timed call."""
    bins: dict[int, list[float]] = {}
    for start, ms in zip(starts, times):
        bins.setdefault(int(start // bin_s), []).append(ms)
    origin = sensors.samples[0]["t"] if sensors.samples else 0.0
    readings = [{"t_s": s["t"] - origin,
                 "clock_mhz": (sum(c["cur_khz"] for c in s["cpufreq"].values()) / len(s["cpufreq"]) / 1000
                               if s["cpufreq"] else None),
                 "temperature_c": max(s["thermal"].values()) if s["thermal"] else None} for s in sensors.samples]
    return {"batch": batch, "bin_s": bin_s, "t_s": [k * bin_s for k in sorted(bins)],
            "p50_ms": [statistics.median(bins[k]) for k in sorted(bins)],
            "calls": [len(bins[k]) for k in sorted(bins)], "readings": readings}


def _delegation(engine: str, artifact: str, warnings: list[str]) -> dict | None:
    """The delegation report of an engine that has one (LiteRT, ExecuTorch), with its one-line summary; where it
    cannot be read, a warning instead."""
    declared = get_engine(engine)
    if declared.delegation is None:
        return None
    try:
        report = declared.delegation(artifact)
    except EdgeCNNError as exc:
        warnings.append(f"no delegation report: {exc}")
        return None
    return dict(report.to_dict(), summary=report.summary())


def profile(artifact: str | os.PathLike, engine: str | None = None, *, precision: str | None = None,
            settings: ProfileSettings | None = None, data=None, log=lambda line: None, **options) -> ProfileResult:
    """Latency percentiles, memory, accuracy and per-layer times of one artifact on one engine (``edgecnn profile``).

    Args:
        artifact: a ``.onnx`` file, a TensorRT ``.engine``, or a zoo name / edgecnn checkpoint (PyTorch).
        engine: a registered engine's name (``edgecnn profile --help`` lists them with what each can run); default:
            the one that runs the artifact's kind (ONNX Runtime for ``.onnx``, TensorRT for ``.engine``, PyTorch for
            a model). A request the engine cannot run is refused before any work.
        precision: check the artifact holds this precision (never converted silently); engines that lower an FP32
            model themselves (OpenVINO fp16/bf16, PyTorch bf16) run it in that precision.
        settings: a :class:`~edgecnn.profile.options.ProfileOptions`, or its fields as keywords instead:
            ``batches`` (``[1, 8]``), ``threads``, ``warmup_s``, ``min_runs``, ``min_time_s``, ``per_layer``.
        data: labelled images (a folder, ``"synthetic:shapes"`` or an ImageList): adds the task's accuracy
            (top-1/top-5, mean IoU, verification accuracy).
        log: called with a line per batch timed.

    Returns:
        :class:`ProfileResult` (``write_json(path)`` saves it with its environment block).
    """
    artifact = str(artifact)
    settings = options_or_keywords(ProfileSettings, settings, options)
    notes: list[str] = []
    path = Path(artifact)
    if path.suffix == ".onnx" and path.exists():
        run_path, note = upgraded(path)
        if note:
            notes.append(note)
    else:
        run_path = artifact
    declared = get_engine(engine or default_engine(str(run_path)))
    if settings.sustained_s and "single-stream" not in settings.scenarios:
        raise UsageError("--sustained times single-stream calls over time: add single-stream to --scenario")
    for scenario in settings.scenarios:
        if scenario not in declared.scenarios:
            raise UsageError(f"{declared.name} runs the {' and '.join(declared.scenarios)} scenario"
                             f"{'s' if len(declared.scenarios) > 1 else ''}, not {scenario} (ort and openvino run "
                             "offline)")
    loading = time.perf_counter()
    with peak_rss() as load_mem:  # building the model (torch) or the session (ONNX Runtime, OpenVINO, TensorRT)
        runner = load_runner(run_path, engine, threads=settings.threads, precision=precision,
                             per_layer=settings.per_layer)
        runner.activate()
    loaded = time.perf_counter()
    notes += runner.info.extra.get("notes", [])
    executed = runner.info.extra.get("executed_precision")
    try:
        _check_batches(runner, settings.batches)
        latency, warnings, states = [], [], []
        feeds = {batch: random_feed(runner, batch) for batch in settings.batches}
        first: dict[int, float] = {}

        def each_batch_once() -> None:
            for batch, feed in feeds.items():
                started = time.perf_counter()
                runner.infer(feed)
                first.setdefault(batch, 1000 * (time.perf_counter() - started))

        # memory in a pass of its own (its first calls are the cold start's first inferences): nothing of
        # edgecnn's runs beside the timed window
        run_mem = memory_pass(each_batch_once)
        cold = cold_start(loading, loaded, first, runner.info.extra.get("compile_s"))
        timeline = None
        offline = []
        for batch, feed in feeds.items() if "offline" in settings.scenarios else ():
            for streams in settings.streams:
                done = run_offline(runner, feed, streams, settings.min_time_s, settings.warmup_s)
                offline.append(done)
                log(f"batch {batch}, streams {streams} ({done.streams}): {done.throughput:.1f} images/s over "
                    f"{done.requests} requests, p50 {done.p50_ms:.3f} ms a request")
        for i, (batch, feed) in enumerate(feeds.items() if "single-stream" in settings.scenarios else ()):
            sustained = settings.sustained_s if i == 0 else None
            starts, times = ([], []) if sustained else (None, None)
            sensors = SensorLog()
            sensors.start()
            stats = measure_latency(runner, feed, warmup_s=settings.warmup_s, min_runs=settings.min_runs,
                                    min_time_s=sustained or settings.min_time_s, between=sensors.read,
                                    starts=starts, times=times)
            state = dict(sensors.stop(stats.runs), batch=batch)
            if state["energy"].get("mj_per_inference") is not None:
                state["energy"]["mj_per_image"] = state["energy"]["mj_per_inference"] / batch
            states.append(state)
            latency.append(stats)
            log(f"batch {batch}: p50 {stats.p50_ms:.3f} ms over {stats.runs} runs")
            if stats.cv > CV_WARNING:
                warnings.append(f"batch {batch}: latency varies by {100 * stats.cv:.1f}% (coefficient of "
                                "variation > 5%): the machine is busy or the run too short; figures are noisy")
            warnings += [f"batch {batch}: {flag}" for flag in state["flags"]]
            if sustained:
                timeline = latency_timeline(starts, times, sensors, batch)
        accuracy = None
        if data is not None:  # the task's figures: top-1, mean IoU on images with masks, verification on pairs
            accuracy, problems = task_of(runner.info.task).function("profile_accuracy")(runner, data,
                                                                                         max(settings.batches))
            warnings += problems  # e.g. the model's classes are not the data's: the latency figures stand
        per_layer = _per_layer(runner, random_feed(runner, settings.batches[0]), settings) \
            if settings.per_layer else None
        if settings.per_layer and per_layer is None:
            warnings.append(f"no per-layer times from {runner.engine}: its profiler is "
                            f"{get_engine(runner.engine).profiler or 'none'}")
        device_memory = getattr(runner, "device_memory_bytes", None)  # what an engine on a GPU says it holds
        gpu_phases = None
        if hasattr(runner, "transfer_phases"):  # GPU engines: trtexec-style H2D / compute / D2H by CUDA events
            gpu_phases = [dict(runner.transfer_phases(random_feed(runner, batch)), batch=batch)
                          for batch in settings.batches]
    finally:
        runner.deactivate()
    delegation = _delegation(runner.engine, str(run_path), warnings)
    held = precision
    if held is None:
        held = artifact_precision(run_path) if str(run_path).endswith(".onnx") else \
            runner.info.extra.get("precision", "fp32")
    mismatch = precision_mismatch(held, executed, runner.engine)
    executed = executed_label(held, executed)
    if mismatch:
        warnings.append(mismatch)
    return ProfileResult(
        artifact=str(artifact), engine=runner.engine, precision=held, model=runner.info.architecture,
        file_size_bytes=artifact_size(str(path)), load_rss_bytes=load_mem.increase_bytes,
        run_rss_bytes=run_mem.increase_bytes, device_memory_bytes=device_memory, latency=latency,
        gpu_phases=gpu_phases, executed_precision=executed,
        accuracy=accuracy, per_layer=per_layer, delegation=delegation, cold_start=cold, machine_state=states,
        timeline=timeline, scenarios=list(settings.scenarios), offline=[o.to_dict() for o in offline], warnings=warnings, notes=notes,
        settings=asdict(settings), environment={**environment(settings.threads, with_gpu=get_engine(runner.engine).gpu),
                                                "memory_method": load_mem.method},
    )
