"""PyTorch -> ncnn (``edgecnn export MODEL --format ncnn``): a ``MODEL.param`` (the graph, text) and ``MODEL.bin``
(the weights) beside it, and the metadata sidecar ``MODEL.param.json`` (ncnn's files have no room for it).

The converter is pnnx (``pip install pnnx``): the model traced to TorchScript, then pnnx's own binary, called
directly (its Python ``pnnx.export`` ignores the binary's exit code) with ``fp16=0``, so the ``.bin`` holds the FP32
weights exactly. The runtime is ncnn's Python package (``ncnn.Net``, CPU only here, Vulkan off). ncnn has no batch
dimension: one image per extractor, so the file is made for batch 1 and a batch is run image by image, as an app
does. Precisions are ncnn's options on the same file (``options``): fp32 turns fp16/bf16 storage and arithmetic
off (ncnn's defaults turn them on, which on an ARMv8.2 CPU would run FP32 files in fp16); fp16 turns them on, and
ncnn then stores and computes in fp16 where the CPU has it (ARM asimdhp); on x86 it keeps FP32 arithmetic (only
InnerProduct weights are stored fp16). INT8 needs ncnn's C++ tools (ncnn2table, ncnn2int8), which no wheel ships.
The runtime half of this module imports neither torch nor pnnx.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DependencyMissing, ExportError
from .sidecar import read_sidecar

EXTRA = "ncnn"
RUNTIME, CONVERTER = "ncnn", "pnnx"  # the pip packages
PRECISION_OPTIONS = {  # ncnn.Option fields each precision sets
    "fp32": {"use_fp16_packed": False, "use_fp16_storage": False, "use_fp16_arithmetic": False,
             "use_bf16_storage": False, "use_bf16_packed": False},
    "fp16": {"use_fp16_packed": True, "use_fp16_storage": True, "use_fp16_arithmetic": True,
             "use_bf16_storage": False, "use_bf16_packed": False},
}
PNNX_TIMEOUT_S = 900
OUTPUT_SHAPES = "ncnn_output_shapes"  # the sidecar's metadata key: each output's per-image shape (JSON)
NO_INT8 = "ncnn's INT8 files come from its C++ tools ncnn2table and ncnn2int8, which no wheel ships"


def require_ncnn() -> None:
    try:
        import ncnn  # noqa: F401
    except ImportError:
        raise DependencyMissing(RUNTIME, extra=EXTRA, purpose="ncnn .param/.bin files") from None


def require_converter() -> None:
    require_ncnn()
    try:
        import pnnx  # noqa: F401
    except ImportError:
        raise DependencyMissing(CONVERTER, extra=EXTRA, purpose="PyTorch -> ncnn conversion") from None


def weights_path(param: str | os.PathLike) -> Path:
    """The ``.bin`` beside a ``.param`` (``m.param`` -> ``m.bin``; a temporary ``.m.param.X.partial`` -> ``.m.param.X.bin``)."""
    return Path(param).with_suffix(".bin")


@dataclass(frozen=True)
class Layer:
    type: str
    name: str
    bottoms: tuple[str, ...]
    tops: tuple[str, ...]


def read_param(text: str) -> list[Layer]:
    """The layers of an ncnn ``.param`` (text format: magic 7767517, counts, then one layer a line:
    ``type name bottoms tops bottom... top... key=value...``)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != ["7767517"]:
        raise ExportError("not an ncnn .param file (its first line is not 7767517)")
    layers = []
    for fields in lines[2:]:
        n_bottom, n_top = int(fields[2]), int(fields[3])
        blobs = fields[4:4 + n_bottom + n_top]
        layers.append(Layer(fields[0], fields[1], tuple(blobs[:n_bottom]), tuple(blobs[n_bottom:])))
    return layers


def _numbered(names: set[str]) -> list[str]:
    return sorted(names, key=lambda n: (int(re.sub(r"\D", "", n) or 0), n))


def io_blobs(layers: list[Layer]) -> tuple[list[str], list[str]]:
    """(input blobs, output blobs) of a graph: the Input layers' tops, and the tops no layer reads, in pnnx's
    order (in0, in1, ...; out0, out1, ...)."""
    inputs = {top for layer in layers if layer.type == "Input" for top in layer.tops}
    read = {bottom for layer in layers for bottom in layer.bottoms}
    outputs = {top for layer in layers for top in layer.tops if top not in read and layer.type != "Input"}
    return _numbered(inputs), _numbered(outputs)


def net(param: str | os.PathLike, precision: str = "fp32", threads: int | None = None):
    """An ``ncnn.Net`` on ``param`` and its ``.bin``, with ``precision``'s options and ``threads`` (default: every
    core), Vulkan off."""
    import ncnn

    loaded = ncnn.Net()
    loaded.opt.use_vulkan_compute = False
    loaded.opt.num_threads = int(threads or ncnn.get_cpu_count())
    for key, value in PRECISION_OPTIONS[precision].items():
        setattr(loaded.opt, key, value)
    if loaded.load_param(str(param)) != 0:
        raise ExportError(f"ncnn could not read {param}")
    weights = weights_path(param)
    if not weights.is_file():
        raise ExportError(f"{param}: its weights {weights.name} are not beside it")
    if loaded.load_model(str(weights)) != 0:
        raise ExportError(f"ncnn could not read {weights}")
    return loaded


class Session:
    """Inference on one net: float NCHW batches in, float outputs out (batch first), one image per extractor."""

    def __init__(self, param: str | os.PathLike, precision: str = "fp32", threads: int | None = None, meta=None):
        """``meta``: the file's metadata where the caller has read it already (else read from its sidecar)."""
        import ncnn

        self._mat = ncnn.Mat
        self.net = net(param, precision, threads)
        self.inputs, self.outputs = io_blobs(read_param(Path(param).read_text()))
        meta = meta if meta is not None else read_sidecar(param)[0]
        shapes = json.loads(meta.extra.get(OUTPUT_SHAPES, "null")) if meta is not None else None
        self.shapes = shapes if shapes and len(shapes) == len(self.outputs) else [None] * len(self.outputs)

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        arrays = [np.ascontiguousarray(a, dtype=np.float32) for a in arrays]
        results: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for i in range(arrays[0].shape[0]):
            samples = [np.ascontiguousarray(a[i]) for a in arrays]  # kept alive: ncnn.Mat borrows their memory
            with self.net.create_extractor() as extractor:
                for blob, sample in zip(self.inputs, samples):
                    extractor.input(blob, self._mat(sample))
                for k, blob in enumerate(self.outputs):
                    code, out = extractor.extract(blob)
                    if code != 0:
                        raise ExportError(f"ncnn could not compute {blob} (code {code})")
                    found = np.array(out)
                    results[k].append(found.reshape(self.shapes[k]) if self.shapes[k] is not None else found)
        return [np.stack(found) for found in results]


def runner(path: str, threads: int | None = None):
    """A call on input arrays -> output arrays, with ncnn (FP32 options) on ``path``."""
    return Session(path, "fp32", threads).run


def lower(module, example: tuple, quantizer: Any = None):
    """``module`` traced to TorchScript and converted by pnnx: a Lowered with the ``.param`` text as its content
    and the ``.bin`` as its companion."""
    import torch

    from .mobile import Lowered

    if quantizer is not None:
        raise ExportError(NO_INT8)
    import pnnx

    with tempfile.TemporaryDirectory(prefix="edgecnn-pnnx-") as tmp:
        folder = Path(tmp)
        with torch.no_grad():
            traced = _trace(module, example)
        traced.save(str(folder / "model.pt"))
        shapes = ",".join("[" + ",".join(str(d) for d in x.shape) + "]f32" for x in example)
        written = {"ncnnparam": "model.param", "ncnnbin": "model.bin", "pnnxparam": "model.pnnx.param",
                   "pnnxbin": "model.pnnx.bin", "pnnxpy": "model_pnnx.py", "pnnxonnx": "model.pnnx.onnx",
                   "ncnnpy": "model_ncnn.py"}
        command = [pnnx.EXEC_PATH, "model.pt", f"inputshape={shapes}", "fp16=0",
                   *(f"{key}={name}" for key, name in written.items())]
        try:
            done = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=PNNX_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise ExportError(f"pnnx did not finish in {PNNX_TIMEOUT_S} s") from None
        param, weights = folder / "model.param", folder / "model.bin"
        if done.returncode != 0 or not param.is_file() or not weights.is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ExportError(f"pnnx failed (exit code {done.returncode}): {tail[0]}")
        text = param.read_text()
        layers = read_param(text)
        return Lowered(content=text.encode(), delegation=None, nodes=sum(1 for l in layers if l.type != "Input"),
                       companions={".bin": weights.read_bytes()},
                       extra={OUTPUT_SHAPES: json.dumps(_sample_shapes(module, example))})


def _sample_shapes(module, example: tuple) -> list[list[int]]:
    """Each output's shape without the batch, from PyTorch: an ncnn Mat has no batch dimension, and a
    batch-only output (a Siamese net's similarity, shape [N]) comes back from ncnn as one value a Mat of width 1,
    as a [N, 1] output would; the metadata says which it was."""
    import torch

    with torch.no_grad():
        outputs = module(*example)
    outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    return [list(out.shape[1:]) for out in outputs]


def _trace(module, example: tuple):
    """TorchScript, what pnnx reads (``torch.jit.trace`` warns that it is deprecated in favour of torch.export;
    pnnx has no torch.export front end yet)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, message=".*trace.*")
        return torch.jit.trace(module, example, check_trace=False)


@functools.cache
def _format():
    from .mobile import MobileFormat

    return MobileFormat(name=RUNTIME, suffix=".param", exporter=CONVERTER, runtime="ncnn (CPU)",
                        require=require_converter, quantizer=None, fold=False, lower=lower, embed=None,
                        runner=runner, libraries=(CONVERTER, RUNTIME), backend=RUNTIME, precisions=("fp32",),
                        one_image=True, no_int8=NO_INT8)


def __getattr__(name: str):
    if name == "FORMAT":  # built on first use: the export flow imports torch, running a file does not
        return _format()
    raise AttributeError(name)


__all__ = ["EXTRA", "FORMAT", "PRECISION_OPTIONS", "Layer", "Session", "io_blobs", "lower", "net", "read_param",
           "require_converter", "require_ncnn", "runner", "weights_path"]
