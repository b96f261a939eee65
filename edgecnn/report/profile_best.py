"""``edgecnn profile --best``: every engine x precision x artifact this machine can run (ONNX files on every CPU
engine, a ``.tflite`` on LiteRT, a ``.pte`` on ExecuTorch), timed alternately
(each measurement in its own process), accuracy measured on labelled images, and the fastest one that stays
within the accuracy budget named (:func:`~edgecnn.report.best.pick_best`, the rule ``edgecnn run`` uses).

A pick the rounds cannot make (the fastest ties with another qualifying candidate: their paired ratio's interval
holds 1) gets more rounds of the tied candidates, up to ``max_rounds``; a tie that remains is reported as one.
ONNX files with the same graph (:func:`~edgecnn.core.onnx_io.graph_fingerprint`) are one candidate per engine."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from ..core.device import device_label
from ..core.onnx_io import graph_fingerprint, load_onnx
from ..core.rounds import paired_ratio
from ..data.datasets import load_images
from ..engines import artifact_precision, load_runner
from ..engines.registry import cpu_onnx_engines, default_engine, get_engine
from ..engines.spec import MOBILE_KINDS, artifact_kind, artifact_size, bf16_problem, fp16_arithmetic
from ..envinfo import cpu_info, environment
from ..errors import UsageError
from ..evaluate import evaluate
from ..profile.compare import alternating_latency
from .best import best_lines, pick_best


@dataclass(frozen=True)
class Candidate:
    artifact: str
    engine: str
    precision: str

    @property
    def label(self) -> str:
        return f"{Path(self.artifact).name} on {self.engine} {self.precision}"


def cpu_engines() -> list[str]:
    """The CPU engines installed here (those that run ONNX files on the CPU), in the order they are tried."""
    return [e.name for e in cpu_onnx_engines() if e.available()]


def engines_of(artifact: str, engines: list[str]) -> list[str]:
    """The engines that run ``artifact`` here: the CPU ONNX engines for an ONNX file, and for a mobile file
    (``.tflite``, ``.pte``, ``.param``) the runtime that runs its kind (refused in one line when it is not installed)."""
    if artifact_kind(artifact) == "onnx":
        return engines
    declared = get_engine(default_engine(artifact))
    if not declared.available():
        raise UsageError(f"{Path(artifact).name} runs on {declared.title}, which is not installed here: "
                         f"{declared.install}")
    return [declared.name]


def held_precision(artifact: str) -> str:
    """The precision a file holds: an ONNX file's graph says it; a mobile file's metadata (inside the .tflite,
    beside the .pte) does."""
    if artifact_kind(artifact) == "onnx":
        return artifact_precision(artifact)
    return load_runner(artifact).info.extra.get("precision", "fp32")


def candidates(held: dict[str, str], engines: list[str], cpu: dict) -> list[Candidate]:
    """Every (artifact, engine, precision) worth timing: ``held`` maps each file to the precision it holds.
    An engine that lowers an FP32 file to bf16 itself (OpenVINO) also runs it in bf16 where the CPU has BF16
    arithmetic (AVX512-BF16, AMX), and one that lowers it to fp16 (ncnn, OpenVINO) in fp16 where the CPU has FP16
    arithmetic (ARM asimdhp)."""
    chosen = []
    for artifact, precision in held.items():
        for engine in engines_of(artifact, engines):
            chosen.append(Candidate(artifact, engine, precision))
            if precision == "fp32" and get_engine(engine).lowers("bf16") and bf16_problem(cpu) is None:
                chosen.append(Candidate(artifact, engine, "bf16"))
            if precision == "fp32" and get_engine(engine).lowers("fp16") and fp16_arithmetic(cpu):
                chosen.append(Candidate(artifact, engine, "fp16"))
    return chosen


def same_graphs(artifacts: list[str]) -> dict[str, str]:
    """{artifact: the first artifact given with the same graph} for each file that repeats an earlier one."""
    seen: dict[str, str] = {}
    repeats = {}
    for artifact in artifacts:
        digest = graph_fingerprint(load_onnx(artifact))
        if digest in seen:
            repeats[artifact] = seen[digest]
        else:
            seen[digest] = artifact
    return repeats


def profile_best(artifacts: list[str], data, *, threads: int | None = 2, rounds: int = 3, round_s: float = 1.0,
                 max_drop: float | None = None, engines: list[str] | None = None, max_rounds: int | None = None,
                 log=lambda line: None) -> dict:
    """Time and score each candidate; ``data`` (labelled images) gives the accuracy every choice is held to.
    Returns ``{"rows": [...], "best": {...} or None, "environment": {...}}``."""
    for artifact in artifacts:
        if artifact_kind(artifact) not in ("onnx", *MOBILE_KINDS.values()):
            raise UsageError(f"--best compares ONNX files across the CPU engines, and .tflite / .pte / ncnn .param "
                             f"files on LiteRT / ExecuTorch / ncnn; {artifact} is none of them")
        if not Path(artifact).exists():
            raise UsageError(f"{artifact} does not exist")
    repeats = same_graphs([a for a in artifacts if artifact_kind(a) == "onnx"])
    for artifact, first in repeats.items():
        log(f"{Path(artifact).name} holds the same graph as {Path(first).name}: timed once, as {Path(first).name}")
    held = {artifact: held_precision(artifact) for artifact in artifacts if artifact not in repeats}
    plan = candidates(held, engines or cpu_engines(), cpu_info())
    env = environment(threads)
    device = device_label(env)
    accuracy: dict[Candidate, dict] = {}
    if data is not None:
        for c in plan:
            runner = load_runner(c.artifact, c.engine, threads=threads, precision=c.precision)
            images = load_images(data, image_size=runner.info.preprocess.resize)
            with runner:
                result = evaluate(runner, images, batch_size=8)
            accuracy[c] = {"top1": result.top1, "correct": "".join("1" if x else "0" for x in result.correct)}
            log(f"{c.label}: top-1 {100 * result.top1:.2f}% on {result.images} images")
    spec = {c.label: (c.artifact, c.engine, c.precision) for c in plan}
    timed = {label: r.rounds_p50_ms for label, r in alternating_latency(spec, threads=threads, rounds=rounds,
                                                                        round_s=round_s, log=log).items()}

    def rows_now() -> list[dict]:
        return [{"device": device, "model": Path(c.artifact).stem, "engine": c.engine, "precision": c.precision,
                 "artifact": Path(c.artifact).name, "batch": 1, "p50_ms": statistics.median(timed[c.label]),
                 "rounds_p50_ms": list(timed[c.label]), "file_size_mib": artifact_size(c.artifact) / 2**20,
                 **accuracy.get(c, {"top1": None})} for c in plan]

    cap = max(rounds, max_rounds if max_rounds is not None else 3 * rounds)
    best = pick_best(rows_now(), max_drop).get(device)
    while best and best["ties"] and len(timed[best["fastest"]]) < cap:
        tied = [best["fastest"]] + best["ties"]  # pick_best names candidates as Candidate.label does
        log(f"{' and '.join(tied)} tie on speed: one more round of them")
        extra = alternating_latency({label: spec[label] for label in tied}, threads=threads, rounds=1,
                                    round_s=round_s, log=log)
        for label, result in extra.items():
            timed[label] += result.rounds_p50_ms
        best = pick_best(rows_now(), max_drop).get(device)
    return {"rows": rows_now(), "best": best, "environment": env, "rounds": rounds, "threads": threads,
            "same_graph": {Path(a).name: Path(b).name for a, b in repeats.items()}}


def format_best(result: dict) -> str:
    best = result["best"]
    pick = next((r for r in result["rows"] if best and r["artifact"] == best["artifact"] and
                 r["engine"] == best["engine"] and r["precision"] == best["precision"]), None)
    lines = [f"{'artifact':<36} {'engine':<9} {'precision':<9} {'p50 ms':>9} {'top-1':>8} {'rounds':>6}  "
             "p50 / pick's (per-round median [interval])"]
    for r in sorted(result["rows"], key=lambda r: r["p50_ms"]):
        top1 = "" if r.get("top1") is None else f"{100 * r['top1']:.2f}%"
        versus = "the pick" if r is pick else paired_ratio(r["rounds_p50_ms"], pick["rounds_p50_ms"]).describe() \
            if pick else ""
        lines.append(f"{r['artifact']:<36} {r['engine']:<9} {r['precision']:<9} {r['p50_ms']:>9.3f} {top1:>8} "
                     f"{len(r['rounds_p50_ms']):>6}  {versus}")
    lines.append(f"(batch 1, {result['threads']} threads, median of at least {result['rounds']} alternating rounds, "
                 "each in its own process)")
    for repeat, first in result.get("same_graph", {}).items():
        lines.append(f"{repeat}: the same graph as {first}, timed as that one")
    if best is None:
        lines.append("No candidate meets the accuracy budget.")
    else:
        lines += best_lines({result["rows"][0]["device"]: best})
    return "\n".join(lines)
