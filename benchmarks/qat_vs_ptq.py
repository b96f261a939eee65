"""FP32 vs PTQ vs PTQ with float fallback vs QAT: validation top-1 and ONNX Runtime latency of each INT8 model.

    python benchmarks/qat_vs_ptq.py --checkpoint runs/efficientnet_b0/<run>/artifacts/model.pt \\
        --data ../shared/data/flowers12/train --max-drop 1 --qat-epochs 3 --out benchmarks/results

The checkpoint's own stratified split (--val-split, --seed: the recipe's) decides the images: calibration and
QAT use the training side, every top-1 is measured on the validation side. PTQ is ``edgecnn quantize``'s
default; the fallback is the accuracy budget (--max-drop) keeping the most sensitive nodes in float; QAT is
``edgecnn train CHECKPOINT --qat --epochs N``. Each difference from FP32 comes with its paired interval. Latency:
batch 1, --threads, each model in its own process, alternating in --rounds rounds, median p50.
Writes qat_vs_ptq.md/.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _short(d: dict) -> str:
    low, high = d["interval_points"]
    return (f"{d['difference_points']:+.2f} [{low:+.2f}, {high:+.2f}], McNemar p {d['mcnemar_p']:.2g}"
            + (" (real)" if d["significant"] else " (within noise)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--val-split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-drop", type=float, default=1.0)
    parser.add_argument("--qat-epochs", type=int, default=3)
    parser.add_argument("--qat-lr", type=float, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from edgecnn.core.paired import describe, paired_difference
    from edgecnn.data.datasets import train_val
    from edgecnn.envinfo import environment
    from edgecnn.export import export_onnx
    from edgecnn.profile.compare import alternating_latency
    from edgecnn.quantize import QuantizeOptions, quantize_int8
    from edgecnn.quantize.accuracy_aware import correct_vector, quantize_with_budget, validation_arrays
    from edgecnn.quantize.qat import qat_finetune
    from edgecnn.train_options import TrainOptions
    from edgecnn.zoo import create_model

    loaded = create_model(args.checkpoint)
    stem = out / f"{loaded.spec.name}_qat_vs_ptq"
    paths = {"fp32": f"{stem}_fp32.onnx", "ptq": f"{stem}_ptq.onnx", "ptq+fallback": f"{stem}_fallback.onnx"}
    seconds = {}
    export_onnx(loaded, paths["fp32"])
    options = QuantizeOptions(calib_split="train", val_split=args.val_split, seed=args.seed)
    started = time.perf_counter()
    quantize_int8(paths["fp32"], paths["ptq"], args.data, options=options, force=True, progress=False)
    seconds["ptq"] = time.perf_counter() - started
    val_images = train_val(args.data, val_split=args.val_split, image_size=loaded.preprocess.resize,
                           seed=args.seed)[1]
    started = time.perf_counter()
    budget = quantize_with_budget(paths["fp32"], paths["ptq+fallback"], args.data, val_images, options=options,
                                  max_drop=args.max_drop, force=True, progress=False, log=print)
    seconds["ptq+fallback"] = time.perf_counter() - started
    qat = qat_finetune(args.checkpoint, args.data, out / f"{loaded.spec.name}_qat", options=TrainOptions(epochs=args.qat_epochs, lr=args.qat_lr), val_split=args.val_split, seed=args.seed, force=True, progress=False, log=print)
    paths["qat"], seconds["qat"] = qat.onnx, qat.seconds

    inputs, targets = validation_arrays(val_images, loaded.preprocess, list(loaded.labels))
    correct = {name: correct_vector(path, inputs, targets) for name, path in paths.items()}
    latency = alternating_latency({name: (path, "ort") for name, path in paths.items()}, threads=args.threads,
                                  rounds=args.rounds)
    rows = []
    for name in paths:
        difference = None if name == "fp32" else paired_difference(correct["fp32"], correct[name])
        rows.append({"model": name, "top1": float(correct[name].mean()), "p50_ms": latency[name].p50_ms,
                     "seconds": seconds.get(name), "difference": difference,
                     "words": _short(difference) if difference else "", "line": describe(difference) if difference else ""})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "difference"}), flush=True)
    env = environment(threads=args.threads)
    lines = ["| model | val top-1 | vs FP32, points [95 % paired interval] | ORT p50 ms | time to make (s) |", "|---|---|---|---|---|"]
    for r in rows:
        made = "" if r["seconds"] is None else f"{r['seconds']:.0f}"
        lines.append(f"| {r['model']} | {100 * r['top1']:.2f} % | {r['words'] or '-'} | {r['p50_ms']:.2f} | {made} |")
    kept = len(budget.kept_float)
    tried = ", ".join(f"{step['calibration']} {100 * step['top1']:.2f} %" for step in budget.steps if step.get("calibration"))
    text = (f"{loaded.spec.name} from {args.checkpoint}; {len(targets)} validation images of {args.data} "
            f"(split {args.val_split}, seed {args.seed}). The ptq+fallback row is the accuracy budget's model: budget "
            f"{args.max_drop} points, {budget.method} with {budget.calibration} calibration"
            + (f" (other calibration methods tried: {tried})" if tried else "") + f", {kept} nodes kept "
            f"in float ({'met' if budget.met else 'NOT met'}). QAT: {args.qat_epochs} epochs at lr {qat.lr:g}, "
            f"INT8-simulated top-1 {100 * qat.simulated_top1_before:.2f} % before, "
            f"{100 * qat.simulated_top1[-1]:.2f} % after.\nLatency: batch 1, {args.threads} threads, median of "
            f"{args.rounds} alternating rounds, each in its own process. CPU: {env['cpu']['model']} (family/model "
            f"{env['cpu'].get('family_model', '?')}; ISA {' '.join(env['cpu']['isa'])}); "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + "\n\n" + "\n".join(lines) + "\n")
    (out / "qat_vs_ptq.md").write_text(text)
    (out / "qat_vs_ptq.json").write_text(json.dumps({"rows": rows, "budget": budget.to_dict(),
                                                     "qat": qat.to_dict(), "environment": env}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
