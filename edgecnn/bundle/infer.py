#!/usr/bin/env python3
"""Standalone inference for an edgecnn bundle: numpy, pillow and onnxruntime, nothing else.

    python infer.py IMAGES_OR_DIRS... [--top-k 5] [--json] [--batch N] [--threads N] [--out masks/]
                    [--bench N] [--warmup-s S] [--verify]
    python infer.py --profile [--data DIR] [--batch 1,8] [--threads N] [--min-runs N]
                    [--min-time-s S] [--results FILE] [--device-name NAME]

It reads the files beside it: ``model.onnx`` (or ``model.engine`` for TensorRT),
``preprocess.json``, ``labels.txt`` and ``manifest.sha256``. Folders are searched
recursively; files that are not images are skipped with a message. Greyscale,
palette, RGBA (composited on white) and 16-bit images are converted as edgecnn
converts them.

This file is copied verbatim into every bundle, with the folder ``edgecnn_device/`` (edgecnn's
package ``edgecnn/core/device/``): the preprocessing, the metrics, the timing, memory and
latency statistics and the manifest check that edgecnn itself runs, so the device and edgecnn
compute them identically by construction. The timing, batch and thread flags are built from
the declarations it holds (``edgecnn_device/options.py``), which edgecnn's own options read too.

Pure Python on top of numpy, pillow and the runtime: it runs wherever those
have wheels (x86-64, aarch64: Raspberry Pi, Jetson). The TensorRT path (for
``model.engine``) uses the TensorRT 10 / 11 API and cuda-python; it has not been run
by edgecnn's developers, who had no NVIDIA GPU (see the bundle's README).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DEVICE_IMPORT_ERROR = ""
try:  # shipped beside this file: the preprocessing, statistics, memory, manifest and option code edgecnn runs
    import edgecnn_device as device
    from edgecnn_device import (
        IMAGE_EXTENSIONS,
        MANIFEST,
        latency_stats,
        preprocess,
        verify_manifest,
    )
except ImportError as exc:  # outside a bundle, or a damaged one; main() says so
    IMAGE_EXTENSIONS, MANIFEST = (), "manifest.sha256"
    device = latency_stats = preprocess = verify_manifest = None
    DEVICE_IMPORT_ERROR = f"{type(exc).__name__}: {exc}"


def load_config(folder: Path = HERE) -> tuple[dict, list[str]]:
    config = json.loads((folder / "preprocess.json").read_text())
    labels_path = folder / "labels.txt"
    labels = labels_path.read_text().splitlines() if labels_path.exists() else []
    return config, labels


# ---------------------------------------------------------------- images
def collect_images(paths: list[str]) -> list[Path]:
    """Files given directly, and every file under the folders given (sorted); non-images are weeded out later."""
    found = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            found.append(path)
        else:
            print(f"skipped {item}: no such file or folder", file=sys.stderr)
    return found


def open_image(path: Path, quiet: bool = False) -> Image.Image | None:
    try:
        with Image.open(path) as probe:
            probe.verify()
        image = Image.open(path)
        image.load()
        return image
    except Exception as exc:  # not an image, or a broken one: say so and go on
        kind = "not an image" if path.suffix.lower() not in IMAGE_EXTENSIONS else "unreadable image"
        if not quiet:
            print(f"skipped {path}: {kind} ({type(exc).__name__})", file=sys.stderr)
        return None


# ---------------------------------------------------------------- runtimes
class OnnxModel:
    def __init__(self, path: Path, threads: int | None = None, runtime_options: dict | None = None,
                 profile_prefix: str | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if profile_prefix:  # --per-layer: a second session with ONNX Runtime's profiler, the timed one untouched
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        level = (runtime_options or {}).get("graph_optimization_level")  # what the engine bundled for runs with
        if level:
            options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.input_name, self.input_names = inputs[0].name, [i.name for i in inputs]
        first = inputs[0].shape[0]
        self.fixed_batch = first if isinstance(first, int) and first > 0 else None
        self.output_name = self.session.get_outputs()[0].name
        self.providers = self.session.get_providers()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """The first output; a Siamese model (two inputs) sees ``batch`` on both: its first output is then
        the embedding of each image."""
        return self.session.run([self.output_name], {name: batch for name in self.input_names})[0]


class LiteRtModel:
    """LiteRT's interpreter (``ai-edge-litert``) with its default XNNPACK delegate. A full-integer model's INT8 input
    is quantized and its output dequantized with their own scales (edgecnn_device.quantized_io), as edgecnn's LiteRT
    engine does; ``threads`` None -> every core (LiteRT's own default is one)."""

    def __init__(self, path: Path, threads: int | None = None):
        import os

        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=int(threads or os.cpu_count() or 1))
        self.interpreter.allocate_tensors()
        self.inputs = self.interpreter.get_input_details()
        self.output = self.interpreter.get_output_details()[0]
        self.input_name, self.input_names = self.inputs[0]["name"], [d["name"] for d in self.inputs]
        self.output_name = self.output["name"]
        self.fixed_batch = int(self.inputs[0]["shape"][0])
        self.providers = ["XNNPACK"]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        for detail in self.inputs:  # a Siamese model sees ``batch`` on both inputs, as with ONNX Runtime
            self.interpreter.set_tensor(detail["index"], device.to_tensor(batch, detail))
        self.interpreter.invoke()
        return device.from_tensor(self.interpreter.get_tensor(self.output["index"]), self.output)


class ExecuTorchModel:
    """ExecuTorch's runtime (``executorch.runtime``) on a .pte lowered to XNNPACK; its thread pool is process-wide
    and set to ``threads`` (None -> every core, ExecuTorch's default). It takes and gives torch tensors."""

    def __init__(self, path: Path, threads: int | None = None):
        import torch
        from executorch.runtime import Runtime

        if threads:
            from executorch.extension.pybindings import portable_lib

            portable_lib._unsafe_reset_threadpool(int(threads))
        self.torch = torch
        self.method = Runtime.get().load_program(str(path)).load_method("forward")
        meta = self.method.metadata
        self.input_names = [f"input_{i}" for i in range(meta.num_inputs())]
        self.input_name, self.output_name = self.input_names[0], "output_0"
        self.fixed_batch = int(meta.input_tensor_meta(0).sizes()[0])
        self.providers = ["XNNPACK"]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        tensor = self.torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        return self.method.execute([tensor] * len(self.input_names))[0].numpy()


class NcnnModel:
    """ncnn's Python runtime on model.param + model.bin (pnnx's blobs in0.../out0), Vulkan off. ncnn has no batch
    dimension: a batch runs image by image. The precision is the bundle's: fp32 turns ncnn's fp16/bf16 storage and
    arithmetic off (its defaults turn them on, on ARMv8.2 CPUs), fp16 on (as edgecnn's ncnn engine does)."""

    FP16 = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic")

    def __init__(self, path: Path, precision: str = "fp32", threads: int | None = None):
        import ncnn

        self.ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = int(threads or ncnn.get_cpu_count())
        for key in self.FP16:
            setattr(self.net.opt, key, precision == "fp16")
        self.net.opt.use_bf16_storage = self.net.opt.use_bf16_packed = False
        if self.net.load_param(str(path)) != 0 or self.net.load_model(str(path.with_suffix(".bin"))) != 0:
            raise SystemExit(f"error: ncnn could not read {path.name} and {path.with_suffix('.bin').name}")
        layers = [line.split() for line in path.read_text().splitlines()[2:] if line.strip()]
        self.input_names = sorted((f[4 + int(f[2])] for f in layers if f[0] == "Input"), key=lambda n: int(n[2:] or 0))
        self.input_name, self.output_name = self.input_names[0], "out0"
        self.fixed_batch = None  # any batch, one image at a time
        self.providers = ["ncnn-cpu"]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        outs = []
        for image in batch:
            image = np.ascontiguousarray(image)  # kept alive while the extractor runs: ncnn.Mat borrows it
            with self.net.create_extractor() as extractor:
                for name in self.input_names:  # a Siamese model sees the image on both inputs
                    extractor.input(name, self.ncnn.Mat(image))
                code, out = extractor.extract(self.output_name)
                if code != 0:
                    raise SystemExit(f"error: ncnn could not compute {self.output_name} (code {code})")
                outs.append(np.array(out))
        return np.stack(outs)


CUDA_PYTHON = "cuda-python>=12.6.2,<14"  # what requirements.txt names for a TensorRT bundle (edgecnn's builder too)


def cuda_runtime():
    """cuda-python's CUDA runtime module: ``cuda.bindings.runtime`` (cuda-python 12.6.2 on, the only one in 13.x),
    else the ``cuda.cudart`` of older releases."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        try:
            from cuda import cudart as runtime
        except ImportError:
            raise SystemExit(f"error: the TensorRT path needs cuda-python: pip install '{CUDA_PYTHON}'") from None
    return runtime


def cuda_check(cudart, result):
    """A cuda-python call returns (error, *values): the values, or a one-line error."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA call failed: {getattr(error, 'name', error)}")
    return values[0] if len(values) == 1 else tuple(values)


class TensorRTModel:
    """A TensorRT 10 or 11 engine, run with cuda-python: set_input_shape, set_tensor_address, execute_async_v3.

    Device buffers are allocated once per input shape and kept until :meth:`close`, so a timed call is copy in,
    compute and copy out, as edgecnn's own TensorRT runner measures it (no cudaMalloc / cudaFree per call)."""

    def __init__(self, path: Path, config: dict):
        import tensorrt as trt

        self.trt = trt
        self.cudart = cudart = cuda_runtime()
        self.buffers: dict[tuple, tuple[int, int, tuple]] = {}  # input shape -> (device in, device out, out shape)
        self.stream = None
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise RuntimeError(f"TensorRT could not load {path.name} (built for another GPU or TensorRT version?)")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        first = self.engine.get_tensor_shape(self.input_name)[0]
        self.fixed_batch = first if first > 0 else None
        self.stream = cuda_check(cudart, cudart.cudaStreamCreate())

    def _buffers(self, shape: tuple, nbytes: int) -> tuple[int, int, tuple]:
        """The device buffers for an input of ``shape``: allocated on its first call, reused after."""
        if shape not in self.buffers:
            cudart = self.cudart
            self.context.set_input_shape(self.input_name, shape)
            out_shape = tuple(self.context.get_tensor_shape(self.output_name))
            out_bytes = int(np.prod(out_shape, dtype=np.int64)) * np.dtype(np.float32).itemsize
            d_in = cuda_check(cudart, cudart.cudaMalloc(nbytes))
            try:
                d_out = cuda_check(cudart, cudart.cudaMalloc(out_bytes))
            except RuntimeError:
                cudart.cudaFree(d_in)
                raise
            self.buffers[shape] = (d_in, d_out, out_shape)
        return self.buffers[shape]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        cudart = self.cudart
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        d_in, d_out, out_shape = self._buffers(batch.shape, batch.nbytes)
        output = np.empty(out_shape, dtype=np.float32)
        self.context.set_input_shape(self.input_name, batch.shape)
        self.context.set_tensor_address(self.input_name, d_in)
        self.context.set_tensor_address(self.output_name, d_out)
        cuda_check(cudart, cudart.cudaMemcpyAsync(d_in, batch.ctypes.data, batch.nbytes,
                                                  cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError("TensorRT could not enqueue the inference (execute_async_v3 returned False)")
        cuda_check(cudart, cudart.cudaMemcpyAsync(output.ctypes.data, d_out, output.nbytes,
                                                  cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        cuda_check(cudart, cudart.cudaStreamSynchronize(self.stream))
        return output

    def close(self) -> None:
        """Free the device buffers and the stream; the model cannot run after this."""
        cudart = self.cudart
        for d_in, d_out, _ in self.buffers.values():
            cudart.cudaFree(d_in)
            cudart.cudaFree(d_out)
        self.buffers.clear()
        if self.stream is not None:
            cudart.cudaStreamDestroy(self.stream)
            self.stream = None
        self.context = self.engine = None


def close_model(model) -> None:
    """Release what a model holds on the device (TensorRT's buffers and stream; nothing for ONNX Runtime)."""
    close = getattr(model, "close", None)
    if close is not None:
        close()


def build_trt_engine(onnx_path: Path, plan: dict) -> Path:
    """Build (once; then reuse) the TensorRT engine of ``onnx_path`` on this device, following edgecnn's build plan
    (strongly typed for TensorRT 11, builder flags for 10); kept in ~/.cache/edgecnn/engines by content."""
    import hashlib
    import os

    import tensorrt as trt

    major = int(trt.__version__.split(".")[0])
    if major != plan["trt_major"]:
        raise SystemExit(f"error: this bundle was planned for TensorRT {plan['trt_major']}, and this device has "
                         f"{trt.__version__}; rebuild it for {major} (recipe: trt_version: {major})")
    key = hashlib.sha256(device.sha256_file(onnx_path).encode() + json.dumps(plan, sort_keys=True).encode()
                         + trt.__version__.encode()).hexdigest()[:24]
    cache = Path(os.environ.get("EDGECNN_ENGINE_CACHE", Path.home() / ".cache" / "edgecnn" / "engines"))
    engine_path = cache / f"{key}.engine"
    if engine_path.exists():
        return engine_path
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 11: always strongly typed; 10: weakly typed, flags below
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        raise SystemExit(f"error: TensorRT's ONNX parser rejected {onnx_path.name}: {parser.get_error(0)}")
    config = builder.create_builder_config()
    for flag in plan["builder_flags"]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    for entry in plan["profiles"]:
        profile.set_shape(entry["name"], entry["min"], entry["opt"], entry["max"])
    config.add_optimization_profile(profile)
    print(f"building the TensorRT {trt.__version__} engine on this device (once) ...", file=sys.stderr)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise SystemExit("error: TensorRT could not build an engine from model.onnx (see the messages above)")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = engine_path.with_name(f".{engine_path.name}.partial")
    tmp.write_bytes(bytes(serialized))
    os.replace(tmp, engine_path)
    return engine_path


def load_onnxruntime(path: Path, config: dict, threads: int | None = None) -> OnnxModel:
    return OnnxModel(path, threads, config.get("runtime_options"))


def load_tensorrt(path: Path, config: dict, threads: int | None = None) -> TensorRTModel:
    if path.suffix == ".onnx" and config.get("trt_build"):  # the engine is built here, on the device
        return TensorRTModel(build_trt_engine(path, config["trt_build"]), config)
    return TensorRTModel(path, config)


def load_litert(path: Path, config: dict, threads: int | None = None) -> LiteRtModel:
    return LiteRtModel(path, threads)


def load_executorch(path: Path, config: dict, threads: int | None = None) -> ExecuTorchModel:
    return ExecuTorchModel(path, threads)


def load_ncnn(path: Path, config: dict, threads: int | None = None) -> NcnnModel:
    return NcnnModel(path, config.get("precision", "fp32"), threads)


# preprocess.json's "engine" names the loader: what the engine the bundle was made for declares (its device side)
LOADERS = {"onnxruntime": load_onnxruntime, "tensorrt": load_tensorrt, "ai_edge_litert": load_litert,
           "executorch_runtime": load_executorch, "ncnn_net": load_ncnn}


def load_model(config: dict, folder: Path = HERE, threads: int | None = None):
    loader = LOADERS.get(config.get("engine", "onnxruntime"))
    if loader is None:
        raise SystemExit(f"error: this bundle runs on {config['engine']}, which this infer.py has no loader for "
                         f"({', '.join(LOADERS)}); bundle the model again with the edgecnn that made it")
    return loader(folder / config["model"], config, threads)


def run_batches(model, arrays: np.ndarray, batch_size: int) -> np.ndarray:
    """Logits for every array, ``batch_size`` at a time; a fixed-batch model gets padded batches."""
    if model.fixed_batch:
        batch_size = model.fixed_batch
    outputs = []
    for start in range(0, len(arrays), batch_size):
        chunk = arrays[start:start + batch_size]
        real = len(chunk)
        if model.fixed_batch and real < model.fixed_batch:
            chunk = np.concatenate([chunk, np.zeros((model.fixed_batch - real, *chunk.shape[1:]), chunk.dtype)])
        outputs.append(np.asarray(model(chunk))[:real])
    return np.concatenate(outputs) if outputs else np.zeros((0, 0), np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- segmentation (U-Net bundles)
def segmenter(model, config: dict):
    """Whole image -> class scores, tile by tile at the model's input size (mirrored borders), as edgecnn does."""
    channels, tile_in = int(config["input"]["shape"][1]), int(config["input"]["shape"][2])
    predict = lambda batch: np.asarray(run_batches(model, batch, 1))  # noqa: E731
    tile_out = int(predict(np.zeros((1, channels, tile_in, tile_in), np.float32)).shape[-1])
    return lambda image: device.predict_tiled(predict, device.native_array(image, config["preprocess"]),
                                              tile_in, tile_out)


def write_mask(mask: np.ndarray, image: Image.Image, classes: int, out: Path, stem: str) -> tuple[Path, Path]:
    """``STEM_mask.png`` (binary: 0/255; several classes: the class index) and ``STEM_overlay.png``."""
    out.mkdir(parents=True, exist_ok=True)
    values = (mask * 255).astype(np.uint8) if classes == 2 else mask.astype(np.uint8)
    mask_path, overlay_path = out / f"{stem}_mask.png", out / f"{stem}_overlay.png"
    Image.fromarray(values, "L").save(mask_path)
    base = np.asarray(device.to_mode(image, "RGB"), dtype=np.float32)
    tint = np.zeros_like(base)
    tint[..., 0] = 255
    chosen = (mask > 0)[..., None]
    Image.fromarray(np.where(chosen, 0.55 * base + 0.45 * tint, base).astype(np.uint8), "RGB").save(overlay_path)
    return mask_path, overlay_path


def folder_segmentation(model, root: Path, labels: list[str], config: dict) -> tuple[dict | None, list[str]]:
    """Pixel accuracy and mean IoU on ROOT/image + ROOT/label (masks with the images' names)."""
    images, masks = Path(root) / "image", Path(root) / "label"
    if not images.is_dir() or not masks.is_dir():
        return None, [f"accuracy not measured: {root} has no image/ and label/ folders"]
    by_stem = {p.stem: p for p in masks.iterdir() if p.is_file()}
    classes = max(len(labels), 2)
    matrix = np.zeros((classes, classes), np.int64)
    segment, warnings, count = segmenter(model, config), [], 0
    for path in sorted(p for p in images.iterdir() if p.is_file()):
        image = open_image(path, quiet=True)
        if image is None or path.stem not in by_stem:
            warnings.append(f"accuracy: {path.name} skipped (unreadable, or no mask)")
            continue
        try:
            truth = device.read_mask_file(by_stem[path.stem], classes)
        except ValueError as exc:
            warnings.append(f"accuracy: mask {by_stem[path.stem].name} {exc}")
            continue
        matrix += device.confusion(segment(image).argmax(0), truth, classes)
        count += 1
    if not count:
        return None, warnings + [f"accuracy not measured: no image with a mask under {root}"]
    metrics = device.segmentation_metrics(matrix, labels or None)
    return {"mean_iou": metrics["mean_iou"], "mean_dice": metrics["mean_dice"],
            "pixel_accuracy": metrics["pixel_accuracy"], "images": count,
            "data": str(root), "iou": metrics["iou"], "dice": metrics["dice"]}, warnings


# ---------------------------------------------------------------- similarity (Siamese bundles)
def embeddings(model, paths: list[Path], spec: dict) -> tuple[list[Path], np.ndarray]:
    kept, arrays = [], []
    for path in paths:
        image = open_image(path)
        if image is None:
            continue
        arrays.append(preprocess(image, spec))
        kept.append(path)
    if not kept:
        return [], np.zeros((0, 0), np.float32)
    return kept, run_batches(model, np.stack(arrays).astype(np.float32), 1)


def folder_verification(model, root: Path, config: dict) -> tuple[dict | None, list[str]]:
    """Verification accuracy at the model's threshold, ROC-AUC and TAR at FAR 1e-2 on pairs drawn from an
    ImageFolder (one folder per identity) the way edgecnn draws them."""
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
    paths, labels = [], []
    for index, folder in enumerate(folders):
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            paths.append(path)
            labels.append(index)
    kept, vectors = embeddings(model, paths, config["preprocess"])
    labels = [labels[paths.index(p)] for p in kept]
    try:
        pairs = device.draw_pairs(labels, min(400, 4 * len(kept)), 0)
    except ValueError as exc:
        return None, [f"accuracy not measured: {exc}"]
    first, second, same = zip(*pairs)
    scores = device.cosine_similarity(vectors[list(first)], vectors[list(second)])
    metrics = device.verification_metrics(scores, np.asarray(same), float(config.get("threshold", 0.5)))
    return {"verification_accuracy": metrics["accuracy"], "roc_auc": metrics["roc_auc"],
            "tar_at_far": metrics["tar_at_far"], "pairs": metrics["pairs"], "images": len(kept), "data": str(root),
            "threshold": metrics["threshold"]}, []


def similarity_main(args, model, config: dict) -> int:
    threshold = float(config.get("threshold", 0.5))
    if args.enroll:
        folders = sorted(p for p in Path(args.enroll).iterdir() if p.is_dir() and not p.name.startswith("."))
        paths = [p for f in folders for p in sorted(f.rglob("*")) if p.is_file() and not p.name.startswith(".")]
        kept, vectors = embeddings(model, paths, config["preprocess"])
        if not kept:
            print(f"error: no images under {args.enroll} (one folder per identity)", file=sys.stderr)
            return 2
        np.savez(args.gallery, embeddings=vectors, names=np.array([p.parent.name for p in kept]),
                 files=np.array([str(p) for p in kept]))
        print(f"enrolled {len(kept)} images of {len({p.parent.name for p in kept})} identities into {args.gallery}")
    if args.identify:
        if not Path(args.gallery).exists():
            print(f"error: no gallery {args.gallery}: enroll one first (--enroll DIR)", file=sys.stderr)
            return 2
        gallery = np.load(args.gallery)
        kept, vectors = embeddings(model, collect_images(args.identify), config["preprocess"])
        for path, vector in zip(kept, vectors):
            scores = device.cosine_similarity(gallery["embeddings"], vector[None])
            best = int(np.argmax(scores))
            who = str(gallery["names"][best]) if scores[best] >= threshold else "unknown"
            line = {"image": str(path), "identity": who, "similarity": float(scores[best]),
                    "closest": str(gallery["files"][best]), "threshold": threshold}
            print(json.dumps(line) if args.json else
                  f"{path}: {who} (similarity {scores[best]:.3f} to {gallery['files'][best]}, threshold {threshold:.3f})")
    if args.images:
        paths = collect_images(args.images)
        if len(paths) != 2:
            print("error: a Siamese bundle compares two images: infer.py A.jpg B.jpg (or --enroll / --identify)",
                  file=sys.stderr)
            return 2
        kept, vectors = embeddings(model, paths, config["preprocess"])
        if len(kept) != 2:
            return 2
        score = float(device.cosine_similarity(vectors[0], vectors[1]))
        decision = "same" if score >= threshold else "different"
        print(json.dumps({"a": str(kept[0]), "b": str(kept[1]), "similarity": score, "decision": decision,
                          "threshold": threshold}) if args.json else
              f"{kept[0]} vs {kept[1]}: similarity {score:.4f} -> {decision} (threshold {threshold:.4f})")
    return 0


# ---------------------------------------------------------------- benchmark
def benchmark(model, feed: np.ndarray, runs: int, warmup_s: float) -> dict:
    """Latency of ``runs`` calls after ``warmup_s`` seconds of warm-up: p50/p90/p99 as edgecnn profile computes them."""
    deadline = time.perf_counter() + warmup_s
    model(feed)
    while time.perf_counter() < deadline:
        model(feed)
    times = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        t0 = clock()
        model(feed)
        times.append((clock() - t0) / 1e6)
    return latency_stats(times, int(feed.shape[0]))


# ---------------------------------------------------------------- profile: figures in edgecnn's results format
def runtime_versions(config: dict) -> dict:
    from importlib import metadata

    versions = {}
    for package in ("onnxruntime", "onnxruntime-gpu", "tensorrt", "ai-edge-litert", "executorch", "ncnn", "numpy",
                    "pillow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    versions["edgecnn (bundled by)"] = config.get("edgecnn_version", "?")
    return versions


def folder_accuracy(model, root: Path, labels: list[str], spec: dict, batch: int) -> tuple[dict | None, list[str]]:
    """Top-1 and top-5 on an ImageFolder whose class folders are named like the bundle's labels."""
    warnings = []
    index = {label: i for i, label in enumerate(labels)}
    folders = sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [f.name for f in folders if f.name not in index]
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" ... and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        warnings.append(f"accuracy: class folders not among the bundle's labels were left out: {shown}")
    arrays, targets = [], []
    for folder in folders:
        if folder.name not in index:
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            image = open_image(path, quiet=True)
            if image is None:
                continue
            try:
                arrays.append(preprocess(image, spec))
            except ValueError:
                continue
            targets.append(index[folder.name])
    if not arrays:
        warnings.append(f"accuracy not measured: no labelled images under {root}")
        return None, warnings
    logits = run_batches(model, np.stack(arrays).astype(np.float32), batch)
    targets_arr = np.asarray(targets)
    top = np.argsort(-logits, axis=1, kind="stable")
    top1 = float(np.mean(top[:, 0] == targets_arr))
    top5 = float(np.mean([t in row[:5] for t, row in zip(targets_arr, top)]))
    correct = "".join("1" if ok else "0" for ok in top[:, 0] == targets_arr)
    return {"top1": top1, "top5": top5, "images": len(targets), "data": str(root), "correct": correct}, warnings


def profile(args, config: dict, labels: list[str]) -> dict:
    """Latency, memory, accuracy and the environment, as one edgecnn results file."""
    import time

    loading = time.perf_counter()
    with device.PeakRss() as load:
        model = load_model(config, HERE, args.threads)
    loaded = time.perf_counter()
    try:
        return _profile(args, config, labels, model, load, (loading, loaded))
    finally:
        close_model(model)


def _profile(args, config: dict, labels: list[str], model, load, load_times) -> dict:
    import time

    shape = [int(d) for d in config["input"]["shape"][1:]]
    batches = [model.fixed_batch] if model.fixed_batch else args.batches
    warnings = []
    if model.fixed_batch and args.batches != [model.fixed_batch]:
        warnings.append(f"this model has a fixed batch of {model.fixed_batch}; only that batch was timed")
    measured = []
    rng = np.random.default_rng(0)
    feeds = {batch: rng.standard_normal([batch] + shape).astype(np.float32) for batch in batches}
    first: dict[int, float] = {}

    def each_batch_once() -> None:
        for batch, feed in feeds.items():
            started = time.perf_counter()
            model(feed)
            first.setdefault(batch, 1000 * (time.perf_counter() - started))

    # memory in a pass of its own (its first calls are the cold start's first inferences), so nothing of edgecnn's
    # runs beside the timed window
    run = device.memory_pass(each_batch_once)
    cold = device.cold_start(*load_times, first, getattr(model, "compile_s", None))
    states = {}
    for batch, feed in feeds.items():
        sensors = device.SensorLog()
        sensors.start()
        times = device.time_calls(lambda: model(feed), warmup_s=args.warmup_s, min_runs=args.min_runs,
                                  min_time_s=args.min_time_s, between=sensors.read)
        stats = latency_stats(times, batch)
        states[batch] = dict(sensors.stop(len(times)), batch=batch)
        measured.append(stats)
        if stats["cv"] > 0.05:
            warnings.append(f"batch {batch}: latency varies by {100 * stats['cv']:.1f}% (coefficient of "
                            "variation > 5%): the device is busy or throttling; figures are noisy")
        warnings += [f"batch {batch}: {flag}" for flag in states[batch]["flags"]]
    accuracy = None
    if args.data:  # the task's figures: top-1, mean IoU, verification accuracy
        accuracy, notes = handler(config)["accuracy"](model, Path(args.data), labels, config, max(batches))
        warnings += notes
    if load.method == "unavailable":
        warnings.append("memory not measured: no /proc and no psutil on this device")
    env = device.environment_block(args.threads, runtime_versions(config))
    if args.emulated:
        env["emulated"] = True
    if env["emulated"]:
        warnings.insert(0, device.EMULATED_WARNING)
    env["runtime"] = {"engine": config["engine"], "providers": getattr(model, "providers", [])}
    env["memory_method"] = load.method
    name = args.device_name or device.device_label(env)
    if env["emulated"] and "emulated" not in name:
        name += " (emulated)"
    model_file = HERE / config["model"]
    rows = [device.results_row(device=name, model=config["architecture"], engine=config["results_engine"],
                               precision=config["precision"], stats=stats,
                               load_rss_bytes=load.increase_bytes, run_rss_bytes=run.increase_bytes,
                               device_memory_bytes=None, accuracy=accuracy, file_size_bytes=model_bytes(model_file),
                               artifact=config["model"], warnings=warnings) for stats in measured]
    for row in rows:
        row.update(scenario="single-stream", streams="1", machine=states.get(row["batch"]), cold_start=cold)
    if getattr(args, "per_layer", False):
        layers = per_layer_rows(config, feeds[batches[0]], args.threads)
        if layers is None:
            missing = (f"no per-layer times from {config['engine']} in infer.py: its Python API has no "
                       f"per-layer timer (--per-layer runs {', '.join(PER_LAYER)}'s)")
            for row in rows:  # the rows hold their own copies of the warnings
                row["warnings"].append(missing)
        elif rows:
            rows[0]["per_layer"] = layers
    return {"schema": device.RESULTS_SCHEMA, "version": device.RESULTS_VERSION, "recipe": None,
            "model": config["architecture"], "device": name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "environment": env, "training": None, "stages": [], "rows": rows,
            "bundle": {"model_sha256": device.sha256_file(model_file), "precision": config["precision"],
                       "measured_by": "infer.py --profile"}}


def model_bytes(model_file: Path) -> int:
    """The model's size on the device: the file, and ncnn's weights (model.bin) beside its model.param."""
    weights = model_file.with_suffix(".bin") if model_file.suffix == ".param" else None
    return model_file.stat().st_size + (weights.stat().st_size if weights and weights.is_file() else 0)


def per_layer_rows(config: dict, feed: np.ndarray, threads: int | None, runs: int = 20, top: int = 15):
    """The runtime's own per-layer timer over ``runs`` inferences of a second copy of the model (the timed one
    untouched): ONNX Runtime's profiler, ExecuTorch's ETDump; the slowest layers ranked as edgecnn profile
    --per-layer ranks them on the host. None for a runtime whose Python API has none (LiteRT, ncnn)."""
    layers = PER_LAYER.get(config.get("engine", "onnxruntime"))
    return None if layers is None else device.rank_layers(layers(config, feed, threads, runs), top)


def ort_layers(config: dict, feed: np.ndarray, threads: int | None, runs: int) -> list[dict]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="infer-ortprof-") as tmp:
        model = OnnxModel(HERE / config["model"], threads, config.get("runtime_options"),
                          profile_prefix=str(Path(tmp) / "ort"))
        for _ in range(runs):
            model(feed)
        events = json.loads(Path(model.session.end_profiling()).read_text())
    return device.ort_node_times(events)


def executorch_layers(config: dict, feed: np.ndarray, threads: int | None, runs: int) -> list[dict]:
    """ExecuTorch's event tracer (ETDump) on a program loaded with it on, read back by its Inspector (which needs
    pandas: an ExecuTorch dependency)."""
    import tempfile
    import warnings

    import torch
    from executorch.devtools import Inspector
    from executorch.runtime import Runtime

    program = Runtime.get().load_program(str(HERE / config["model"]), enable_etdump=True, debug_buffer_size=1 << 24)
    method = program.load_method("forward")
    tensor = torch.from_numpy(np.ascontiguousarray(feed, dtype=np.float32))
    inputs = [tensor] * int(method.metadata.num_inputs())
    for _ in range(runs):
        method.execute(inputs)
    with tempfile.TemporaryDirectory(prefix="infer-etdump-") as tmp:
        etdump, debug = str(Path(tmp) / "run.etdp"), str(Path(tmp) / "run.bin")
        program.write_etdump_result_to_file(etdump, debug)
        with warnings.catch_warnings():  # "Output Buffer not found": no tensor debug data asked for, none needed
            warnings.simplefilter("ignore")
            frame = Inspector(etdump_path=etdump).to_dataframe()
    return device.etdump_rows(frame)


def tensorrt_layers(config: dict, feed: np.ndarray, threads: int | None, runs: int) -> list[dict]:
    """TensorRT's IProfiler on a second copy of the engine (as edgecnn's TensorRT runner does on the
    host). Not run on the development machines: no GPU there."""
    model = load_tensorrt(HERE / config["model"], config, threads)
    trt, times = model.trt, {}

    class LayerProfiler(trt.IProfiler):
        def __init__(self):
            trt.IProfiler.__init__(self)

        def report_layer_time(self, layer_name, ms):
            entry = times.setdefault(layer_name, {"name": layer_name, "op": "trt", "total_us": 0.0, "calls": 0})
            entry["total_us"] += 1000 * ms
            entry["calls"] += 1

    model.context.profiler = LayerProfiler()
    try:
        for _ in range(runs):
            model(feed)
    finally:
        model.close()
    return list(times.values())


# loader -> its per-layer timer (LiteRT's and ncnn's Python APIs have none)
PER_LAYER = {"onnxruntime": ort_layers, "executorch_runtime": executorch_layers, "tensorrt": tensorrt_layers}


def write_json(path: Path, data: dict) -> None:
    """Written beside, then renamed: an interrupted run leaves no half file."""
    import os

    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


ACCURACY_COLUMNS = (("top1", "top-1 %"), ("mean_iou", "mean IoU %"), ("verification_accuracy", "verif. %"))


def format_rows(results: dict) -> str:
    """The rows as a table; the accuracy column is the task's metric (top-1, mean IoU, verification accuracy)."""
    key, title = next(((k, t) for k, t in ACCURACY_COLUMNS if any(r.get(k) is not None for r in results["rows"])),
                      ACCURACY_COLUMNS[0])
    lines = [f"{'batch':>5} {'runs':>6} {'p50 ms':>9} {'p90':>9} {'p99':>9} {'img/s':>9} {'load MiB':>9} "
             f"{'run MiB':>8} {title:>10}"]
    for row in results["rows"]:
        value = f"{100 * row[key]:.2f}" if row.get(key) is not None else "-"
        lines.append(f"{row['batch']:>5} {row['runs']:>6} {row['p50_ms']:>9.3f} {row['p90_ms']:>9.3f} "
                     f"{row['p99_ms']:>9.3f} {row['throughput']:>9.1f} {row['load_rss_mib']:>9.1f} "
                     f"{row['run_rss_mib']:>8.1f} {value:>10}")
    cold = (results["rows"][0].get("cold_start") or {}) if results["rows"] else {}
    if cold:
        started = f"process start to loaded {cold['process_to_loaded_s']:.2f} s, " \
            if cold.get("process_to_loaded_s") is not None else ""
        first = ", ".join(f"batch {b} {ms:.2f} ms" for b, ms in cold["first_inference_ms"].items())
        lines.append(f"cold start: {started}load {cold['load_s']:.2f} s, first inference {first}")
    machine = (results["rows"][0].get("machine") or {}) if results["rows"] else {}
    if machine:
        energy = machine.get("energy") or {}
        clock = machine.get("clock_mhz")
        lines.append("machine: " + "; ".join([
            f"clock {clock['min']:.0f}-{clock['max']:.0f} MHz" if isinstance(clock, dict) else f"clock {clock}",
            f"hottest {machine['temperature_c']['max']:.0f} C" if isinstance(machine.get("temperature_c"), dict)
            else f"temperature {machine.get('temperature_c')}",
            f"energy {energy['mj_per_inference']:.3f} mJ per inference ({energy['sensor']})"
            if energy.get("mj_per_inference") is not None else f"energy {energy.get('note')}"]))
    return "\n".join(lines)


# ---------------------------------------------------------------- command line
def add_declared(group, declaration, **kwargs) -> None:
    """The flag of a declaration edgecnn_device ships (its spelling, type, default and help unless ``kwargs``
    says otherwise for this script)."""
    kwargs.setdefault("type", declaration.type)
    kwargs.setdefault("default", declaration.default)
    kwargs.setdefault("help", declaration.described())
    if declaration.metavar and "metavar" not in kwargs:
        kwargs["metavar"] = declaration.metavar
    group.add_argument(declaration.flag_name, **kwargs)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Classify images with the model in this bundle (numpy + pillow + onnxruntime only).",
        epilog="Examples: python infer.py photo.jpg | python infer.py photos/ --top-k 3 --json | "
               "python infer.py --bench 200 --batch 1 | python infer.py --verify")
    parser.add_argument("images", nargs="*", help="Image files or folders (searched recursively).")
    parser.add_argument("--top-k", type=int, default=5, help="Classes to print per image (default 5).")
    parser.add_argument("--enroll", default=None, metavar="DIR",
                        help="Siamese bundles: embed a gallery (one folder per identity) into --gallery.")
    parser.add_argument("--identify", nargs="+", default=None, metavar="IMG",
                        help="Siamese bundles: the closest identity of the gallery for each image (or 'unknown').")
    parser.add_argument("--gallery", default="gallery.npz", metavar="FILE", help="Where --enroll writes (default "
                        "gallery.npz).")
    parser.add_argument("--out", default="masks", metavar="DIR",
                        help="Segmentation bundles: where NAME_mask.png and NAME_overlay.png go (default masks/).")
    parser.add_argument("--json", action="store_true", help="Print JSON lines (one per image, logits included).")
    declared = device.options  # the flags edgecnn's options are declared with: their spelling, default, help, range
    batches = declared.BATCHES
    add_declared(parser, batches, dest="batch", type=str, default=batches.shown_default(), metavar="N[,N...]",
                 help=f"Images per inference call (default {batches.shown_default()}); with --profile: "
                      f"{batches.help[0].lower()}{batches.help[1:-1]} (e.g. {batches.metavar}).")
    add_declared(parser, declared.THREADS)
    parser.add_argument("--bench", type=int, default=0, metavar="N",
                        help="Time N inference calls of --batch inputs and print p50/p90/p99 latency.")
    add_declared(parser, declared.WARMUP_S)
    parser.add_argument("--verify", action="store_true",
                        help="Check every file against manifest.sha256 first; refuse to run if any differs.")
    profile = parser.add_argument_group("profile: latency, memory and accuracy in edgecnn's results format")
    profile.add_argument("--profile", action="store_true",
                         help="Measure this bundle here and write a results file that 'edgecnn report' merges.")
    profile.add_argument("--data", default=None, metavar="DIR",
                         help="Labelled images (class folders named like labels.txt): top-1 and top-5; for a "
                              "segmentation bundle, DIR/image + DIR/label (masks): pixel accuracy and mean IoU.")
    add_declared(profile, declared.MIN_RUNS)
    add_declared(profile, declared.MIN_TIME_S)
    profile.add_argument("--results", default="results.json", metavar="FILE",
                         help="Where the results file goes (default results.json).")
    profile.add_argument("--device-name", default=None, help="This device's name in reports (default: its CPU/board).")
    profile.add_argument("--per-layer", action="store_true",
                         help="Also the slowest layers on this device (ONNX Runtime's profiler, in a session of its "
                              "own after the timed runs); the report shows them beside the host's.")
    profile.add_argument("--emulated", action="store_true",
                         help="Mark the figures as measured under an emulator (detected by itself when an ARM "
                              "process reads x86 CPU flags, as under qemu-user 7, or a CPU implementer 0x00, as "
                              "under qemu 8 and later).")
    args = parser.parse_args(argv)
    try:
        args.batches = [int(v) for v in str(args.batch).split(",") if v.strip()]
    except ValueError:
        parser.error(f"--batch takes a number or a comma-separated list, got {args.batch!r}")
    if not args.batches:
        parser.error(f"--batch takes a number or a comma-separated list, got {args.batch!r}")
    args.batch = args.batches[0]
    if args.top_k < 1 or args.bench < 0:
        parser.error("--top-k must be at least 1, --bench at least 0")
    for declaration in declared.DECLARATIONS.values():  # the ranges edgecnn checks the same options against
        value = args.batches if declaration is batches else getattr(args, declaration.name)
        problem = declaration.problem(value)
        if problem:
            parser.error(f"{declaration.flag_name} {problem}")
    if not args.images and not args.bench and not args.verify and not args.profile and not args.enroll \
            and not args.identify:
        parser.error("give images or folders to classify (or segment), --bench N, --profile, or --verify")
    if args.data and not Path(args.data).is_dir():
        parser.error(f"--data {args.data} is not a folder")
    return args


def main(argv: list[str] | None = None) -> int:
    if not (HERE / "preprocess.json").exists() or device is None:  # first: the flags come from edgecnn_device
        if (HERE / "preprocess.json").exists() and (HERE / "edgecnn_device").is_dir():
            print(f"error: edgecnn_device/ beside {Path(__file__).name} does not import ({DEVICE_IMPORT_ERROR}); "
                  f"check the bundle with 'sha256sum -c {MANIFEST}' and copy it again", file=sys.stderr)
            return 2
        missing = "preprocess.json" if not (HERE / "preprocess.json").exists() else "edgecnn_device/"
        print(f"error: no {missing} beside {Path(__file__).name}: run the copy inside a bundle made by "
              "'edgecnn bundle MODEL.onnx -o DIR'", file=sys.stderr)
        return 2
    args = parse_args(argv)
    if args.verify:
        problems = verify_manifest(HERE)
        if problems:
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            print("error: refusing to run a bundle that does not match its manifest", file=sys.stderr)
            return 3
        print(f"verified: every file matches {MANIFEST}", file=sys.stderr)
    config, labels = load_config(HERE)
    if args.profile:
        results = profile(args, config, labels)
        write_json(Path(args.results), results)
        print(format_rows(results))
        print(f"results: {args.results} ({results['device']}; merge with: edgecnn report host.json {args.results} "
              "-o report.html)", file=sys.stderr)
        return 0
    if not args.images and not args.bench and not args.enroll and not args.identify:
        return 0
    model = load_model(config, HERE, args.threads)
    try:
        return _run(args, model, config, labels)
    finally:
        close_model(model)


def _run(args, model, config: dict, labels: list[str]) -> int:
    """Classify, segment, identify or benchmark with a loaded model (main's work after loading)."""
    if model.fixed_batch and args.batch != model.fixed_batch:
        print(f"note: this model has a fixed batch of {model.fixed_batch}; using it", file=sys.stderr)
        args.batch = model.fixed_batch
    return handler(config)["run"](args, model, config, labels) or _bench(args, model, config)


def classify_main(args, model, config: dict, labels: list[str]) -> int:
    """The top-k classes of every image given (a JSON line each with --json)."""
    if not args.images:
        return 0
    paths, arrays = [], []
    for path in collect_images(args.images):
        image = open_image(path)
        if image is None:
            continue
        try:
            arrays.append(preprocess(image, config["preprocess"]))
        except ValueError as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
            continue
        paths.append(path)
    if not paths:
        print("error: no images to classify", file=sys.stderr)
        return 2
    logits = run_batches(model, np.stack(arrays).astype(np.float32), args.batch)
    probabilities = softmax(logits.astype(np.float64))
    k = min(args.top_k, logits.shape[1])
    for path, row, probs in zip(paths, logits, probabilities):
        order = np.argsort(-row, kind="stable")[:k]
        top = [{"index": int(i), "label": labels[i] if i < len(labels) else str(int(i)),
                "probability": float(probs[i])} for i in order]
        if args.json:
            print(json.dumps({"image": str(path), "top": top, "logits": [float(v) for v in row]}))
        else:
            print(f"{path}: " + ", ".join(f"{t['label']} {100 * t['probability']:.1f}%" for t in top))
    return 0


def segment_main(args, model, config: dict, labels: list[str]) -> int:
    """NAME_mask.png and NAME_overlay.png for every image given, and the share of pixels of each class."""
    if not args.images:
        return 0
    segment, shown = segmenter(model, config), 0
    for path in collect_images(args.images):
        image = open_image(path)
        if image is None:
            continue
        mask = segment(image).argmax(0)
        mask_path, overlay_path = write_mask(mask, image, max(len(labels), 2), Path(args.out), path.stem)
        share = {labels[i] if i < len(labels) else str(i): float(np.mean(mask == i))
                 for i in range(max(len(labels), 2))}
        if args.json:
            print(json.dumps({"image": str(path), "mask": str(mask_path), "overlay": str(overlay_path),
                              "pixels": share}))
        else:
            print(f"{path}: {mask_path} (" + ", ".join(f"{k} {100 * v:.1f}%" for k, v in share.items()) + ")")
        shown += 1
    if not shown:
        print("error: no images to segment", file=sys.stderr)
        return 2
    return 0


# What each task's bundle does, by the handler its preprocess.json names (edgecnn writes it from the task's
# registry entry: this script imports nothing of edgecnn's). run: the images given; accuracy: --profile --data.
HANDLERS = {
    "classify": {"run": classify_main,
                 "accuracy": lambda model, root, labels, config, batch: folder_accuracy(
                     model, root, labels, config["preprocess"], batch)},
    "segment": {"run": segment_main,
                "accuracy": lambda model, root, labels, config, batch: folder_segmentation(model, root, labels, config)},
    "verify": {"run": lambda args, model, config, labels: similarity_main(args, model, config),
               "accuracy": lambda model, root, labels, config, batch: folder_verification(model, root, config)},
}


def handler(config: dict) -> dict:
    """The handler the bundle's config names (a config without one: a classifier's)."""
    name = config.get("handler", "classify")
    if name not in HANDLERS:
        raise SystemExit(f"error: this bundle's preprocess.json names the handler {name!r}, which this infer.py does "
                         f"not have ({', '.join(HANDLERS)}); bundle the model again with the edgecnn that made it")
    return HANDLERS[name]


def _bench(args, model, config: dict) -> int:
    if args.bench:
        shape = [args.batch] + [int(d) for d in config["input"]["shape"][1:]]
        feed = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        stats = benchmark(model, feed, args.bench, args.warmup_s)
        if args.json:
            print(json.dumps({"bench": stats}))
        else:
            print(f"latency over {stats['runs']} runs at batch {stats['batch']}: p50 {stats['p50_ms']:.3f} ms, "
                  f"p90 {stats['p90_ms']:.3f} ms, p99 {stats['p99_ms']:.3f} ms ({stats['throughput']:.1f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
