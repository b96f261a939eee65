"""Does the bundle's ``infer.py --bench`` report what ``edgecnn profile`` reports for the same model?

    python benchmarks/bundle_bench.py MODEL_INT8.onnx [--threads 2] [--batch 1] [--rounds 5]

Bundles MODEL, then alternates rounds of (a) ``edgecnn profile MODEL --engine ort`` and (b)
``python BUNDLE/infer.py --bench N`` with the same thread count, batch, warm-up and number of
runs, each measurement in a fresh process (the machine's speed drifts; alternating and taking
medians keeps the ratio honest). Prints both medians and their ratio; writes JSON to
benchmarks/results/bundle_bench.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-time-s", type=float, default=3.0)
    args = parser.parse_args()
    from edgecnn.bundle import build_bundle

    results = {"profile_p50_ms": [], "bench_p50_ms": [], "runs": []}
    with tempfile.TemporaryDirectory(prefix="edgecnn-bundle-bench-") as tmp:
        bundle = build_bundle(args.model, Path(tmp) / "bundle").folder
        for round_ in range(args.rounds):
            out = Path(tmp) / f"profile{round_}.json"
            subprocess.run([sys.executable, "-m", "edgecnn", "profile", args.model, "--engine", "ort", "--threads",
                            str(args.threads), "--batch", str(args.batch), "--warmup-s", "1", "--min-time-s",
                            str(args.min_time_s), "--json", str(out)], check=True, capture_output=True)
            stats = json.loads(out.read_text())["latency"][0]
            results["profile_p50_ms"].append(stats["p50_ms"])
            results["runs"].append(stats["runs"])
            done = subprocess.run([sys.executable, str(bundle / "infer.py"), "--bench", str(stats["runs"]),
                                   "--batch", str(args.batch), "--threads", str(args.threads), "--json"],
                                  check=True, capture_output=True, text=True)
            results["bench_p50_ms"].append(json.loads(done.stdout.splitlines()[-1])["bench"]["p50_ms"])
            print(f"round {round_ + 1}: profile p50 {results['profile_p50_ms'][-1]:.3f} ms, infer.py --bench p50 "
                  f"{results['bench_p50_ms'][-1]:.3f} ms ({stats['runs']} runs each)")
    profile, bench = statistics.median(results["profile_p50_ms"]), statistics.median(results["bench_p50_ms"])
    results.update(model=args.model, threads=args.threads, batch=args.batch, profile_median_ms=profile,
                   bench_median_ms=bench, ratio=bench / profile)
    print(f"median p50: edgecnn profile {profile:.3f} ms, infer.py --bench {bench:.3f} ms, ratio {bench / profile:.3f}")
    out_dir = Path(__file__).parent / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "bundle_bench.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
