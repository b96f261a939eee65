"""Single-stream and offline, and the cold start, as MLPerf's edge scenarios and benchmark_app measure them.

    python benchmarks/scenarios.py [--models mobilenet_v2,resnet50] [--engines ort,openvino] [--rounds 3]
        [--threads 2] [--out bench/scenarios]

Per model (FP32, random weights, 224 px, exported with a dynamic batch) and engine, each measurement an
`edgecnn profile` process of its own, alternating in rounds (the order of the model x engine pairs reversed every
other round); the median over rounds of:

* single-stream: p50 and p90 at batch 1 and 8 (`--scenario single-stream --batch 1,8`);
* offline: images/s at batch 1 and 8 with streams 1, 2 and auto (`--scenario offline --streams 1,2,auto`);
* the cold start of the single-stream process: process start to model loaded, the load (OpenVINO's compile inside
  it) and the first inference at batch 1; and, for ONNX Runtime, the same from the bundle's `infer.py --profile`.

Prints a Markdown table per model and writes every round's JSON under --out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path


def export(model: str, folder: Path) -> Path:
    path = folder / f"{model}.onnx"
    if not path.exists():
        subprocess.run([sys.executable, "-m", "edgecnn", "export", model, "--batch", "dynamic", "-o", str(path)],
                       check=True, capture_output=True)
    return path


def profile(path: Path, engine: str, scenario: str, threads: int, out: Path) -> dict:
    command = [sys.executable, "-m", "edgecnn", "profile", str(path), "--engine", engine, "--threads", str(threads),
               "--batch", "1,8", "--scenario", scenario, "--json", str(out)]
    if scenario == "offline":
        command += ["--streams", "1,2,auto"]
    subprocess.run(command, check=True, capture_output=True)
    return json.loads(out.read_text())


def bundle_profile(path: Path, threads: int, folder: Path, out: Path) -> dict:
    bundle = folder / f"{path.stem}-bundle"
    if not bundle.exists():
        subprocess.run([sys.executable, "-m", "edgecnn", "bundle", str(path), "-o", str(bundle)], check=True,
                       capture_output=True)
    subprocess.run([sys.executable, str(bundle / "infer.py"), "--profile", "--threads", str(threads), "--batch", "1",
                    "--results", str(out)], check=True, capture_output=True)
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="mobilenet_v2,resnet50")
    parser.add_argument("--engines", default="ort,openvino")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="bench/scenarios")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = {m: export(m, out) for m in args.models.split(",")}
    pairs = [(m, e) for m in models for e in args.engines.split(",")]
    single: dict[tuple, list[dict]] = {p: [] for p in pairs}
    offline: dict[tuple, list[dict]] = {p: [] for p in pairs}
    bundled: dict[str, list[dict]] = {m: [] for m in models}
    for r in range(args.rounds):
        for model, engine in pairs if r % 2 == 0 else pairs[::-1]:
            single[(model, engine)].append(profile(models[model], engine, "single-stream", args.threads,
                                                   out / f"{model}-{engine}-single-{r}.json"))
            offline[(model, engine)].append(profile(models[model], engine, "offline", args.threads,
                                                    out / f"{model}-{engine}-offline-{r}.json"))
            print(f"round {r + 1}: {model} {engine} done", file=sys.stderr, flush=True)
        for model in models:
            bundled[model].append(bundle_profile(models[model], args.threads, out, out / f"{model}-bundle-{r}.json"))
    env = single[pairs[0]][0]["environment"]["cpu"]
    print(f"{env['model']}, ISA {' '.join(env['isa'])}; {args.threads} threads; median of {args.rounds} rounds\n")
    med = statistics.median
    for model in models:
        print(f"### {model} (FP32)\n")
        print("| engine | batch | single-stream p50 ms | p90 ms | offline img/s, streams 1 | 2 | auto (used) |")
        print("|---|---|---|---|---|---|---|")
        for engine in args.engines.split(","):
            for batch in (1, 8):
                lat = [next(s for s in p["latency"] if s["batch"] == batch) for p in single[(model, engine)]]
                row = [engine, str(batch), f"{med(s['p50_ms'] for s in lat):.2f}", f"{med(s['p90_ms'] for s in lat):.2f}"]
                for streams in ("1", "2", "auto"):
                    runs = [next(o for o in p["offline"] if o["batch"] == batch and o["streams_asked"] == streams)
                            for p in offline[(model, engine)]]
                    used = sorted({o["streams"] for o in runs})
                    row.append(f"{med(o['throughput'] for o in runs):.1f}" +
                               (f" ({'/'.join(map(str, used))})" if streams == "auto" else ""))
                print("| " + " | ".join(row) + " |")
        print("\n| cold start | process start to loaded s | load s | compile s | first inference ms (batch 1) |")
        print("|---|---|---|---|---|")
        for engine in args.engines.split(","):
            colds = [p["cold_start"] for p in single[(model, engine)]]
            compile_s = [c["compile_s"] for c in colds if c.get("compile_s") is not None]
            print(f"| edgecnn profile, {engine} | {med(c['process_to_loaded_s'] for c in colds):.2f} | "
                  f"{med(c['load_s'] for c in colds):.2f} | {f'{med(compile_s):.2f}' if compile_s else '-'} | "
                  f"{med(c['first_inference_ms']['1'] for c in colds):.1f} |")
        colds = [p["rows"][0]["cold_start"] for p in bundled[model]]
        print(f"| bundle infer.py --profile, ort | {med(c['process_to_loaded_s'] for c in colds):.2f} | "
              f"{med(c['load_s'] for c in colds):.2f} | - | {med(c['first_inference_ms']['1'] for c in colds):.1f} |\n")


if __name__ == "__main__":
    main()
