"""Every CPU engine edgecnn runs, FP32 and INT8, on this CPU, in one run: PyTorch eager, ONNX Runtime, OpenVINO,
LiteRT, ExecuTorch and ncnn.

    python benchmarks/cpu_engines.py --calib ../shared/data/flowers12/train --out benchmarks/results

Batch 1, --threads threads (default 2), random weights at 224 px (latency does not depend on their values; every
file of a model is made from the same weights). For each model:

* ort fp32 / ort int8: the exported ONNX, and its INT8 QDQ placed for ONNX Runtime (``edgecnn quantize``'s
  defaults, minmax ranges: the method changes scales, not speed);
* openvino fp32 / openvino int8: the same FP32 ONNX forced to f32, and the INT8 file placed for OpenVINO
  (``edgecnn quantize --for openvino``);
* litert fp32 / litert int8: ``edgecnn export --format tflite`` and ``edgecnn quantize --for litert`` (PT2E,
  static INT8, per channel) on the LiteRT interpreter with XNNPACK;
* executorch fp32 / executorch int8: ``--format pte`` and ``--for executorch`` on ExecuTorch's XNNPACK backend;
* ncnn fp32 / ncnn fp16: ``--format ncnn`` (pnnx) on ncnn's CPU kernels, the one file with ncnn's fp16 options off
  and on (ncnn has no INT8 export from Python: its ncnn2int8 tool is C++ only);

all INT8 calibrated on the same --samples images of --calib. Each (engine, artifact) is timed in its own process,
alternating in --rounds rounds; the table gives the median p50 (ms), the fastest per model, and for the mobile
files the delegation summary (what XNNPACK did not take: the usual reason one loses badly).
Writes cpu_engines.md/.json; files already in --out are reused.
"""

from __future__ import annotations

import json

from _artifacts import export_and_quantize, output_folder, timing_arguments

MODELS = "mobilenet_v2,resnet18,resnet50,efficientnet_b0"
ENGINES = ("ort", "openvino", "litert", "executorch", "ncnn")
MOBILE = {"litert": "tflite", "executorch": "pte"}
NCNN_PRECISIONS = ("fp32", "fp16")  # options on the one .param (ncnn.engine's sources)


def mobile_artifacts(model: str, loaded, out, calib: str, samples: int) -> dict[str, str]:
    """``{"litert fp32": path, "litert int8": path, ...}`` from ``loaded`` (the ONNX file's weights)."""
    from edgecnn.export import export_model
    from edgecnn.quantize import QuantizeOptions
    from edgecnn.quantize.mobile import quantize_loaded

    paths = {}
    for engine, suffix in MOBILE.items():
        fp32, int8 = out / f"{model}.{suffix}", out / f"{model}_int8.{suffix}"
        if not fp32.exists():
            export_model(loaded, fp32, format=suffix)
        if not int8.exists():
            quantize_loaded(loaded, int8, calib, QuantizeOptions(samples=samples, placed_for=engine))
        paths[f"{engine} fp32"], paths[f"{engine} int8"] = str(fp32), str(int8)
    return paths


def ncnn_artifact(model: str, loaded, out) -> str:
    from edgecnn.export import export_model

    param = out / f"{model}.param"
    if not param.exists():
        export_model(loaded, param, format="ncnn")
    return str(param)


def delegation_line(path: str) -> str:
    from edgecnn.engines.registry import default_engine, get_engine

    return get_engine(default_engine(path)).delegation(path).summary()


def main() -> None:
    parser = timing_arguments(__doc__, models=MODELS, rounds=3)
    parser.add_argument("--samples", type=int, default=64, help="Calibration images for every INT8 file.")
    parser.add_argument("--engines", default=",".join(ENGINES), help="The engines to time (torch eager always).")
    args = parser.parse_args()
    out = output_folder(args)
    import torch

    from edgecnn.envinfo import environment
    from edgecnn.profile.compare import alternating_latency
    from edgecnn.zoo import create_model

    rows, notes = [], {}
    for model in args.models.split(","):
        torch.manual_seed(0)
        loaded = create_model(model)
        paths = export_and_quantize(model, out, args.calib, {"default": {"method": "minmax", "samples": args.samples},
                                                             "openvino": {"method": "minmax", "placed_for": "openvino",
                                                                          "samples": args.samples}},
                                    loaded=loaded)
        mobile = mobile_artifacts(model, loaded, out, args.calib, args.samples)
        artifacts = {"torch eager fp32": (model, "torch"), "ort fp32": (paths["fp32"], "ort"),
                     "ort int8": (paths["int8-default"], "ort"), "openvino fp32": (paths["fp32"], "openvino"),
                     "openvino int8": (paths["int8-openvino"], "openvino"),
                     **{label: (path, label.split()[0]) for label, path in mobile.items()}}
        if "ncnn" in args.engines.split(","):
            param = ncnn_artifact(model, loaded, out)
            artifacts.update({f"ncnn {p}": (param, "ncnn", p) for p in NCNN_PRECISIONS})
        artifacts = {label: a for label, a in artifacts.items()
                     if label.split()[0] in args.engines.split(",") or label.startswith("torch")}
        results = alternating_latency(artifacts, threads=args.threads, rounds=args.rounds,
                                      log=lambda line, m=model: print(f"{m}: {line}", flush=True))
        row = {"model": model, **{label: r.p50_ms for label, r in results.items()},
               "rounds": {label: r.rounds_p50_ms for label, r in results.items()}}
        notes[model] = {label: delegation_line(path) for label, path in mobile.items()}
        rows.append(row)
        print(json.dumps({**row, "delegation": notes[model]}), flush=True)
    labels = [k for k in rows[0] if k not in ("model", "rounds")]
    lines = ["| model | " + " | ".join(labels) + " | fastest |", "|---" * (len(labels) + 2) + "|"]
    for row in rows:
        best = min(labels, key=lambda label: row[label])
        lines.append(f"| {row['model']} | " + " | ".join(f"{row[label]:.2f}" for label in labels) + f" | {best} |")
    delegated = [f"- {model}, {label}: {line}" for model, by in notes.items() for label, line in by.items()]
    env = environment(threads=args.threads)
    text = (f"Batch 1, {args.threads} threads, p50 ms (median of {args.rounds} alternating rounds, each measurement "
            f"in its own process), random weights at 224 px; INT8 calibrated on {args.samples} images of "
            f"{args.calib}.\nCPU: {env['cpu']['model']} ({', '.join(env['cpu']['isa'])}); "
            + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + "\n\n" + "\n".join(lines)
            + "\n\nXNNPACK delegation (edgecnn check FILE):\n" + "\n".join(delegated) + "\n")
    (out / "cpu_engines.md").write_text(text)
    (out / "cpu_engines.json").write_text(json.dumps({"rows": rows, "delegation": notes, "environment": env},
                                                     indent=1))
    print(text)


if __name__ == "__main__":
    main()
