"""Is the quantized model faster? FP32 vs INT8 on ONNX Runtime's CPU provider, and why not."""

from __future__ import annotations

from ..envinfo import cpu_info
from ..profile.compare import alternating_latency


def compare_speed(paths: dict[str, str], threads: int = 2, rounds: int = 5, round_s: float = 1.0,
                  engine: str | None = None) -> dict[str, float]:
    """Median p50 latency (ms) at batch 1 of each ONNX file on ``engine`` (default: the one that runs ONNX files
    by default, ONNX Runtime's CPU provider; OpenVINO for a placement made for it), measured alternately in one
    run, each in its own process."""
    results = alternating_latency({label: (path, engine) for label, path in paths.items()}, threads=threads,
                                  rounds=rounds, round_s=round_s)
    return {label: r.p50_ms for label, r in results.items()}


def explain(fp32_ms: float, int8_ms: float, float_nodes: dict[str, int], quantized_nodes: int) -> list[str]:
    """Why INT8 is not faster here, and what to try; empty when it is clearly faster."""
    ratio = int8_ms / fp32_ms if fp32_ms else float("nan")
    if ratio < 0.95:
        return []
    cpu = cpu_info()
    lines = [f"INT8 is not faster than FP32 here ({int8_ms:.2f} ms vs {fp32_ms:.2f} ms, {ratio:.2f}x)."]
    left = ", ".join(f"{op} x{n}" for op, n in sorted(float_nodes.items(), key=lambda kv: -kv[1])[:6])
    if left:
        lines.append(f"Ops left in float between quantized ones: {left}; each boundary adds a "
                     "DequantizeLinear/QuantizeLinear pair that costs memory traffic.")
    if not cpu["vnni"]:
        lines.append(f"This CPU ({cpu['model']}) has no VNNI (AVX512-VNNI/AVX-VNNI): int8 dot products take "
                     "three instructions instead of one, so INT8 convolutions gain little.")
    lines.append("Try: --op-types Conv,Gemm,MatMul (quantize only the heavy ops), --per-tensor weights, "
                 "or --exclude the nodes around Sigmoid/Mul (squeeze-and-excitation, SiLU) blocks.")
    return lines
