"""Shared by the benchmarks: FP32 ONNX exports and INT8 variants, made once and reused."""

from __future__ import annotations

from pathlib import Path


def export_and_quantize(model: str, out: Path, calib: str, variants: dict[str, dict], loaded=None) -> dict[str, str]:
    """``{"fp32": path, "int8-NAME": path, ...}``; random weights (latency does not depend on their values), or
    ``loaded``'s. Files already in ``out`` are reused."""
    from edgecnn.export import export_onnx
    from edgecnn.quantize import QuantizeOptions
    from edgecnn.quantize.placed import quantize_placed
    from edgecnn.zoo import create_model

    fp32 = out / f"{model}.onnx"
    if not fp32.exists():
        export_onnx(loaded or create_model(model), fp32)
    paths = {"fp32": str(fp32)}
    for name, options in variants.items():
        target = out / f"{model}_int8_{name}.onnx"
        if not target.exists():
            quantize_placed(fp32, target, calib, options=QuantizeOptions(**{"samples": 64, **options}))
        paths[f"int8-{name}"] = str(target)
    return paths


def timing_arguments(doc: str, *, models: str, rounds: int):
    """The flags every timing benchmark takes (--models --calib --threads --rounds --out); returns the parser."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=models)
    parser.add_argument("--calib", default="synthetic:shapes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--out", default="benchmarks/results")
    return parser


def output_folder(args) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out
