"""``edgecnn bundle``: a folder (and optionally an archive) to copy onto the device.

    DIR/
      model.onnx | model.engine (+ model.engine.json)
      preprocess.json     preprocessing, input name and shape, precision, architecture (from the metadata)
      labels.txt          one class name per line
      infer.py            standalone: numpy + pillow + onnxruntime (or tensorrt + cuda-python)
      edgecnn_device.py   edgecnn/core/device.py verbatim: preprocessing, latency statistics, manifest check
      requirements.txt    only what the device needs
      README.md           usage
      manifest.sha256     sha256 of every file above (``sha256sum -c`` reads it; ``infer.py --verify`` checks it)

The folder is assembled under a temporary name beside the target and renamed
into place when complete: an interrupted bundle leaves nothing behind.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..core.metadata import ModelMetadata
from ..core.versions import __version__
from ..engines import artifact_precision
from ..engines.ort_engine import model_info_from_onnx
from ..errors import OutputExistsError, UsageError
from ..fileio import sha256_file
from ..tasks.registry import TASKS
from .options import BundleOptions

INFER_SCRIPT = Path(__file__).with_name("infer.py")
DEVICE_MODULE = Path(__file__).resolve().parents[1] / "core" / "device.py"
ONNX_REQUIREMENTS = ["numpy>=1.24", "pillow>=10", "onnxruntime>=1.18"]
# TensorRT 10.3 (JetPack 6) to 11.x, the versions tests/test_trt_names.py checks the code against; cuda-python from
# 12.6.2 (the first on PyPI with cuda.bindings.runtime, which 13.x keeps alone); the same pins as the
# tensorrt extra in pyproject.toml and infer.py's CUDA_PYTHON.
TRT_REQUIREMENTS = ["numpy>=1.24", "pillow>=10", "tensorrt>=10.3,<12", "cuda-python>=12.6.2,<14"]


@dataclass
class BundleReport:
    folder: Path
    files: dict[str, str]  # name -> sha256
    archive: Path | None = None
    notes: list[str] = field(default_factory=list)


def _model_config(model: Path) -> tuple[dict, list[str], list[str]]:
    """(preprocess.json content, labels, notes) from an ONNX file's metadata or an engine's sidecar."""

    notes: list[str] = []
    if model.suffix == ".engine":
        sidecar_path = Path(str(model) + ".json")
        if not sidecar_path.exists():
            raise UsageError(f"{model} has no {sidecar_path.name} beside it; build engines with 'edgecnn build', "
                             "which writes the metadata the bundle needs")
        sidecar = json.loads(sidecar_path.read_text())
        meta = ModelMetadata.from_props(sidecar.get("metadata", {}))
        precision = sidecar.get("precision", "?")
        engine = "tensorrt"
        profiles = sidecar.get("profiles", [])
        input_shape = [profiles[0]["max"][0] if profiles and profiles[0]["min"] == profiles[0]["max"] else "batch",
                       *meta.input_shape[1:]]
    elif model.suffix == ".onnx":
        info = model_info_from_onnx(model)
        meta = info.extra.get("metadata")
        notes += info.extra.get("notes", [])
        if meta is None:  # a third-party model: stated defaults, said out loud
            meta = ModelMetadata(architecture=info.architecture, task=info.task, input_names=["input"],
                                 output_names=["output"], input_shape=["batch", *info.input_size], layout="NCHW",
                                 preprocess=info.preprocess, labels=info.labels, weights_sha256="",
                                 weights_source="unknown")
        precision = artifact_precision(model)
        engine = "onnxruntime"
        input_shape = list(meta.input_shape)
    else:
        raise UsageError(f"{model}: bundle takes a .onnx model or a TensorRT .engine, got '{model.suffix or model.name}'")
    if meta.task not in TASKS:
        raise UsageError(f"bundles run {', '.join(list(TASKS)[:-1])} and {list(TASKS)[-1]} models; "
                         f"{meta.architecture} is a {meta.task} model")
    config = {
        "format": "edgecnn.bundle", "format_version": 1, "model": "model" + model.suffix, "engine": engine,
        "architecture": meta.architecture, "task": meta.task, "handler": TASKS[meta.task].bundle_handler,
        "precision": precision,
        "input": {"name": meta.input_names[0] if meta.input_names else "input", "shape": input_shape,
                  "layout": meta.layout},
        "preprocess": meta.preprocess.to_dict(), "num_classes": len(meta.labels), "edgecnn_version": __version__,
        **({"threshold": float(meta.extra["threshold"])} if "threshold" in meta.extra else {}),
    }
    return config, list(meta.labels), notes


def _readme(config: dict, requirements: list[str]) -> str:
    c, h, w = config["input"]["shape"][1:]
    p = config["preprocess"]
    runtime = "TensorRT (NVIDIA GPU, Jetson)" if config["engine"] == "tensorrt" else "ONNX Runtime (CPU)"
    lines = [
        f"# {config['architecture']} ({config['precision']}), bundled by edgecnn {config['edgecnn_version']}",
        "",
        f"Runs on {runtime} with `infer.py`, which needs only: {', '.join(requirements)}.",
        "No PyTorch and no edgecnn on the device.",
        "",
        "```bash",
        "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt",
        ".venv/bin/python infer.py --verify                 # every file matches manifest.sha256",
        *(f".venv/bin/python infer.py {usage}" for usage in TASKS[config["task"]].bundle_usage),
        ".venv/bin/python infer.py --bench 200 --threads 4  # latency p50/p90/p99",
        "```",
        "",
        f"Input `{config['input']['name']}`: {c}x{h}x{w} ({config['input']['layout']}), batch "
        f"{config['input']['shape'][0]}. Preprocessing (`preprocess.json`): convert to {p['color']} (alpha composited "
        f"on white, 16-bit scaled to 8-bit), resize the shorter side to {p['resize']} ({p['interpolation']}), centre "
        f"crop {p['crop'][0]}x{p['crop'][1]}, scale by 1/255, subtract mean {p['mean']}, divide by std {p['std']}. "
        f"This is the same code edgecnn runs: `edgecnn_device.py` is edgecnn's own preprocessing and statistics "
        "module, copied verbatim.",
        "",
        f"`labels.txt`: {config['num_classes']} classes, one per line, in the model's output order. "
        "`manifest.sha256`: check with `infer.py --verify` or `sha256sum -c manifest.sha256`.",
    ]
    if config.get("trt_build"):
        plan = config["trt_build"]
        lines += ["", f"The TensorRT engine is built on the device at the first run, from `model.onnx`, following "
                  f"edgecnn's build plan for TensorRT {plan['trt_major']} ({plan['network']} network, builder flags: "
                  f"{', '.join(plan['builder_flags']) or 'none'}), and kept in `~/.cache/edgecnn/engines`. "
                  "This path was not run by edgecnn's developers (no NVIDIA GPU was available to them)."]
    elif config["engine"] == "tensorrt":
        lines += ["", "A TensorRT engine only runs on the GPU model and TensorRT version it was built with. "
                  "The TensorRT path of infer.py follows the TensorRT 10 API but was not run by edgecnn's "
                  "developers (no NVIDIA GPU was available to them)."]
    return "\n".join(lines) + "\n"


def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def _archive(folder: Path, kind: str, force: bool) -> Path:
    target = folder.with_name(folder.name + "." + kind)
    if target.exists() and not force:
        raise OutputExistsError(f"{target} already exists; pass --force to overwrite it")
    tmp = target.with_name(f".{target.name}.partial")
    try:
        if kind == "tar.gz":  # reproducible: the same bundle gives the same bytes (and the same digest)
            with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed, \
                    tarfile.open(fileobj=packed, mode="w") as tar:
                for path in [folder, *sorted(folder.rglob("*"))]:
                    tar.add(path, arcname=str(Path(folder.name) / path.relative_to(folder)), recursive=False,
                            filter=_reproducible)
        else:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(folder.rglob("*")):
                    archive.write(path, Path(folder.name) / path.relative_to(folder))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def build_bundle(model: str | os.PathLike, output: str | os.PathLike, *, archive: str | None = None,
                 force: bool = False, trt_build: dict | None = None) -> BundleReport:
    """Write the bundle folder ``output`` for ``model`` (.onnx or .engine); optionally ``output``.tar.gz/.zip.

    ``trt_build`` (a :class:`~edgecnn.engines.trt_plan.BuildPlan` as a dict) with an ONNX model: a TensorRT
    bundle whose engine is built on the device (an engine only runs on the GPU and TensorRT it was built with);
    infer.py follows the plan there and keeps the engine in ``~/.cache/edgecnn/engines``."""
    model = Path(model)
    output = Path(output)
    if not model.is_file():
        raise UsageError(f"{model} does not exist")
    BundleOptions(archive=archive)  # the domain check, naming the option
    if output.exists() and not (output.is_dir() and not any(output.iterdir())) and not force:
        raise OutputExistsError(f"{output} already exists; pass --force to replace it")
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} is a file; give a folder name")
    config, labels, notes = _model_config(model)
    if trt_build is not None:
        if model.suffix != ".onnx":
            raise UsageError("a TensorRT build plan goes with an ONNX model (the engine is built on the device)")
        config.update(engine="tensorrt", trt_build=trt_build)
    requirements = TRT_REQUIREMENTS if config["engine"] == "tensorrt" else ONNX_REQUIREMENTS
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}-", suffix=".partial", dir=output.parent))
    try:
        shutil.copyfile(model, work / config["model"])
        if model.suffix == ".engine":
            shutil.copyfile(str(model) + ".json", work / (config["model"] + ".json"))
        (work / "preprocess.json").write_text(json.dumps(config, indent=1) + "\n")
        (work / "labels.txt").write_text("".join(f"{label}\n" for label in labels))
        shutil.copyfile(INFER_SCRIPT, work / "infer.py")
        shutil.copyfile(DEVICE_MODULE, work / "edgecnn_device.py")  # the code edgecnn itself runs, verbatim
        (work / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (work / "README.md").write_text(_readme(config, requirements))
        files = {p.name: sha256_file(p) for p in sorted(work.iterdir()) if p.is_file()}
        (work / "manifest.sha256").write_text("".join(f"{digest}  {name}\n" for name, digest in files.items()))
        for path in work.iterdir():
            path.chmod(0o755 if path.name == "infer.py" else 0o644)
        work.chmod(0o755)
        if output.exists():
            shutil.rmtree(output)
        os.replace(work, output)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    report = BundleReport(output, files, notes=notes)
    if archive:
        report.archive = _archive(output, archive, force)
    return report
