"""ONNX Runtime's session options for single-stream latency: worker threads spinning (its default) or not, and
inter-op threads 1 (edgecnn's) or as many as the intra-op threads; one session per process.

    python benchmarks/ort_spinning.py --calib ../shared/data/flowers12/train --rounds 5

Batch 1, --threads intra-op threads (default 2), random weights at 224 px; FP32 and INT8 (edgecnn's defaults).
Each measurement runs in a fresh process holding only that session, the settings alternate in rounds, and the
table gives the median p50 of each and its per-round ratio to edgecnn's setting (spinning on, inter-op 1) with
the interval of :mod:`edgecnn.core.rounds`. This is the question the ORT engine's defaults answer: what a process
that runs one ONNX Runtime session (``edgecnn profile``, ``infer.py``) gains or loses by each choice.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from _artifacts import export_and_quantize, output_folder, timing_arguments

SETTINGS = {"spin, inter-op 1 (edgecnn)": {"spinning": True, "inter_op": 1},
            "no spin, inter-op 1": {"spinning": False, "inter_op": 1},
            "spin, inter-op = threads": {"spinning": True, "inter_op": None}}

CHILD = r"""
import json, sys
import numpy as np
import onnxruntime as ort
from edgecnn.core.device import time_calls
args = json.loads(sys.argv[1])
options = ort.SessionOptions()
options.intra_op_num_threads = args["threads"]
options.inter_op_num_threads = args["inter_op"] or args["threads"]
if not args["spinning"]:
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
session = ort.InferenceSession(args["path"], sess_options=options, providers=["CPUExecutionProvider"])
inp = session.get_inputs()[0]
feed = {inp.name: np.random.default_rng(0).standard_normal([1] + [d if isinstance(d, int) else 224
                                                                  for d in inp.shape[1:]]).astype(np.float32)}
times = time_calls(lambda: session.run(None, feed), warmup_s=0.5, min_runs=20, min_time_s=args["seconds"])
print(json.dumps({"p50_ms": float(np.median(times))}))
"""


def measure(path: str, setting: dict, threads: int, seconds: float) -> float:
    args = json.dumps({"path": path, "threads": threads, "seconds": seconds, **setting})
    done = subprocess.run([sys.executable, "-c", CHILD, args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["p50_ms"]


def main() -> None:
    parser = timing_arguments(__doc__, models="mobilenet_v2,resnet18", rounds=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    out = output_folder(args)
    from edgecnn.core.rounds import paired_ratio
    from edgecnn.envinfo import cpu_info

    rows = []
    reference = next(iter(SETTINGS))
    for model in args.models.split(","):
        paths = export_and_quantize(model, out, args.calib, {"default": {"method": "minmax"}})
        for precision, path in (("fp32", paths["fp32"]), ("int8", paths["int8-default"])):
            rounds = {name: [] for name in SETTINGS}
            for i in range(args.rounds):
                names = list(SETTINGS) if i % 2 == 0 else list(reversed(SETTINGS))
                for name in names:
                    rounds[name].append(measure(path, SETTINGS[name], args.threads, args.seconds))
            row = {"model": model, "precision": precision, "rounds": rounds,
                   "p50_ms": {name: statistics.median(v) for name, v in rounds.items()},
                   "vs_edgecnn": {name: paired_ratio(v, rounds[reference]).describe() for name, v in rounds.items()
                                  if name != reference}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    cpu = cpu_info()
    others = [name for name in SETTINGS if name != reference]
    lines = ["| model | precision | " + " | ".join(f"{n} p50" for n in SETTINGS) + " | "
             + " | ".join(f"{n} / edgecnn's" for n in others) + " |", "|---" * (2 + len(SETTINGS) + len(others)) + "|"]
    lines += [f"| {r['model']} | {r['precision']} | " + " | ".join(f"{r['p50_ms'][n]:.2f} ms" for n in SETTINGS)
              + " | " + " | ".join(r["vs_edgecnn"][n] for n in others) + " |" for r in rows]
    text = (f"ONNX Runtime CPU, batch 1, {args.threads} intra-op threads, median of {args.rounds} alternating rounds, "
            f"each in its own process. CPU: {cpu['model']} ({', '.join(cpu['isa'])})\n\n" + "\n".join(lines) + "\n")
    (out / "ort_spinning.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
