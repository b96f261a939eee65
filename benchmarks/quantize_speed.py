"""FP32 vs INT8 latency on ONNX Runtime CPU, batch 1, measured in one run (alternating rounds).

    python benchmarks/quantize_speed.py --calib ../shared/data/flowers12/train --out benchmarks/results

For each model: export (random weights: latency does not depend on their values), quantize with
edgecnn's default op selection (and any --variants), then time every artifact alternately for
--rounds rounds of --round-s seconds, each measurement in its own process with ONNX Runtime's
defaults (spinning threads on), and report the median p50 and the INT8/FP32 ratio.
"""

from __future__ import annotations

import json

from _artifacts import export_and_quantize, output_folder, timing_arguments

# The calibration method changes scales, not the graph, so it does not change speed: minmax is used
# because it is fast and works on randomly initialised networks (whose tiny activations defeat the
# histogram methods).
VARIANTS = {
    "default": {"method": "minmax"},
    "all-ops": {"method": "minmax", "speed_aware": False},
    "conv-gemm-only": {"method": "minmax", "op_types": ["Conv", "Gemm", "MatMul"]},
}


def main() -> None:
    parser = timing_arguments(__doc__, models="resnet50,resnet18,mobilenet_v2,efficientnet_b0", rounds=12)
    parser.add_argument("--variants", default="default,all-ops,conv-gemm-only")
    parser.add_argument("--round-s", type=float, default=0.5)
    args = parser.parse_args()
    out = output_folder(args)
    from edgecnn.envinfo import environment
    from edgecnn.quantize.speed import compare_speed

    rows = []
    for model in args.models.split(","):
        paths = export_and_quantize(model, out, args.calib, {v: VARIANTS[v] for v in args.variants.split(",")})
        latency = compare_speed(paths, threads=args.threads, rounds=args.rounds, round_s=args.round_s)
        rows.append({"model": model, **{k: round(v, 3) for k, v in latency.items()}})
        print(json.dumps(rows[-1]), flush=True)
    labels = [k for k in rows[0] if k != "model"]
    lines = ["| model | " + " | ".join(f"{l} p50 ms" for l in labels) + " | " +
             " | ".join(f"{l}/fp32" for l in labels if l != "fp32") + " |",
             "|---" * (1 + len(labels) + len(labels) - 1) + "|"]
    for row in rows:
        ratios = [f"{row[l] / row['fp32']:.2f}" for l in labels if l != "fp32"]
        lines.append(f"| {row['model']} | " + " | ".join(f"{row[l]:.2f}" for l in labels) + " | " +
                     " | ".join(ratios) + " |")
    table = "\n".join(lines)
    env = environment(threads=args.threads)
    (out / "quantize_speed.md").write_text(
        f"Batch 1, {args.threads} threads, ONNX Runtime CPU, median p50 of {args.rounds} alternating rounds of "
        f"{args.round_s} s, each in its own process.\n"
        f"CPU: {env['cpu']['model']} ({', '.join(env['cpu']['isa'])}); onnxruntime "
        f"{env['versions'].get('onnxruntime')}\n\n{table}\n")
    (out / "quantize_speed.json").write_text(json.dumps({"rows": rows, "environment": env}, indent=1))
    print(table)


if __name__ == "__main__":
    main()
