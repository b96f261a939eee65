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

from ..core.metadata import read_metadata, write_metadata
from ..core.onnx_io import cap_ir_version, is_classic, normalize
from ..errors import UsageError, VerificationError
from ..fileio import atomic_path, sha256_file
from .int8 import compare_outputs, graph_input, input_chw, is_quantized
from .source import open_float_model


def convert_fp16(model_path: str | os.PathLike, output: str | os.PathLike, *, force: bool = False,
                 min_cosine: float = 0.999) -> dict:
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
