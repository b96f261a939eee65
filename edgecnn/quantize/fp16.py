"""FP16 conversion with onnxconverter-common, keeping FP32 inputs and outputs.

Weights and activations become float16 inside the graph; Cast nodes at the
boundary keep the model's interface float32, so the same preprocessing and
callers work. The result is checked numerically against the FP32 model.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnx

from ..core.metadata import metadata_json, read_metadata, write_metadata
from ..core.onnx_io import cap_ir_version, is_classic, normalize
from ..errors import UsageError, VerificationError
from ..export import tflite
from ..fileio import atomic_path, sha256_file
from .int8 import compare_outputs, graph_input, input_chw, is_quantized
from .source import open_float_model


def convert_fp16_tflite(model_path: str | os.PathLike, output: str | os.PathLike, *, force: bool = False,
                        min_cosine: float = 0.999) -> dict:
    """An FP32 ``.tflite`` (edgecnn's) as FP16: float16 weights (ai-edge-quantizer's float casting), its metadata's
    precision "fp16", checked against the FP32 file on LiteRT (random inputs: cosine, max abs error, top-1)."""
    started = time.perf_counter()
    model_path, output = Path(model_path), Path(output)
    if output.suffix != ".tflite":
        raise UsageError(f"an FP16 .tflite is written as *.tflite, not {output.name}")
    if output.exists() and not force:
        raise UsageError(f"{output} exists; pass --force to replace it")
    meta = tflite.read_tflite_metadata(model_path)
    if meta is None:
        raise UsageError(f"{model_path} has no edgecnn metadata: export it with 'edgecnn export MODEL --format tflite'")
    held = meta.extra.get("precision", "fp32")
    if held != "fp32":
        raise UsageError(f"{model_path} holds a {held} model; convert the FP32 .tflite to FP16")
    meta.extra = {**meta.extra, "precision": "fp16",
                  "conversion": json.dumps({"tool": "ai-edge-quantizer", "algorithm": "float_casting",
                                            "weights": "float16", "compute": "float32",
                                            "source_sha256": sha256_file(model_path)})}
    # the metadata goes in first: ai-edge-quantizer keeps it, while re-serialising its output (whose weights may sit
    # after the flatbuffer, at offsets) with the flatbuffer object API would break those offsets
    content = tflite.fp16_weights(tflite.embed_metadata(model_path.read_bytes(), metadata_json(meta)))
    with atomic_path(output, force=force) as tmp:
        tmp.write_bytes(content)
        shape = [d if isinstance(d, int) else 1 for d in meta.input_shape]
        inputs = np.random.default_rng(0).standard_normal((4, *shape)).astype(np.float32)
        fp32, fp16 = tflite.runner(str(model_path), 1), tflite.runner(str(tmp), 1)
        inputs_per_call = len(meta.input_names)
        a = np.concatenate([fp32([x] * inputs_per_call)[0].reshape(len(x), -1) for x in inputs]).astype(np.float64)
        b = np.concatenate([fp16([x] * inputs_per_call)[0].reshape(len(x), -1) for x in inputs]).astype(np.float64)
        # float64 and no fixed epsilon: a randomly initialised network's logits can be 1e-12 small
        norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), np.finfo(np.float64).tiny)
        cosine = float(np.min(np.sum(a * b, 1) / norms))
        check = {"cosine": cosine, "max_abs_error": float(np.max(np.abs(a - b))), "samples": int(len(a)),
                 "top1_agreement": float(np.mean(a.argmax(1) == b.argmax(1)))}
        if cosine < min_cosine:
            raise VerificationError(f"FP16 .tflite disagrees with FP32: cosine {cosine:.5f} < {min_cosine}")
    return {"path": str(output), "size_bytes": output.stat().st_size, "fp32_size_bytes": model_path.stat().st_size,
            "agreement": check, "seconds": time.perf_counter() - started,
            "notes": ["float16 weights, float32 arithmetic (XNNPACK dequantizes them when it loads the model)"]}


def convert_fp16(model_path: str | os.PathLike, output: str | os.PathLike, *, force: bool = False,
                 min_cosine: float = 0.999) -> dict:
    if str(model_path).lower().endswith(".tflite"):  # LiteRT: float16 weights
        return convert_fp16_tflite(model_path, output, force=force, min_cosine=min_cosine)
    from onnxconverter_common import float16

    started = time.perf_counter()
    model_path, output, model = open_float_model(model_path, output, force)
    notes: list[str] = []
    normalized = is_classic(model)
    if normalized:  # an older converter's graph: convert a normalised private copy
        model, notes = normalize(model)
    if is_quantized(model):
        raise UsageError(f"{model_path} is already quantized; convert the float model to FP16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        half = float16.convert_float_to_float16(model, keep_io_types=True)
    meta = read_metadata(half)
    if meta is not None:
        meta.extra = {**meta.extra, "precision": "fp16",
                      "conversion": json.dumps({"tool": "onnxconverter-common", "keep_io_types": True,
                                                "source_sha256": sha256_file(model_path)})}
        write_metadata(half, meta)
    with atomic_path(output, force=force) as tmp, tempfile.TemporaryDirectory(prefix="edgecnn-fp16-") as work:
        onnx.save(cap_ir_version(half), str(tmp))
        reference = Path(model_path)  # the float model as converted: the file, or its normalised copy
        if normalized:
            reference = Path(work) / "fp32.onnx"
            onnx.save(model, str(reference))
        chw = input_chw(model)
        batch = chw[0] if isinstance(chw[0], int) and chw[0] > 0 else 4
        dims = [d if isinstance(d, int) and d > 0 else (meta.input_shape[i + 1] if meta else 224)
                for i, d in enumerate(chw[1:])]
        inputs = np.random.default_rng(0).standard_normal((batch * 4, *dims)).astype(np.float32)
        try:
            check = compare_outputs(str(reference), str(tmp), inputs, graph_input(model).name, limit=len(inputs))
        except Exception as exc:
            raise VerificationError(f"ONNX Runtime cannot run the FP16 conversion of {Path(model_path).name}: "
                                    f"{type(exc).__name__}: {exc}") from None
        if check["cosine"] < min_cosine:
            raise VerificationError(f"FP16 model disagrees with FP32: cosine {check['cosine']:.5f} < {min_cosine}")
    return {"path": str(output), "size_bytes": Path(output).stat().st_size,
            "fp32_size_bytes": Path(model_path).stat().st_size, "agreement": check,
            "seconds": time.perf_counter() - started, "notes": notes}
