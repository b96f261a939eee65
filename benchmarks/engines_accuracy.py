"""One trained classifier on every CPU engine, FP32 and INT8: top-1 on the validation photos, each INT8 against its
engine's FP32 with the paired interval.

    python benchmarks/engines_accuracy.py run/best.pt --data ../shared/data/flowers12/train --val-split 0.2 \\
        --out benchmarks/results/accuracy

CHECKPOINT is an edgecnn checkpoint (the mobilenet_v2 recipe's, trained on flowers12). Its files: the FP32 ONNX,
.pte, .tflite and ncnn .param (``edgecnn export``), INT8 placed for ONNX Runtime and for OpenVINO (``edgecnn
quantize``) and INT8 .pte / .tflite (``edgecnn quantize --for executorch|litert``), every INT8 calibrated on
--samples images of the training side of the same split (``--calib-split train``), so no validation photo is seen
before scoring. The validation side (the split training used) is scored on ort, openvino, litert, executorch and
ncnn (FP32, and FP16: ncnn's fp16 options on the same file). Per INT8 (FP16) row: its top-1 minus its engine's FP32
top-1 on the same photos, with the 95 % paired bootstrap interval and McNemar's p (``edgecnn.core.paired``).
Writes engines_accuracy.md/.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def files(checkpoint: str, data: str, val_split: float, samples: int, out: Path) -> dict[str, tuple[str, str]]:
    """label -> (file, engine), made once (files already in ``out`` are reused)."""
    from edgecnn.export import export_model
    from edgecnn.quantize import quantize_model

    out.mkdir(parents=True, exist_ok=True)
    fp32 = {fmt: out / f"model.{fmt}" for fmt in ("onnx", "pte", "tflite")}
    fp32["ncnn"] = out / "model.param"
    for fmt, path in fp32.items():
        if not path.exists():
            export_model(checkpoint, path, format=fmt)
    int8 = {"ort": out / "model_int8.onnx", "openvino": out / "model_int8_openvino.onnx",
            "litert": out / "model_int8.tflite", "executorch": out / "model_int8.pte"}
    for engine, path in int8.items():
        if not path.exists():
            source = fp32["onnx"] if path.suffix == ".onnx" else checkpoint
            quantize_model(str(source), path, calib=data, placed_for=engine, samples=samples, calib_split="train",
                           val_split=val_split, speed=False)
    return {"ort fp32": (str(fp32["onnx"]), "ort"), "ort int8": (str(int8["ort"]), "ort"),
            "openvino fp32": (str(fp32["onnx"]), "openvino"), "openvino int8": (str(int8["openvino"]), "openvino"),
            "litert fp32": (str(fp32["tflite"]), "litert"), "litert int8": (str(int8["litert"]), "litert"),
            "executorch fp32": (str(fp32["pte"]), "executorch"),
            "executorch int8": (str(int8["executorch"]), "executorch"),
            "ncnn fp32": (str(fp32["ncnn"]), "ncnn", "fp32"), "ncnn fp16": (str(fp32["ncnn"]), "ncnn", "fp16")}


def correct(path: str, engine: str, inputs: np.ndarray, targets: np.ndarray, threads: int,
            precision: str | None = None) -> np.ndarray:
    """Per photo: is the file's top-1 class on ``engine`` the label (a fixed batch of 1 runs photo by photo)."""
    from edgecnn.engines import load_runner

    with load_runner(path, engine, threads=threads, precision=precision) as runner:
        fixed = runner.input_specs[0].shape[0]
        step = fixed if isinstance(fixed, int) and fixed > 0 else 16
        logits = [runner.infer_array(inputs[i:i + step]) for i in range(0, len(inputs), step)]
    return np.concatenate(logits).argmax(1) == targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True)
    parser.add_argument("--val-split", type=float, default=0.2)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/accuracy")
    args = parser.parse_args()
    out = Path(args.out)
    from edgecnn.core.paired import describe, paired_difference
    from edgecnn.data.datasets import load_images, stratified_split
    from edgecnn.envinfo import environment
    from edgecnn.quantize.task_scores import validation_arrays
    from edgecnn.zoo import create_model

    made = files(args.checkpoint, args.data, args.val_split, args.samples, out)
    loaded = create_model(args.checkpoint)
    images = load_images(args.data, image_size=loaded.preprocess.resize, seed=args.seed)
    _, val = stratified_split(images.labels, args.val_split, args.seed)
    inputs, targets = validation_arrays(images.subset(val), loaded.preprocess, loaded.labels)
    vectors = {label: correct(path, engine, inputs, targets, args.threads, *rest)
               for label, (path, engine, *rest) in made.items()}
    rows, lines = [], ["| engine | precision | file | top-1 | INT8 (FP16) - FP32 [95 % paired interval], McNemar p |",
                       "|---|---|---|---|---|"]
    for label, (path, engine, *_) in made.items():
        precision = label.split()[1]
        row = {"label": label, "engine": engine, "precision": precision, "file": Path(path).name,
               "top1": float(vectors[label].mean()), "images": int(len(targets))}
        versus = ""
        if precision != "fp32":
            difference = paired_difference(vectors[f"{engine} fp32"], vectors[label])
            row["difference"] = difference
            versus = describe(difference, "FP32", precision.upper())
        rows.append(row)
        lines.append(f"| {engine} | {precision} | {row['file']} | {100 * row['top1']:.2f} % | {versus} |")
    env = environment(threads=args.threads)
    text = (f"{Path(args.checkpoint).name} ({loaded.spec.name}), {len(targets)} validation photos of {args.data} "
            f"(val_split {args.val_split}, seed {args.seed}); INT8 calibrated on {args.samples} training-side images; "
            f"{args.threads} threads.\nCPU: {env['cpu']['model']} ({', '.join(env['cpu']['isa'])}); "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + "\n\n" + "\n".join(lines) + "\n")
    (out / "engines_accuracy.md").write_text(text)
    (out / "engines_accuracy.json").write_text(json.dumps({"rows": rows, "environment": env}, indent=1, default=str))
    print(text)


if __name__ == "__main__":
    main()
