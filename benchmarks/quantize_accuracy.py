"""INT8 top-1 drop per calibration method, on models trained with `edgecnn train`.

    python benchmarks/quantize_accuracy.py --data ../shared/data/flowers12/train \
        --checkpoints runs/resnet18/best.pt runs/mobilenet_v2/best.pt --out benchmarks/results

Calibration uses only the training side of the stratified split (--val-split, --seed: the same as
`edgecnn train`), and top-1 is measured on the validation side, through ONNX Runtime with the
preprocessing stored in each model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgecnn.data.datasets import load_images, stratified_split
from edgecnn.export import export_onnx, read_metadata
from edgecnn.quantize import QuantizeOptions, quantize_int8
from edgecnn.quantize.accuracy_aware import top1, validation_arrays
from edgecnn.zoo import create_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--checkpoints", nargs="+", required=True)
    parser.add_argument("--methods", default="minmax,entropy,percentile")
    parser.add_argument("--val-split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for checkpoint in args.checkpoints:
        loaded = create_model(checkpoint)
        name = loaded.spec.name
        fp32 = out / f"{name}_flowers.onnx"
        export_onnx(loaded, fp32, force=True)
        meta = read_metadata(fp32)
        images = load_images(args.data, image_size=meta.preprocess.resize, seed=args.seed)
        val = images.subset(stratified_split(images.labels, args.val_split, args.seed)[1])
        inputs, targets = validation_arrays(val, meta.preprocess, meta.labels)
        fp32_top1 = top1(str(fp32), inputs, targets)
        row = {"model": name, "val_images": len(val), "fp32_top1": fp32_top1}
        for method in args.methods.split(","):
            target = out / f"{name}_flowers_int8_{method}.onnx"
            quantize_int8(fp32, target, args.data, force=True, progress=False, options=QuantizeOptions(
                method=method, samples=args.samples, seed=args.seed, calib_split="train", val_split=args.val_split))
            accuracy = top1(str(target), inputs, targets)
            row[f"{method}_top1"] = accuracy
            row[f"{method}_drop"] = 100 * (fp32_top1 - accuracy)
        rows.append(row)
        print(json.dumps(row), flush=True)
    methods = args.methods.split(",")
    lines = ["| model | val images | FP32 top-1 | " + " | ".join(f"INT8 {m} top-1 (drop)" for m in methods) + " |",
             "|---|---|---|" + "---|" * len(methods)]
    for row in rows:
        cells = [f"{100 * row[f'{m}_top1']:.2f}% ({row[f'{m}_drop']:+.2f})" for m in methods]
        lines.append(f"| {row['model']} | {row['val_images']} | {100 * row['fp32_top1']:.2f}% | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    (out / "quantize_accuracy.md").write_text(table + "\n")
    (out / "quantize_accuracy.json").write_text(json.dumps(rows, indent=1))
    print(table)


if __name__ == "__main__":
    main()
