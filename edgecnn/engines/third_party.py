"""Any ONNX image classifier, not only edgecnn's exports.

* Old opsets (the ONNX model zoo has many opset 7-9 graphs) are upgraded to
  opset 13 with ``onnx.version_converter``; the upgraded copy is cached under
  ``~/.cache/edgecnn/upgraded`` (keyed by the file's hash), the original is
  never touched.
* The input shape is read from the graph (a dynamic batch is allowed).
* Without edgecnn metadata, the preprocessing defaults are stated, not hidden:
  ImageNet mean/std, RGB, bilinear resize to 256/224 of the input side, centre
  crop; labels ``class_0..N-1`` from the output width. Each can be overridden
  (``--mean --std --resize --labels``).
"""

from __future__ import annotations

import os
from pathlib import Path

import onnx

from ..core.onnx_io import is_classic, load_onnx, normalize
from ..core.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessSpec
from ..errors import UsageError
from ..fileio import atomic_path, sha256_file
from .base import ModelInfo

DEFAULTS_NOTE = ("no edgecnn metadata: using stated defaults (ImageNet mean/std, RGB, resize 256/224 of the input "
                 "side, centre crop, labels class_N); override with --mean/--std/--resize/--labels")


def upgraded(path: str | os.PathLike, cache: str | os.PathLike | None = None) -> tuple[str, str | None]:
    """A path to the model in today's form (opset >= 13, no initializers among the inputs), and a note
    when it had to be normalised (see :func:`edgecnn.core.onnx_io.normalize`); the file is never touched."""
    model = load_onnx(path, external_data=False)
    if not is_classic(model):
        return str(path), None
    cache_dir = Path(cache or os.environ.get("EDGECNN_CACHE", Path.home() / ".cache" / "edgecnn")) / "upgraded"
    target = cache_dir / f"{sha256_file(path)[:20]}-normalized.onnx"
    notes_file = target.with_suffix(".txt")
    if not target.exists():
        normalized, notes = normalize(load_onnx(path))
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(notes_file, force=True) as tmp:
            tmp.write_text("; ".join(notes))
        with atomic_path(target, force=True) as tmp:
            onnx.save(normalized, str(tmp))
    notes = notes_file.read_text() if notes_file.exists() else "normalised"
    return str(target), f"{notes} (cached copy {target})"


def _input_output_dims(model: onnx.ModelProto):
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise UsageError(f"expected an image classifier with one input; this model has {len(inputs)}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    out = [d.dim_value if d.HasField("dim_value") else None for d in model.graph.output[0].type.tensor_type.shape.dim]
    return dims, out


def default_info(path: str | os.PathLike, overrides: dict, meta=None) -> ModelInfo:
    model = load_onnx(path, external_data=False)
    dims, out = _input_output_dims(model)
    if len(dims) != 4:
        raise UsageError(f"{path}: expected an NCHW image input, got shape {dims}")
    channels, height, width = dims[1] or 3, dims[2], dims[3]
    size = overrides.get("input_size")
    if size:
        height, width = size
    if not height or not width:
        raise UsageError(f"{path} has a dynamic image size; pass --input-size")
    base = meta.preprocess if meta else PreprocessSpec(mean=IMAGENET_MEAN, std=IMAGENET_STD)
    color = "L" if channels == 1 else "RGB"
    mean = tuple(overrides.get("mean") or (base.mean if len(base.mean) == channels else (0.5,) * channels))
    std = tuple(overrides.get("std") or (base.std if len(base.std) == channels else (0.5,) * channels))
    preprocess = PreprocessSpec(resize=int(overrides.get("resize") or round(max(height, width) * 256 / 224)),
                                crop=(height, width), mean=mean, std=std, interpolation=base.interpolation,
                                color=color)
    classes = out[1] if len(out) >= 2 and out[1] else None
    labels = overrides.get("labels") or (meta.labels if meta else None) or (
        [f"class_{i}" for i in range(classes)] if classes else [])
    notes = [] if meta else [DEFAULTS_NOTE]
    return ModelInfo(architecture=meta.architecture if meta else Path(path).stem, task="classification",
                     labels=list(labels), preprocess=preprocess, input_size=(channels, height, width),
                     extra={"notes": notes})
