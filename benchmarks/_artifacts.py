"""Shared by the benchmarks: FP32 ONNX exports and INT8 variants, made once and reused."""

from __future__ import annotations

from pathlib import Path


def export_and_quantize(model: str, out: Path, calib: str, variants: dict[str, dict]) -> dict[str, str]:
    """``{"fp32": path, "int8-NAME": path, ...}``; random weights (latency does not depend on their values).
    Files already in ``out`` are reused."""
    from edgecnn.export import export_onnx
    from edgecnn.quantize import QuantizeOptions, quantize_int8
    from edgecnn.zoo import create_model

    fp32 = out / f"{model}.onnx"
    if not fp32.exists():
        export_onnx(create_model(model), fp32)
    paths = {"fp32": str(fp32)}
    for name, options in variants.items():
        target = out / f"{model}_int8_{name}.onnx"
        if not target.exists():
            quantize_int8(fp32, target, calib, options=QuantizeOptions(samples=64, **options), progress=False)
        paths[f"int8-{name}"] = str(target)
    return paths
