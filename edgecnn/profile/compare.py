"""Latency of several artifacts measured in one run, alternating in rounds, each in its own process.

The machine's speed drifts (other work, thermal state); measuring A, B, C, A,
B, C, ... and taking each one's median p50 over the rounds makes their *ratio*
trustworthy even when absolute figures move. Each measurement runs in a fresh
process with the engine's default settings (ONNX Runtime's spinning worker
threads on, as users get them): two sessions in one process disturb each
other, and turning spinning off to avoid that costs up to 50 % on 2 cores,
which would misstate what users see.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import dataclass

from ..errors import EdgeCNNError

_CHILD = r"""
import json, sys
from edgecnn.engines import load_runner
from edgecnn.profile.latency import measure_latency, random_feed
args = json.loads(sys.argv[1])
runner = load_runner(args["artifact"], args["engine"], threads=args["threads"], precision=args["precision"])
with runner:
    feed = random_feed(runner, args["batch"])
    stats = measure_latency(runner, feed, warmup_s=args["warmup_s"], min_runs=10, min_time_s=args["round_s"])
print(json.dumps(stats.to_dict()))
"""


@dataclass
class RoundsResult:
    label: str
    p50_ms: float  # median over rounds of each round's p50
    rounds_p50_ms: list[float]


def measure_in_subprocess(artifact: str, engine: str | None, threads: int | None, batch: int = 1,
                          round_s: float = 1.0, warmup_s: float = 0.5, precision: str | None = None) -> dict:
    args = json.dumps({"artifact": str(artifact), "engine": engine, "threads": threads, "batch": batch,
                       "round_s": round_s, "warmup_s": warmup_s, "precision": precision})
    done = subprocess.run([sys.executable, "-c", _CHILD, args], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EdgeCNNError(f"timing {artifact} on {engine or 'its default engine'} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def alternating_latency(artifacts: dict[str, tuple], *, threads: int | None = 2, batch: int = 1,
                        rounds: int = 5, round_s: float = 1.0, warmup_s: float = 0.5,
                        log=lambda line: None) -> dict[str, RoundsResult]:
    """``artifacts``: label -> (path or zoo name, engine[, precision]). Median p50 per label over ``rounds``
    rounds."""
    samples: dict[str, list[float]] = {label: [] for label in artifacts}
    for round_number in range(rounds):
        for label, (artifact, engine, *precision) in artifacts.items():
            stats = measure_in_subprocess(artifact, engine, threads, batch, round_s, warmup_s,
                                          precision[0] if precision else None)
            log(f"round {round_number + 1}/{rounds} {label}: p50 {stats['p50_ms']:.3f} ms")
            samples[label].append(stats["p50_ms"])
    return {label: RoundsResult(label, statistics.median(v), v) for label, v in samples.items()}
