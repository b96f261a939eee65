"""How much does `edgecnn profile` add per inference, against a bare `session.run` loop?

    python benchmarks/profiler_overhead.py MODEL.onnx [--threads 2] [--calls 3000]
    python benchmarks/profiler_overhead.py MODEL.onnx --end-to-end [--engines ort,openvino] [--rounds 5]

End to end (``--end-to-end``): the whole `edgecnn profile MODEL --engine E` (its p50 at batch 1, from its
--json) against a bare loop over the same file in a process of its own (the runtime's own session or compiled
model with the settings edgecnn asks for: ONNX Runtime intra-op threads, inter-op 1, its default spinning;
OpenVINO LATENCY hint, INFERENCE_NUM_THREADS, f32 inference precision), the same warm-up and timed seconds,
alternating in rounds (edgecnn first in odd rounds, the bare loop first in even ones). Per round the ratio
edgecnn p50 / bare p50; the median ratio with the spread of the rounds. For OpenVINO a second bare loop with
OpenVINO's own defaults (no precision hint: bf16 float parts on a CPU with BF16) shows what that choice costs.

In-process (the default):
On a shared machine whole-loop timings drift by 10-30 % between seconds, which would drown a 2 %
effect, so the two costs are measured where drift cancels:

1. the wrapper: bare `session.run(None, feed)` and edgecnn's `runner.infer(feed)` on the same
   session, alternating call by call, each timed with perf_counter_ns; the difference of medians;
2. the timing loop's own bookkeeping (clock reads, list append, loop tests): `measure_latency` on a
   runner whose infer returns at once.

Overhead = (wrapper difference + loop bookkeeping) / bare median. Also reports two back-to-back
`measure_latency` passes (p50 reproducibility).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BARE = r"""
import json, sys, time
import numpy as np
a = json.loads(sys.argv[1])
if a["engine"] == "ort":
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = a["threads"], 1
    session = ort.InferenceSession(a["model"], sess_options=options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    shape = [1] + [d if isinstance(d, int) else a["side"] for d in inp.shape[1:]]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    call = lambda: session.run(None, feed)
else:
    import openvino as ov
    core = ov.Core()
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": a["threads"]}
    if a["engine"] == "openvino":
        config["INFERENCE_PRECISION_HINT"] = "f32"
    compiled = core.compile_model(core.read_model(a["model"]), "CPU", config)
    request = compiled.create_infer_request()
    port = compiled.inputs[0]
    shape = [1] + [d.get_length() if d.is_static else a["side"] for d in port.get_partial_shape()[1:]]
    feed = {port.get_any_name(): np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    call = lambda: request.infer(feed)
deadline = time.perf_counter() + a["warmup_s"]
call()
while time.perf_counter() < deadline:
    call()
times, started = [], time.perf_counter()
while len(times) < a["min_runs"] or time.perf_counter() - started < a["min_time_s"]:
    t0 = time.perf_counter_ns()
    call()
    times.append((time.perf_counter_ns() - t0) / 1e6)
print(json.dumps({"p50_ms": float(np.median(times)), "runs": len(times)}))
"""


class _NullRunner:
    engine = "null"

    def infer(self, feed):
        return feed


def _edgecnn_p50(model: str, engine: str, args) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "p.json"
        subprocess.run([sys.executable, "-m", "edgecnn", "profile", model, "--engine", engine, "--threads",
                        str(args.threads), "--warmup-s", str(args.warmup_s), "--min-runs", str(args.min_runs),
                        "--min-time-s", str(args.min_time_s), "--json", str(out)], check=True, capture_output=True)
        return json.loads(out.read_text())["latency"][0]["p50_ms"]


def _bare_p50(model: str, engine: str, args) -> float:
    side = args.side
    payload = json.dumps({"model": model, "engine": engine, "threads": args.threads, "side": side,
                          "warmup_s": args.warmup_s, "min_runs": args.min_runs, "min_time_s": args.min_time_s})
    done = subprocess.run([sys.executable, "-c", BARE, payload], check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["p50_ms"]


def end_to_end(args) -> None:
    """edgecnn profile vs a bare loop, alternating processes; prints one JSON line per engine and a table row."""
    from edgecnn.core.rounds import paired_ratio
    from edgecnn.envinfo import cpu_info

    cpu = cpu_info()
    for engine in args.engines.split(","):
        bares = [engine] + (["openvino-defaults"] if engine == "openvino" else [])
        rounds: dict[str, list[float]] = {"edgecnn": [], **{b: [] for b in bares}}
        for i in range(args.rounds):
            order = ["edgecnn"] + bares if i % 2 == 0 else bares + ["edgecnn"]
            for who in order:
                p50 = _edgecnn_p50(args.model, engine, args) if who == "edgecnn" else _bare_p50(args.model, who, args)
                rounds[who].append(p50)
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]:.3f} ms" for k, v in rounds.items()), file=sys.stderr)
        for bare in bares:
            ratio = paired_ratio(rounds["edgecnn"], rounds[bare])
            row = {"model": Path(args.model).name, "engine": engine, "bare": bare, "rounds": rounds,
                   "ratio": ratio.to_dict(), "cpu": cpu["model"], "isa": cpu["isa"], "threads": args.threads}
            print(json.dumps(row), flush=True)
            print(f"| {Path(args.model).name} | {engine} vs bare {bare} | "
                  f"{statistics.median(rounds['edgecnn']):.3f} | {statistics.median(rounds[bare]):.3f} | "
                  f"{ratio.describe()} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--end-to-end", action="store_true", help="edgecnn profile vs a bare loop, in processes")
    parser.add_argument("--engines", default="ort,openvino")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--side", type=int, default=224, help="the input side where the ONNX file leaves it open")
    parser.add_argument("--warmup-s", type=float, default=1.0)  # edgecnn profile's defaults
    parser.add_argument("--min-runs", type=int, default=50)
    parser.add_argument("--min-time-s", type=float, default=3.0)
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end(args)
        return
    from edgecnn.engines import load_runner
    from edgecnn.profile.latency import measure_latency, random_feed

    runner = load_runner(args.model, "ort", threads=args.threads).activate()
    feed = random_feed(runner, 1)
    session = runner.session
    measure_latency(runner, feed, warmup_s=2.0, min_runs=10, min_time_s=0.0)
    clock = time.perf_counter_ns
    bare, wrapped = [], []
    for i in range(args.calls):
        for which in ((0, 1) if i % 2 else (1, 0)):
            t0 = clock()
            if which == 0:
                session.run(None, feed)
                bare.append(clock() - t0)
            else:
                runner.infer(feed)
                wrapped.append(clock() - t0)
    bare_ms, wrapped_ms = statistics.median(bare) / 1e6, statistics.median(wrapped) / 1e6
    loop = measure_latency(_NullRunner(), {"x": feed[next(iter(feed))]}, warmup_s=0.0, min_runs=200_000,
                           min_time_s=0.0, max_runs=200_000)
    overhead_ms = (wrapped_ms - bare_ms) + loop.mean_ms
    print(f"bare session.run median {bare_ms:.4f} ms; runner.infer median {wrapped_ms:.4f} ms "
          f"(difference {1000 * (wrapped_ms - bare_ms):+.1f} us, {args.calls} interleaved calls each)")
    print(f"timing-loop bookkeeping: {1000 * loop.mean_ms:.2f} us per run")
    print(f"overhead per inference: {1000 * overhead_ms:+.1f} us = {100 * overhead_ms / bare_ms:+.2f}% of "
          f"{bare_ms:.3f} ms")
    first = measure_latency(runner, feed, warmup_s=0.5, min_runs=50, min_time_s=3.0)
    second = measure_latency(runner, feed, warmup_s=0.5, min_runs=50, min_time_s=3.0)
    print(f"back-to-back p50: {first.p50_ms:.3f} ms and {second.p50_ms:.3f} ms "
          f"({100 * abs(first.p50_ms - second.p50_ms) / first.p50_ms:.1f}% apart); cv {100 * first.cv:.1f}%, "
          f"{100 * second.cv:.1f}%")


if __name__ == "__main__":
    main()
