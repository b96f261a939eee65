"""``edgecnn bundle``: a folder (and optionally an archive) to copy onto the device.

    DIR/
      model.onnx | model.engine (+ model.engine.json)
      preprocess.json     preprocessing, input name and shape, precision, architecture (from the metadata)
      labels.txt          one class name per line
      infer.py            standalone: numpy + pillow + onnxruntime (or tensorrt + cuda-python)
      edgecnn_device/     edgecnn/core/device/ verbatim (its .py files): preprocessing, metrics, timing, memory,
                          environment, results schema, manifest check, the device-side options' declarations
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
from ..engines.registry import default_engine, device_engines, get_engine
from ..engines.spec import MOBILE_KINDS, DeviceSide, artifact_kind, companion_files
from ..errors import OutputExistsError, UsageError
from ..export.sidecar import read_sidecar
from ..export.tflite import read_tflite_metadata
from ..fileio import sha256_file
from ..tasks.registry import TASKS
from .options import BundleOptions

INFER_SCRIPT = Path(__file__).with_name("infer.py")
DEVICE_PACKAGE = Path(__file__).resolve().parents[1] / "core" / "device"
TAKES = "bundle takes a .onnx model, a TensorRT .engine, a LiteRT .tflite, an ExecuTorch .pte or an ncnn .param"
DEVICE_FOLDER = "edgecnn_device"  # the package's name in a bundle: infer.py imports it beside itself
# What a bundle ships for an engine (requirements, the loader infer.py runs it with, its runtime options) is
# the engine's device side (edgecnn.engines.spec.DeviceSide), declared in its module.


def device_modules() -> list[Path]:
    """The device package's modules, which a bundle ships as ``edgecnn_device/`` (no caches, nothing else)."""
    return sorted(DEVICE_PACKAGE.glob("*.py"))


@dataclass
class BundleReport:
    folder: Path
    files: dict[str, str]  # name (edgecnn_device/NAME.py inside the device package's folder) -> sha256
    archive: Path | None = None
    notes: list[str] = field(default_factory=list)


def _device_side(model: Path, engine: str | None, device_build: dict | None) -> tuple[str, DeviceSide]:
    """The engine the bundle is for (named, else the one that runs the file) and its device side, checked
    against the file and the build plan."""
    kind = artifact_kind(str(model))
    if engine is None and kind not in ("onnx", "engine", *MOBILE_KINDS.values()):
        raise UsageError(f"{model}: {TAKES}, got '{model.suffix or model.name}'")
    engine = engine or default_engine(str(model))
    side = get_engine(engine).device
    if side is None:
        raise UsageError(f"engine {engine} has no device side: bundles run on {', '.join(device_engines())}")
    if kind not in side.artifacts:
        raise UsageError(f"a bundle for {engine} ships {' or '.join(side.artifacts)} files; {model} is a {kind} file")
    if device_build is not None and (side.plan_key is None or kind != "onnx"):
        raise UsageError(f"a build plan goes with an ONNX model of an engine built on the device; {engine} "
                         f"{'builds nothing there' if side.plan_key is None else 'builds from an ONNX model'}")
    if device_build is None and side.plan_key is not None and kind != side.artifacts[0]:
        raise UsageError(f"an {kind} model for {engine} is built on the device: give the plan to build it by")
    return engine, side


def _model_config(model: Path, engine: str, side: DeviceSide) -> tuple[dict, list[str], list[str]]:
    """(preprocess.json content, labels, notes) from an ONNX file's metadata or an engine's sidecar. ``engine``
    names the loader infer.py runs it with (preprocess.json's ``engine``), the engine its figures are reported
    under (``results_engine``) and the options the loader applies (``runtime_options``)."""

    notes: list[str] = []
    if model.suffix == ".engine":
        sidecar_path = Path(str(model) + ".json")
        if not sidecar_path.exists():
            raise UsageError(f"{model} has no {sidecar_path.name} beside it; build engines with 'edgecnn build', "
                             "which writes the metadata the bundle needs")
        sidecar = json.loads(sidecar_path.read_text())
        meta = ModelMetadata.from_props(sidecar.get("metadata", {}))
        precision = sidecar.get("precision", "?")
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
        input_shape = list(meta.input_shape)
    elif model.suffix == ".tflite":
        meta = read_tflite_metadata(model)
        if meta is None:
            raise UsageError(f"{model} has no edgecnn metadata: export it with 'edgecnn export MODEL --format tflite'")
        precision, input_shape = meta.extra.get("precision", "fp32"), list(meta.input_shape)
    elif model.suffix in (".pte", ".param"):
        meta, _ = read_sidecar(model)
        if meta is None:
            fmt = MOBILE_KINDS[model.suffix]
            raise UsageError(f"{model} has no {model.name}.json beside it: export it with 'edgecnn export MODEL "
                             f"--format {fmt}', which writes the metadata the bundle needs")
        precision, input_shape = meta.extra.get("precision", "fp32"), list(meta.input_shape)
    else:
        raise UsageError(f"{model}: {TAKES}, got '{model.suffix or model.name}'")
    if meta.task not in TASKS:
        raise UsageError(f"bundles run {', '.join(list(TASKS)[:-1])} and {list(TASKS)[-1]} models; "
                         f"{meta.architecture} is a {meta.task} model")
    config = {
        "format": "edgecnn.bundle", "format_version": 1, "model": "model" + model.suffix, "engine": side.loader,
        "results_engine": engine, **({"runtime_options": dict(side.options)} if side.options else {}),
        "architecture": meta.architecture, "task": meta.task,
        "handler": TASKS[meta.task].bundle_handler, "precision": precision,
        "input": {"name": meta.input_names[0] if meta.input_names else "input", "shape": input_shape,
                  "layout": meta.layout},
        "preprocess": meta.preprocess.to_dict(), "num_classes": len(meta.labels), "edgecnn_version": __version__,
        **({"threshold": float(meta.extra["threshold"])} if "threshold" in meta.extra else {}),
    }
    return config, list(meta.labels), notes


def _readme(config: dict, requirements: list[str], side: DeviceSide) -> str:
    c, h, w = config["input"]["shape"][1:]
    p = config["preprocess"]
    runtime = side.runtime
    lines = [
        f"# {config['architecture']} ({config['precision']}), bundled by edgecnn {config['edgecnn_version']}",
        "",
        f"Runs on {runtime} with `infer.py`, which needs only: {', '.join(requirements)}.",
        side.without or "No PyTorch and no edgecnn on the device.",
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
        f"This is the same code edgecnn runs: `{DEVICE_FOLDER}/` is edgecnn's own preprocessing, statistics and "
        "timing package, copied verbatim.",
        "",
        f"`labels.txt`: {config['num_classes']} classes, one per line, in the model's output order. "
        "`manifest.sha256`: check with `infer.py --verify` or `sha256sum -c manifest.sha256`.",
    ]
    for note in side.notes(config) if side.notes else []:  # the engine's own words (TensorRT: built where, how)
        lines += ["", note]
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
                 force: bool = False, engine: str | None = None, device_build: dict | None = None,
                 precision: str | None = None) -> BundleReport:
    """Write the bundle folder ``output`` for ``model`` (.onnx or .engine); optionally ``output``.tar.gz/.zip
    (``edgecnn bundle``).

    Args:
        model: the ``.onnx`` file (with edgecnn's metadata: preprocessing, labels) or a TensorRT ``.engine``.
        output: the bundle folder: the model, ``preprocess.json``, ``labels.txt``, a standalone ``infer.py``
            (numpy + pillow + the runtime; no PyTorch, no edgecnn), ``requirements.txt``, a README and
            ``manifest.sha256``. It appears only when complete.
        archive: also write ``output.tar.gz`` (``"tar.gz"``) or ``output.zip`` (``"zip"``), byte-reproducible.
        force: replace what ``output`` already holds.
        engine: the engine the bundle runs on the device (default: the one that runs the file, ONNX Runtime
            for .onnx, TensorRT for .engine); its device side says what the bundle ships and which loader of
            infer.py runs it.
        device_build: with an ONNX model, the plan of an engine built on the device (TensorRT: a
            :class:`~edgecnn.engines.trt_plan.BuildPlan` as a dict; an engine only runs on the GPU and TensorRT it
            was built with); infer.py follows it there and keeps the engine in ``~/.cache/edgecnn/engines``.
        precision: the precision the device runs, where the engine lowers the file's FP32 itself (ncnn's fp16);
            default: the file's.

    Returns:
        :class:`BundleReport`: the folder, its files, the archive, notes.
    """
    model = Path(model)
    output = Path(output)
    if not model.is_file():
        raise UsageError(f"{model} does not exist")
    BundleOptions(archive=archive)  # the domain check, naming the option
    if output.exists() and not (output.is_dir() and not any(output.iterdir())) and not force:
        raise OutputExistsError(f"{output} already exists; pass --force to replace it")
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output} is a file; give a folder name")
    engine, side = _device_side(model, engine, device_build)
    config, labels, notes = _model_config(model, engine, side)
    if precision is not None and precision != config["precision"]:
        if not (config["precision"] == "fp32" and get_engine(engine).lowers(precision)):
            raise UsageError(f"{model} holds a {config['precision']} model and {engine} does not run it as {precision}")
        config["precision"] = precision
    if device_build is not None:
        config[side.plan_key] = device_build
    requirements = list(side.requirements)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}-", suffix=".partial", dir=output.parent))
    try:
        shutil.copyfile(model, work / config["model"])
        for companion in companion_files(str(model)):  # ncnn's weights beside its graph
            if not Path(companion).is_file():
                raise UsageError(f"{model}: {Path(companion).name} is not beside it")
            shutil.copyfile(companion, work / ("model" + Path(companion).suffix))
        if model.suffix == ".engine":
            shutil.copyfile(str(model) + ".json", work / (config["model"] + ".json"))
        (work / "preprocess.json").write_text(json.dumps(config, indent=1) + "\n")
        (work / "labels.txt").write_text("".join(f"{label}\n" for label in labels))
        shutil.copyfile(INFER_SCRIPT, work / "infer.py")
        (work / DEVICE_FOLDER).mkdir()
        for module in device_modules():  # the code edgecnn itself runs, verbatim
            shutil.copyfile(module, work / DEVICE_FOLDER / module.name)
        (work / "requirements.txt").write_text("\n".join(requirements) + "\n")
        (work / "README.md").write_text(_readme(config, requirements, side))
        files = {p.relative_to(work).as_posix(): sha256_file(p) for p in sorted(work.rglob("*")) if p.is_file()}
        (work / "manifest.sha256").write_text("".join(f"{digest}  {name}\n" for name, digest in files.items()))
        for path in work.rglob("*"):
            path.chmod(0o755 if path.name == "infer.py" or path.is_dir() else 0o644)
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
