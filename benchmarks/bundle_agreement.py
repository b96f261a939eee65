"""Does a bundle's standalone infer.py, run in another Python (a venv without torch or edgecnn), give what edgecnn
gives for the same model and images?

    python benchmarks/bundle_agreement.py BUNDLE MODEL.onnx --data DIR --python /path/to/venv/bin/python

Segmentation (U-Net): ``infer.py DIR/image --json --out masks/`` writes one mask PNG per image; each is compared
with edgecnn's own tiled prediction of MODEL on ONNX Runtime (IoU of the two masks; goal >= 0.99 on every image).
Similarity (Siamese): ``infer.py A B --json`` on --pairs same/different pairs drawn from the validation side of
DIR (the recipe's split: --val-split, --seed); each similarity and decision is compared with edgecnn's (cosine of
MODEL's embeddings at the threshold in its metadata). Exit code 1 when an image or pair disagrees.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def run_infer(python: str, bundle: Path, *args: str) -> list[dict]:
    done = subprocess.run([python, str(bundle / "infer.py"), *args, "--json"], capture_output=True, text=True,
                          cwd=bundle)
    if done.returncode:
        sys.exit(f"infer.py failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def segmentation(args, bundle: Path) -> bool:
    from PIL import Image

    from edgecnn.data.segmentation import scan_mask_folder
    from edgecnn.engines import load_runner
    from edgecnn.evaluate import runner_predictor
    from edgecnn.tasks.segmentation import image_array, mask_iou, predict_tiled

    data = scan_mask_folder(args.data)
    with tempfile.TemporaryDirectory(prefix="edgecnn-agree-") as tmp:
        lines = run_infer(args.python, bundle, str(Path(args.data) / "image"), "--out", tmp)
        runner = load_runner(args.model, "ort")
        ious = {}
        with runner:
            predict = runner_predictor(runner)
            tile_in = runner.info.input_size[1]
            tile_out = predict(np.zeros((1, *runner.info.input_size), np.float32)).shape[-1]
            names = {Path(n).stem: i for i, n in enumerate(data.names)}
            for line in lines:
                index = names[Path(line["image"]).stem]
                mine = predict_tiled(predict, image_array(data.image(index), runner.info.preprocess), tile_in,
                                     tile_out).argmax(0)
                theirs = np.asarray(Image.open(line["mask"]))
                theirs = (theirs > 127).astype(np.int64) if len(data.classes) == 2 else theirs.astype(np.int64)
                ious[Path(line["image"]).name] = mask_iou(mine, theirs, len(data.classes))
    worst = min(ious.values())
    print(f"{len(ious)} images: mask IoU between infer.py's masks and edgecnn's, min {worst:.6f}, mean "
          f"{np.mean(list(ious.values())):.6f} (goal >= 0.99 on every image)")
    for name, value in sorted(ious.items(), key=lambda kv: kv[1])[:5]:
        print(f"  {name}: {value:.6f}")
    return len(ious) == len(data) and worst >= 0.99


def similarity(args, bundle: Path) -> bool:
    from edgecnn.core.device import cosine_similarity, draw_pairs
    from edgecnn.core.preprocess import preprocess_numpy
    from edgecnn.data.datasets import load_images, stratified_split
    from edgecnn.engines import load_runner
    from edgecnn.evaluate import model_threshold

    runner = load_runner(args.model, "ort")
    images = load_images(args.data, image_size=runner.info.preprocess.resize, seed=args.seed)
    images = images.subset(stratified_split(images.labels, args.val_split, args.seed)[1])
    pairs = draw_pairs(images.labels, args.pairs, args.seed)
    threshold = model_threshold(runner)
    agree, worst = 0, 0.0
    with runner:
        for first, second, same in pairs:
            a, b = (np.asarray(runner.infer_array(preprocess_numpy(images.image(i), runner.info.preprocess)[None]))[0]
                    for i in (first, second))
            mine = float(cosine_similarity(a, b))
            theirs = run_infer(args.python, bundle, images.names[first], images.names[second])[0]
            worst = max(worst, abs(mine - theirs["similarity"]))
            agree += (("same" if mine >= threshold else "different") == theirs["decision"])
    print(f"{len(pairs)} pairs ({sum(p[2] for p in pairs)} same class) of {len(images)} validation images: "
          f"decisions agree on {agree}/{len(pairs)}, max |similarity difference| {worst:.2e}, threshold {threshold:.4f}")
    return agree == len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("model", help="The ONNX model the bundle was made from (edgecnn's side of the comparison).")
    parser.add_argument("--data", required=True, help="image/ + label/ folder (U-Net) or class folders (Siamese).")
    parser.add_argument("--python", default=sys.executable, help="The interpreter infer.py runs in (a torch-free venv).")
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--val-split", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bundle = Path(args.bundle).resolve()
    args.data = str(Path(args.data).resolve())
    config = json.loads((bundle / "preprocess.json").read_text())
    check = subprocess.run([args.python, "-c", "import torch"], capture_output=True)
    print(f"infer.py runs in {args.python} (torch {'importable' if check.returncode == 0 else 'not installed'})")
    ok = segmentation(args, bundle) if config.get("task") == "segmentation" else similarity(args, bundle)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
