"""Plain-text rendering of a ProfileResult."""

from __future__ import annotations

from tabulate import tabulate

from .run import ProfileResult


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f} MiB"


def machine_line(state: dict) -> str:
    """The clock, temperature and energy a measurement read, in one line (or what it could not read)."""
    clock, temp, energy = state.get("clock_mhz"), state.get("temperature_c"), state.get("energy") or {}
    parts = [f"clock {clock['min']:.0f}-{clock['max']:.0f} MHz" if isinstance(clock, dict) else f"clock {clock}",
             f"temperature {temp['start']:.0f}-{temp['max']:.0f} C" if isinstance(temp, dict) else
             f"temperature {temp}"]
    if energy.get("mj_per_inference") is not None:
        parts.append(f"energy {energy['mj_per_inference']:.3f} mJ per inference ({energy['sensor']})")
    else:
        parts.append(f"energy {energy.get('note', 'not measured')}")
    if state.get("power_mode"):
        parts.append(f"power mode {state['power_mode']}")
    return "; ".join(parts)


def format_profile(result: ProfileResult) -> str:
    env = result.environment
    cpu = env.get("cpu", {})
    ran = f", ran {result.executed_precision}" if result.executed_precision else ""
    lines = [f"{result.model}: {result.artifact} on {result.engine} ({result.precision}{ran})"]
    rows = [[s.batch, s.runs, f"{s.p50_ms:.3f}", f"{s.p90_ms:.3f}", f"{s.p95_ms:.3f}", f"{s.p99_ms:.3f}",
             f"{s.mean_ms:.3f}", f"{s.std_ms:.3f}", f"{s.min_ms:.3f}", f"{s.max_ms:.3f}", f"{100 * s.cv:.1f}%",
             f"{s.throughput:.1f}"] for s in result.latency]
    if rows:
        lines.append(tabulate(rows, headers=["batch", "runs", "p50 ms", "p90", "p95", "p99", "mean", "std", "min",
                                             "max", "cv", "img/s"], disable_numparse=True))
    if result.offline:
        offline = [[o["batch"], o["streams_asked"], o["streams"], o["requests"], f"{o['throughput']:.1f}",
                    f"{o['p50_ms']:.3f}", f"{o['p90_ms']:.3f}", f"{o['seconds']:.2f}"] for o in result.offline]
        lines.append("offline scenario (requests in flight at once):")
        lines.append(tabulate(offline, headers=["batch", "streams", "used", "requests", "img/s", "request p50 ms",
                                                "p90", "seconds"], disable_numparse=True))
    lines.append(f"memory: file {_mib(result.file_size_bytes)}, peak RSS increase loading {_mib(result.load_rss_bytes)}, "
                 f"running {_mib(result.run_rss_bytes)}"
                 + (f", device memory {_mib(result.device_memory_bytes)}" if result.device_memory_bytes else ""))
    if result.accuracy:
        acc = result.accuracy
        top5 = f", top-5 {100 * acc['top5']:.2f}%" if acc.get("top5") is not None else ""
        lines.append(f"accuracy: top-1 {100 * acc['top1']:.2f}%{top5} on {acc['images']} images")
    if result.cold_start:
        cold = result.cold_start
        first = ", ".join(f"batch {b} {ms:.2f} ms" for b, ms in cold["first_inference_ms"].items())
        started = f"process start to loaded {cold['process_to_loaded_s']:.2f} s, " \
            if cold.get("process_to_loaded_s") is not None else ""
        compiled = f" (compile {cold['compile_s']:.2f} s)" if cold.get("compile_s") is not None else ""
        lines.append(f"cold start: {started}load {cold['load_s']:.2f} s{compiled}, first inference {first}")
    for state in result.machine_state[:1]:
        lines.append(f"machine: {machine_line(state)}")
    if result.delegation:
        lines.append(f"delegation: {result.delegation['summary']} ('edgecnn check FILE' lists the operators)")
    if result.per_layer:
        layer_rows = [[r["name"][:60], r["op"], f"{r['mean_ms']:.3f}" if r["calls"] else "-", f"{100 * r['share']:.1f}%"]
                      for r in result.per_layer]
        lines.append(tabulate(layer_rows, headers=["layer", "op", "ms/call", "share"], disable_numparse=True))
    versions = env.get("versions", {})
    lines.append(f"environment: {cpu.get('model')} ({cpu.get('arch')}; {', '.join(cpu.get('isa', []))}), "
                 f"{cpu.get('usable_cores')} cores, threads {env.get('threads') or 'engine default'}; "
                 + ", ".join(f"{k} {v}" for k, v in versions.items())
                 + (f"; GPU {env['gpu']['name']}" if env.get("gpu") else ""))
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)
