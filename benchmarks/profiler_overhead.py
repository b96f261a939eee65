"""How much does `edgecnn profile` add per inference, against a bare `session.run` loop?

    python benchmarks/profiler_overhead.py MODEL.onnx [--threads 2] [--calls 3000]

On a shared machine whole-loop timings drift by 10-30 % between seconds, which would drown a 2 %
effect, so the two costs are measured where drift cancels:

1. the wrapper: bare `session.run(None, feed)` and edgecnn's `runner.infer(feed)` on the same
   session, alternating call by call, each timed with perf_counter_ns; the difference of medians;
2. the timing loop's own bookkeeping (clock reads, list append, loop tests): `measure_latency` on a
   runner whose infer returns at once.

Overhead = (wrapper difference + loop bookkeeping) / bare median. Also reports two back-to-back
`measure_latency` passes (p50 reproducibility).
"""

from __future__ import annotations

import argparse
import statistics
import time


class _NullRunner:
    engine = "null"

    def infer(self, feed):
        return feed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    from edgecnn.engines import load_runner
    from edgecnn.profile.latency import measure_latency, random_feed

    runner = load_runner(args.model, "ort", threads=args.threads).activate()
    feed = random_feed(runner, 1)
    session = runner.session
    measure_latency(runner, feed, warmup_s=2.0, min_runs=10, min_time_s=0.0)
    clock = time.perf_counter_ns
    bare, wrapped = [], []
    for i in range(args.calls):
        for which in ((0, 1) if i % 2 else (1, 0)):
            t0 = clock()
            if which == 0:
                session.run(None, feed)
                bare.append(clock() - t0)
            else:
                runner.infer(feed)
                wrapped.append(clock() - t0)
    bare_ms, wrapped_ms = statistics.median(bare) / 1e6, statistics.median(wrapped) / 1e6
    loop = measure_latency(_NullRunner(), {"x": feed[next(iter(feed))]}, warmup_s=0.0, min_runs=200_000,
                           min_time_s=0.0, max_runs=200_000)
    overhead_ms = (wrapped_ms - bare_ms) + loop.mean_ms
    print(f"bare session.run median {bare_ms:.4f} ms; runner.infer median {wrapped_ms:.4f} ms "
          f"(difference {1000 * (wrapped_ms - bare_ms):+.1f} us, {args.calls} interleaved calls each)")
    print(f"timing-loop bookkeeping: {1000 * loop.mean_ms:.2f} us per run")
    print(f"overhead per inference: {1000 * overhead_ms:+.1f} us = {100 * overhead_ms / bare_ms:+.2f}% of "
          f"{bare_ms:.3f} ms")
    first = measure_latency(runner, feed, warmup_s=0.5, min_runs=50, min_time_s=3.0)
    second = measure_latency(runner, feed, warmup_s=0.5, min_runs=50, min_time_s=3.0)
    print(f"back-to-back p50: {first.p50_ms:.3f} ms and {second.p50_ms:.3f} ms "
          f"({100 * abs(first.p50_ms - second.p50_ms) / first.p50_ms:.1f}% apart); cv {100 * first.cv:.1f}%, "
          f"{100 * second.cv:.1f}%")


if __name__ == "__main__":
    main()
