"""PyTorch eager vs ONNX Runtime (FP32, INT8) vs OpenVINO (FP32, INT8) on this CPU, in one run.

    python benchmarks/cpu_engines.py --calib ../shared/data/flowers12/train --out benchmarks/results

Batch 1, --threads threads (default 2). For each model: export FP32 ONNX, quantize INT8 with
edgecnn's defaults (minmax calibration: the method changes scales, not speed), then time every
(engine, artifact) pair in its own process, alternating in --rounds rounds, and report the median
p50. OpenVINO runs the same ONNX files (the QDQ file for INT8). Writes cpu_engines.md/.json.
"""

from __future__ import annotations

import json

from _artifacts import export_and_quantize, output_folder, timing_arguments

MODELS = "resnet18,resnet50,mobilenet_v2,mobilenet_v3_large,efficientnet_b0"


def main() -> None:
    args = timing_arguments(__doc__, models=MODELS, rounds=5).parse_args()
    out = output_folder(args)
    from edgecnn.envinfo import environment
    from edgecnn.profile.compare import alternating_latency

    rows = []
    for model in args.models.split(","):
        paths = export_and_quantize(model, out, args.calib, {"default": {"method": "minmax"}})
        fp32, int8 = paths["fp32"], paths["int8-default"]
        artifacts = {"torch eager fp32": (model, "torch"), "ort fp32": (fp32, "ort"), "ort int8": (int8, "ort"),
                     "openvino fp32": (fp32, "openvino"), "openvino int8": (int8, "openvino")}
        results = alternating_latency(artifacts, threads=args.threads, rounds=args.rounds)
        row = {"model": model, **{label: r.p50_ms for label, r in results.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    labels = [k for k in rows[0] if k != "model"]
    header = "| model | " + " | ".join(f"{l} (ms)" for l in labels) + " | best edgecnn vs torch | best edgecnn vs best openvino |"
    lines = [header, "|---" * (len(labels) + 3) + "|"]
    for row in rows:
        ours = min(row["ort fp32"], row["ort int8"])
        openvino = min(row["openvino fp32"], row["openvino int8"])
        lines.append(f"| {row['model']} | " + " | ".join(f"{row[l]:.2f}" for l in labels)
                     + f" | {row['torch eager fp32'] / ours:.1f}x faster | {ours / openvino:.2f}x |")
    env = environment(threads=args.threads)
    text = (f"Batch 1, {args.threads} threads, p50 latency (median of {args.rounds} alternating rounds, each "
            f"measurement in its own process).\nCPU: {env['cpu']['model']} ({', '.join(env['cpu']['isa'])}); "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + "\n\n" + "\n".join(lines) + "\n")
    (out / "cpu_engines.md").write_text(text)
    (out / "cpu_engines.json").write_text(json.dumps({"rows": rows, "environment": env}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
