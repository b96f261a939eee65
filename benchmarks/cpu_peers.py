"""edgecnn's fastest CPU artifact vs the peer pipeline (NNCF + OpenVINO), per model, on this CPU.

    python benchmarks/cpu_peers.py --calib ../shared/data/flowers12/train --out benchmarks/results

Issue 15's table, regenerated. Random weights at 224 px (latency does not depend on their values), batch 1,
--threads threads. Columns, each (engine, artifact) timed in its own process, alternating in --rounds rounds,
median p50 in ms:

* torch eager: PyTorch, FP32.
* ort fp32 / ort int8: ONNX Runtime on edgecnn's FP32 ONNX and its INT8 QDQ placed for ONNX Runtime
  (``edgecnn quantize``'s defaults, with minmax ranges: random weights leave many activations too narrow for a
  percentile histogram, which would fall back to min/max for them anyway, and the method changes scales, not
  speed).
* ort int8 gemm: the same with per-tensor asymmetric weights (``--per-tensor --asymmetric-weights``): ONNX
  Runtime's QLinearConv takes a convolution with symmetric INT8 weights to its indirect-convolution kernels
  (AVX2 / AVX512-VNNI, no AMX kernel exists there) and every other one to its quantized GEMM, whose dispatch is
  the AMX kernel on CPUs with AMX-INT8 (onnxruntime/core/mlas/lib/platform.cpp, qlinearconv.cc).
* ov f32: OpenVINO forced to f32 (``edgecnn profile --engine openvino``).
* ov-default: OpenVINO with its own defaults; on CPUs with AVX512-BF16 or AMX that is bf16 inside, elsewhere f32.
* ov-qdq: OpenVINO running edgecnn's INT8 file placed for ONNX Runtime.
* ov-nncf: the peer pipeline: NNCF's post-training INT8 of the same FP32 ONNX, called directly the way its
  documentation shows (``preset=PERFORMANCE``, --peer-samples images resized to 256, centre-cropped to 224,
  ImageNet-normalized), run on OpenVINO.
* edgecnn best: the fastest of what edgecnn itself makes and runs here (ort fp32/int8, openvino fp32, bf16
  where the CPU has it, int8 placed for ONNX Runtime, int8 placed for OpenVINO: ``edgecnn quantize --for
  openvino``), i.e. what ``edgecnn profile --best`` picks when every candidate meets the accuracy budget.

The last column is edgecnn best / peer best (the faster of ov-default and ov-nncf), the median of the per-round
ratios with its interval (:mod:`edgecnn.core.rounds`): "faster", "slower" or "a tie" when the interval holds 1.
While the decision is a tie, the two are timed again in extra rounds, up to --max-rounds. An edgecnn file whose
graph is NNCF's, op for op (:func:`edgecnn.core.onnx_io.graph_fingerprint`), is the same candidate: timed once.
Writes cpu_peers.md/.json.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from _artifacts import output_folder, timing_arguments

MODELS = "mobilenet_v2,resnet50,efficientnet_b0,resnet18"
OURS_OV = "edgecnn ov int8 (--for openvino)"


def peer_images(folder: str, count: int):
    """What an NNCF user feeds: torchvision-style 256 -> centre 224 crop, ImageNet normalization, NCHW float32."""
    import numpy as np
    from PIL import Image

    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"--calib {folder}: no images (the peer pipeline needs a folder of photos)")
    step = max(1, len(files) // count)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    for path in files[::step][:count]:
        image = Image.open(path).convert("RGB")
        scale = 256 / min(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
        left, top = (image.width - 224) // 2, (image.height - 224) // 2
        array = (np.asarray(image.crop((left, top, left + 224, top + 224)), np.float32) / 255 - mean) / std
        yield array.transpose(2, 0, 1)[None].astype(np.float32)


def peer_nncf(fp32: Path, target: Path, calib: str, samples: int) -> str:
    import nncf
    import onnx

    if not target.exists():
        model = onnx.load(str(fp32))
        name = model.graph.input[0].name
        images = list(peer_images(calib, samples))
        quantized = nncf.quantize(model, nncf.Dataset(images, lambda x: {name: x}),
                                  preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(images))
        onnx.save(quantized, str(target))
    return str(target)


def edgecnn_artifacts(model: str, out: Path, calib: str, samples: int) -> dict[str, str]:
    from edgecnn.export import export_onnx
    from edgecnn.quantize import QuantizeOptions
    from edgecnn.quantize.placed import quantize_placed
    from edgecnn.zoo import create_model

    paths = {"fp32": out / f"{model}.onnx", "int8-ort": out / f"{model}_int8.onnx",
             "int8-ort-gemm": out / f"{model}_int8_asymmetric.onnx",
             "int8-openvino": out / f"{model}_int8_openvino.onnx"}
    if not paths["fp32"].exists():
        export_onnx(create_model(model, input_size=224), paths["fp32"])
    for placed in ("ort", "openvino"):
        target = paths[f"int8-{placed}"]
        if not target.exists():
            quantize_placed(paths["fp32"], target, calib, options=QuantizeOptions(samples=samples, placed_for=placed,
                                                                                 method="minmax"),
                            progress=False)
    if not paths["int8-ort-gemm"].exists():  # ONNX Runtime's quantized-GEMM form, the one with AMX kernels
        quantize_placed(paths["fp32"], paths["int8-ort-gemm"], calib, progress=False,
                        options=QuantizeOptions(samples=samples, per_channel=False, symmetric_weights=False,
                                                method="minmax"))
    return {k: str(v) for k, v in paths.items()}


def main() -> None:
    parser = timing_arguments(__doc__, models=MODELS, rounds=5)
    parser.add_argument("--samples", type=int, default=300, help="Calibration images for edgecnn's INT8 files.")
    parser.add_argument("--peer-samples", type=int, default=300, help="Calibration images for the peer NNCF run.")
    parser.add_argument("--max-rounds", type=int, default=9, help="Extra rounds of a tied decision up to this many.")
    args = parser.parse_args()
    out = output_folder(args)
    from edgecnn.core.onnx_io import graph_fingerprint, load_onnx
    from edgecnn.core.rounds import paired_ratio
    from edgecnn.engines.capabilities import bf16_problem
    from edgecnn.envinfo import cpu_info, environment
    from edgecnn.profile.compare import alternating_latency

    bf16 = bf16_problem(cpu_info()) is None
    default_precision = "bf16" if bf16 else "fp32"  # what OpenVINO's CPU plugin picks by itself
    rows = []
    for model in args.models.split(","):
        ours = edgecnn_artifacts(model, out, args.calib, args.samples)
        peer = peer_nncf(Path(ours["fp32"]), out / f"{model}_int8_peer_nncf.onnx", args.calib, args.peer_samples)
        peers = {"torch eager": (model, "torch"), "ort fp32": (ours["fp32"], "ort"),
                 "ort int8": (ours["int8-ort"], "ort"), "ort int8 gemm": (ours["int8-ort-gemm"], "ort"),
                 "ov f32": (ours["fp32"], "openvino", "fp32"),
                 "ov-default": (ours["fp32"], "openvino", default_precision),
                 "ov-qdq": (ours["int8-ort"], "openvino", "int8"), "ov-nncf": (peer, "openvino", "int8"),
                 OURS_OV: (ours["int8-openvino"], "openvino", "int8")}
        same_as_peer = graph_fingerprint(load_onnx(ours["int8-openvino"])) == graph_fingerprint(load_onnx(peer))
        timed_labels = [label for label in peers if not (same_as_peer and label == OURS_OV)]
        results = alternating_latency({label: peers[label] for label in timed_labels}, threads=args.threads,
                                      rounds=args.rounds, log=lambda line: print(f"{model}: {line}", flush=True))
        rounds = {label: list(r.rounds_p50_ms) for label, r in results.items()}
        if same_as_peer:  # the same graph: one candidate, one set of rounds
            rounds[OURS_OV] = rounds["ov-nncf"]
        edgecnn_labels = ["ort fp32", "ort int8", "ort int8 gemm", "ov f32", "ov-qdq", OURS_OV] + \
            (["ov-default"] if bf16 else [])  # ov-default is edgecnn's openvino bf16 where the CPU has BF16
        while True:
            p50 = {label: statistics.median(v) for label, v in rounds.items()}
            best_label = min(edgecnn_labels, key=p50.get)
            peer_label = min(("ov-default", "ov-nncf"), key=p50.get)
            ratio = paired_ratio(rounds[best_label], rounds[peer_label])
            if not ratio.tie or best_label == peer_label or ratio.rounds >= args.max_rounds:
                break
            extra = alternating_latency({label: peers[label] for label in {best_label, peer_label}},
                                        threads=args.threads, rounds=1,
                                        log=lambda line: print(f"{model} (tie, extra round): {line}", flush=True))
            for label, r in extra.items():
                rounds[label] += r.rounds_p50_ms
            if same_as_peer:
                rounds[OURS_OV] = rounds["ov-nncf"]
        row = {"model": model, **p50, "edgecnn best": p50[best_label], "edgecnn best is": best_label,
               "peer best is": peer_label, "ratio": ratio.ratio, "ratio_interval": ratio.to_dict(),
               "decision": ratio.describe(), "same_graph_as_nncf": same_as_peer, "rounds": rounds}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "rounds"}), flush=True)
    columns = ["torch eager", "ort fp32", "ort int8", "ort int8 gemm", "ov f32", "ov-default", "ov-qdq", "ov-nncf", "edgecnn best"]
    lines = ["| model | " + " | ".join(columns) + " | edgecnn best is | best / peer best [interval] |",
             "|---" * (len(columns) + 3) + "|"]
    for row in rows:
        lines.append(f"| {row['model']} | " + " | ".join(f"{row[c]:.2f}" for c in columns)
                     + f" | {row['edgecnn best is']} | {row['decision']} vs {row['peer best is']}"
                     + (" (edgecnn's --for openvino file is NNCF's graph)" if row["same_graph_as_nncf"] else "")
                     + " |")
    env = environment(threads=args.threads)
    cpu = env["cpu"]
    text = (f"Batch 1, {args.threads} threads, p50 ms (median of {args.rounds} alternating rounds, each "
            f"measurement in its own process), random weights at 224 px; ov-default ran {default_precision}.\n"
            f"CPU: {cpu['model']} (family/model {cpu.get('family_model', '?')}; ISA {' '.join(cpu['isa'])}); "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items())
            + f"\nCommand: python benchmarks/cpu_peers.py --calib {args.calib} --models {args.models} "
              f"--rounds {args.rounds} --max-rounds {args.max_rounds}\n\n" + "\n".join(lines) + "\n")
    (out / "cpu_peers.md").write_text(text)
    (out / "cpu_peers.json").write_text(json.dumps({"rows": rows, "environment": env}, indent=1))
    print(text)


if __name__ == "__main__":
    main()
