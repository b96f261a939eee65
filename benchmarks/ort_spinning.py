"""ONNX Runtime with its worker threads spinning (its default) or not, one engine per process.

    python benchmarks/ort_spinning.py --calib ../shared/data/flowers12/train --rounds 5

Batch 1, --threads threads (default 2), random weights at 224 px; FP32 and INT8 (edgecnn's
defaults). Each measurement runs in a fresh process holding only that session, and the two
settings alternate in rounds; the table gives the median p50 and the ratio off/on. This is
the question the ORT engine's default answers: what does a process that runs one ONNX Runtime
session (``edgecnn profile``, ``infer.py``) gain or lose by spinning.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from _artifacts import export_and_quantize, output_folder, timing_arguments

CHILD = r"""
import json, sys
from edgecnn.engines.ort_engine import OrtRunner
from edgecnn.profile.latency import measure_latency, random_feed
args = json.loads(sys.argv[1])
with OrtRunner(args["path"], threads=args["threads"], spinning=args["spinning"]) as runner:
    stats = measure_latency(runner, random_feed(runner, 1), warmup_s=0.5, min_runs=20, min_time_s=args["seconds"])
print(json.dumps({"p50_ms": stats.p50_ms}))
"""


def measure(path: str, spinning: bool, threads: int, seconds: float) -> float:
    args = json.dumps({"path": path, "spinning": spinning, "threads": threads, "seconds": seconds})
    done = subprocess.run([sys.executable, "-c", CHILD, args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["p50_ms"]


def main() -> None:
    parser = timing_arguments(__doc__, models="mobilenet_v2,resnet18", rounds=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    out = output_folder(args)
    from edgecnn.envinfo import cpu_info

    rows = []
    for model in args.models.split(","):
        paths = export_and_quantize(model, out, args.calib, {"default": {"method": "minmax"}})
        for precision, path in (("fp32", paths["fp32"]), ("int8", paths["int8-default"])):
            on, off = [], []
            for _ in range(args.rounds):
                on.append(measure(path, True, args.threads, args.seconds))
                off.append(measure(path, False, args.threads, args.seconds))
            row = {"model": model, "precision": precision, "spinning_on_ms": statistics.median(on),
                   "spinning_off_ms": statistics.median(off), "rounds_on": on, "rounds_off": off}
            row["off_over_on"] = row["spinning_off_ms"] / row["spinning_on_ms"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    cpu = cpu_info()
    lines = ["| model | precision | spinning on p50 | spinning off p50 | off / on |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['precision']} | {r['spinning_on_ms']:.2f} ms | {r['spinning_off_ms']:.2f} ms | "
              f"{r['off_over_on']:.2f} |" for r in rows]
    text = (f"ONNX Runtime CPU, batch 1, {args.threads} threads, median of {args.rounds} alternating rounds, each "
            f"in its own process. CPU: {cpu['model']} ({', '.join(cpu['isa'])})\n\n" + "\n".join(lines) + "\n")
    (out / "ort_spinning.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
