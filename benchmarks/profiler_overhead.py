"""How much does `edgecnn profile`'s timing loop add per inference, against a bare loop?

    python benchmarks/profiler_overhead.py MODEL.onnx [--threads 2] [--rounds 7]

One ONNX Runtime session; alternately (in rounds) a bare `session.run` loop timed as a whole
(total time / runs) and edgecnn's `measure_latency` through the Runner interface (per-run
perf_counter_ns, list append, dict feed), each for --seconds. Reports the median of the per-round
ratio of mean latencies. Also runs two back-to-back `measure_latency` passes and reports their p50
difference (reproducibility).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    from edgecnn.engines import load_runner
    from edgecnn.profile.latency import measure_latency, random_feed

    runner = load_runner(args.model, "ort", threads=args.threads).activate()
    feed = random_feed(runner, 1)
    session = runner.session
    measure_latency(runner, feed, warmup_s=2.0, min_runs=10, min_time_s=0.0)
    ratios, bare_means, ours_means = [], [], []
    for _ in range(args.rounds):
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            session.run(None, feed)
            runs += 1
        bare = (time.perf_counter() - start) / runs * 1000
        ours = measure_latency(runner, feed, warmup_s=0.0, min_runs=10, min_time_s=args.seconds).mean_ms
        ratios.append(ours / bare)
        bare_means.append(bare)
        ours_means.append(ours)
    first = measure_latency(runner, feed, warmup_s=0.5, min_runs=50, min_time_s=3.0)
    second = measure_latency(runner, feed, warmup_s=0.5, min_runs=50, min_time_s=3.0)
    print(f"bare loop mean {statistics.median(bare_means):.3f} ms; edgecnn loop mean {statistics.median(ours_means):.3f} ms")
    print(f"overhead per inference: {100 * (statistics.median(ratios) - 1):+.2f}% (median of {args.rounds} rounds; "
          f"per round: {', '.join(f'{100 * (r - 1):+.1f}%' for r in ratios)})")
    print(f"back-to-back p50: {first.p50_ms:.3f} ms and {second.p50_ms:.3f} ms "
          f"({100 * abs(first.p50_ms - second.p50_ms) / first.p50_ms:.1f}% apart); cv {100 * first.cv:.1f}%, "
          f"{100 * second.cv:.1f}%")


if __name__ == "__main__":
    main()
