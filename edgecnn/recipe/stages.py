"""The bodies of ``edgecnn run``'s stages: each reads its declared inputs and writes its declared outputs.

Every function here takes the recipe's own sections (options dataclasses) and a
:class:`~edgecnn.recipe.graph.StageContext`; none builds a cache key or knows what runs
before or after it (:mod:`edgecnn.recipe.plan` declares that).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import asdict, fields
from pathlib import Path
from typing import Callable

from ..bundle.builder import build_bundle
from ..core.metadata import read_metadata
from ..data.datasets import write_image_folder
from ..device.hosts import make_host
from ..device.run import DeviceAccess, DeviceOptions, measure_on, prepare
from ..device.run import device_identity as read_device_identity
from ..engines.registry import default_placement, get_engine, placement_of
from ..errors import EdgeCNNError, EngineUnavailable
from ..profile.options import TargetShape, Timing
from ..quantize.accuracy_aware import QatPlan, quantize_with_budget
from ..quantize.fp16 import convert_fp16
from ..quantize.layer_error import layer_error_report
from ..quantize.mobile import quantize_loaded, quantize_mobile_with_budget
from ..quantize.options import QuantizeOptions
from ..quantize.placed import quantize_placed
from ..tasks.registry import DEFAULT, get_task, of_model, task_of
from ..train import TrainConfig, TrainOptions
from .graph import StageContext
from .schema import (
    DataSection,
    DeviceSection,
    DeviceTargetSection,
    ModelSection,
    ProfileSection,
    QuantizeSection,
    Recipe,
)

UNAVAILABLE_EXIT = 3  # profile_worker's exit code for an engine that is not on this machine


def train(ctx: StageContext, model: ModelSection, data: DataSection, options: TrainOptions) -> None:
    """The model's task trains it (its registry entry's trainer); model.pt and history.json are its best epoch's."""
    config = TrainConfig(model=model.arch, data=data.path, output=str(ctx.work / "train"), val=data.val,
                         val_split=data.val_split, weights=model.weights, seed=data.seed,
                         **asdict(TrainOptions.of(options)))
    result = of_model(model.arch).function("trainer")(config, force=True, progress=ctx.progress, log=ctx.note)
    os.replace(ctx.work / "train" / "best.pt", ctx.output("model.pt"))
    os.replace(ctx.work / "train" / "history.json", ctx.output("history.json"))
    shutil.rmtree(ctx.work / "train")  # last.pt (optimizer state) is not needed downstream
    ctx.record.update(result.record())


def checkpoint_without_training(ctx: StageContext, model: ModelSection, data: DataSection, img_size: int | None) -> None:
    """An edgecnn checkpoint from model.weights (or random weights), labelled with the data's classes."""
    from ..zoo import create_model
    from ..zoo.weights import save_checkpoint

    loaded = create_model(model.arch, weights=model.weights, num_classes=model.num_classes, input_size=img_size)
    classes = get_task(loaded.spec.task).function("reader")(data.path, resize=loaded.preprocess.resize,
                                                             side=loaded.input_size[1], seed=data.seed).classes
    labels = classes if len(classes) == loaded.num_classes else loaded.labels
    save_checkpoint(ctx.output("model.pt"), loaded.model, arch=loaded.spec.name, classes=labels,
                    input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict())
    ctx.record["notes"] = loaded.notes


def export(ctx: StageContext, options) -> None:
    from ..export.onnx_export import export_onnx
    from ..zoo import create_model

    loaded = create_model(str(ctx.input("artifacts/model.pt")))
    report = export_onnx(loaded, ctx.output("model_fp32.onnx"), batch=options.batch, opset=options.opset,
                         do_simplify=options.simplify, do_verify=options.verify, force=True)
    ctx.record["export"] = report.to_dict()


def mobile(ctx: StageContext, fmt: str, precision: str, batch: int, calib: str | None,
           options: QuantizeOptions | None, output: str, verify: bool = True, data: DataSection | None = None) -> None:
    """The checkpoint as a ``fmt`` (tflite, pte) file: FP32 exported and verified against PyTorch, or INT8 by PT2E
    with the runtime's quantizer on ``calib``. A .pte's sidecar (MODEL.pte.json) is written beside it, in the
    stage's folder, as its second declared output."""
    from ..export.mobile import export_mobile, mobile_format
    from ..zoo import create_model

    loaded = create_model(str(ctx.input("artifacts/model.pt")))
    target = ctx.output(output)
    if precision == "int8" and options.max_drop is not None:  # the recipe's accuracy budget, on its validation side
        budget = quantize_mobile_with_budget(loaded, str(ctx.input("artifacts/model.pt")), str(target), calib,
                                             options, data.val or data.path, None if data.val else data.val_split,
                                             batch=batch, force=True, log=ctx.note)
        ctx.record["budget"] = budget.to_dict()
        report = budget.written
        ctx.log(f"    accuracy budget {budget.max_drop:g} points of {budget.metric}: FP32 {100 * budget.fp32_top1:.2f}%, "
                f"plain INT8 {100 * budget.int8_top1:.2f}%, final {100 * budget.final_top1:.2f}% "
                f"({'met' if budget.met else 'NOT met'}; {len(budget.kept_float)} layers in float)")
    elif precision == "int8":
        report = quantize_loaded(loaded, target, calib, options, batch=batch, force=True, log=ctx.note)
    else:
        report = export_mobile(mobile_format(fmt), loaded, target, batch=batch, do_verify=verify, force=True,
                               on_stage=lambda name, seconds: ctx.note(f"  {name:<9} done in {seconds:5.2f} s"))
    ctx.record["export"] = report.to_dict()


def mobile_fp16(ctx: StageContext, source: str, output: str) -> None:
    """The FP32 mobile file with float16 weights (a .tflite: ai-edge-quantizer's float casting), verified."""
    ctx.record["fp16"] = convert_fp16(ctx.input(source), ctx.output(output), force=True)


def fp16(ctx: StageContext) -> None:
    ctx.record["fp16"] = convert_fp16(ctx.input("artifacts/model_fp32.onnx"), ctx.output("model_fp16.onnx"), force=True)


def int8_options(recipe: Recipe, symmetric: bool, placed_for: str | None = None) -> tuple[str, QuantizeOptions]:
    """(calibration source, the library's options) from the recipe's quantize and data sections; ``placed_for``:
    the engine the placement is made for (default: the default ONNX engine's)."""
    placed_for = placed_for or default_placement()
    section: QuantizeSection = recipe.quantize
    calib = section.calib or recipe.data.path
    declared = {f.name: getattr(section, f.name) for f in fields(QuantizeOptions)}
    # calibrate on the training side of the split, never on the images that measure accuracy
    declared.update(seed=recipe.data.seed, calib_split="train" if calib == recipe.data.path and not recipe.data.val
                    else "all", val_split=recipe.data.val_split,
                    symmetric_activations=symmetric or section.symmetric_activations, placed_for=placed_for)
    # the TensorRT artifact: a budget for it would need TensorRT to measure; a placement without a budget (NNCF's)
    if symmetric or not placement_of(placed_for).budget:
        declared["max_drop"] = None
    return calib, QuantizeOptions(**declared)


def validation_images(data: DataSection, fp32_onnx: Path):
    """The validation side of the data, drawn at the exported model's resize: what accuracy is measured on (a
    segmentation model: the whole images with masks its training held out)."""
    meta = read_metadata(fp32_onnx)
    return task_of(meta.task).function("held_out")(data.path, val=data.val, val_split=data.val_split,
                                                   resize=meta.preprocess.resize, side=meta.input_shape[-1],
                                                   seed=data.seed)


def int8(ctx: StageContext, calib: str, options: QuantizeOptions, data: DataSection, output: str,
         layer_error: bool = False, qat_epochs: int = 0) -> None:
    fp32 = ctx.input("artifacts/model_fp32.onnx")
    if options.max_drop is None:
        report = quantize_placed(fp32, ctx.output(output), calib, options=options, force=True, progress=ctx.progress,
                                 log=ctx.note)
        ctx.record["int8"] = report.to_dict()
    else:
        qat = QatPlan(str(ctx.input("artifacts/model.pt")), data.path, qat_epochs, val=data.val,
                      val_split=data.val_split, seed=data.seed) if qat_epochs else None
        _int8_with_budget(ctx, fp32, calib, options, data, output, qat)
    if layer_error:
        rows = layer_error_report(fp32, ctx.output(output), calib, ctx.output("layer_error_int8.json"))
        ctx.record["layer_error"] = {"tensors": len(rows), "worst": rows[:10], "json": "artifacts/layer_error_int8.json",
                                     "plot": "artifacts/layer_error_int8.png", "images": calib}
        worst = rows[0] if rows else None
        if worst:
            ctx.log(f"    per-layer INT8 error: worst {worst['tensor']} ({worst['op']}), {worst['activation_sqnr_db']:.1f} dB "
                    f"of {len(rows)} tensors (artifacts/layer_error_int8.json)")


def _int8_with_budget(ctx: StageContext, fp32: Path, calib: str, options: QuantizeOptions, data: DataSection,
                      output: str, qat: QatPlan | None) -> None:
    budget = quantize_with_budget(str(fp32), str(ctx.output(output)), calib, validation_images(data, fp32),
                                  options=options, force=True, log=ctx.note, progress=ctx.progress, qat=qat)
    ctx.record.update(int8=budget.quantize, budget=budget.to_dict())
    kept = f"; kept in float: {', '.join(budget.kept_float)}" if budget.kept_float else "; nothing kept in float"
    ctx.log(f"    accuracy budget {budget.max_drop:g} points of {budget.metric}: FP32 {100 * budget.fp32_top1:.2f}%, "
            f"plain INT8 "
            f"{100 * budget.int8_top1:.2f}%, final {100 * budget.final_top1:.2f}% (drop {budget.final_drop:.2f}, "
            f"{'met' if budget.met else 'NOT met'} by {budget.method}){kept}")


def build(ctx: StageContext, engine: str, source: str, precision: str, batch_spec: str, output: str) -> None:
    """Build ``engine``'s artifact for ``precision`` from ``source`` here (a TensorRT engine: its sidecar)."""
    ctx.record["sidecar"] = get_engine(engine).build.make(ctx.input(source), ctx.output(output), precision,
                                                          batch_spec, ctx.note)


def profile(ctx: StageContext, artifact: str, engine: str, precision: str, batches: list[int], threads: int | None,
            options: ProfileSection, data: DataSection | None, output: str,
            scenarios: tuple[str, ...] = ("single-stream",), streams: tuple[str, ...] = ("auto",)) -> None:
    """Profile in a fresh interpreter: runtimes in one process disturb each other (see profile_worker)."""
    val = None
    if data is not None:
        fp32 = ctx.input("artifacts/model_fp32.onnx") if "artifacts/model_fp32.onnx" in ctx.inputs else None
        meta = read_metadata(fp32) if fp32 else None
        size = meta.preprocess.resize if meta else None
        val = {"source": data.path, "val": data.val, "val_split": data.val_split, "seed": data.seed,
               "image_size": size, "task": meta.task if meta else DEFAULT.name,
               "input_side": meta.input_shape[-1] if meta else None}
    args = {"artifact": str(ctx.input(artifact)), "engine": engine, "precision": precision, "batches": batches,
            "threads": threads, "warmup_s": options.warmup_s, "min_runs": options.min_runs,
            "min_time_s": options.min_time_s, "val": val, "output": str(ctx.output(output)),
            "scenarios": list(scenarios), "streams": list(streams)}
    done = subprocess.run([sys.executable, "-m", "edgecnn.recipe.profile_worker", json.dumps(args)],
                          capture_output=True, text=True)
    ctx.note(done.stdout + done.stderr)
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()] or ["no output"]
        last = lines[-1].removeprefix("error: ")
        if done.returncode == UNAVAILABLE_EXIT:
            raise EngineUnavailable(last)
        raise EdgeCNNError(f"profiling {engine} {precision} failed: {last}")


# ---------------------------------------------------------------- measuring on the device itself
def bundle(ctx: StageContext, source: str, output: str, engine: str, build: dict | None = None,
           precision: str | None = None) -> None:
    """The deployable bundle of ``source`` for ``engine`` as a reproducible .tar.gz: what devices run (and what
    ships). ``build`` (TensorRT: precision, trt_major, batch): the artifact is built on the device, by the plan
    the engine's device side makes from it. ``precision``: the one the device runs (ncnn: fp16 options on the FP32
    file)."""
    folder = ctx.work / output.removesuffix(".tar.gz")
    plan = None
    if build is not None:
        plan = get_engine(engine).device.plan(ctx.input(source), build)
        ctx.record["build_plan"] = plan
    report = build_bundle(ctx.input(source), folder, archive="tar.gz", force=True, engine=engine, device_build=plan,
                          precision=precision)
    shutil.rmtree(folder)
    ctx.record["bundle"] = {"files": report.files, "notes": report.notes}


def device_host(device: DeviceSection):
    return make_host(device.host, python=device.python, ssh_config=device.ssh_config)


def probe_device(device: DeviceSection, requirements: str, log) -> tuple[str, dict]:
    """Reach the device, check (or with ``setup`` make) its runtime; (the interpreter that runs infer.py there,
    the identity the device reports)."""
    host = device_host(device)
    runner = prepare(host, requirements, device.setup, log)
    return runner, read_device_identity(host, runner)


def device_profile(ctx: StageContext, device: DeviceSection, target: DeviceTargetSection, precision: str,
                   bundle_file: str, options: ProfileSection, data: DataSection | None, output: str,
                   runner: Callable[[], str]) -> None:
    """Copy the bundle (and the validation images) to the device, run ``infer.py --profile`` there with the
    interpreter ``runner()`` names (the probe that read the device's identity checked it), bring the results file
    home. The device's temporary folder is removed, also on failure and Ctrl-C."""
    with tempfile.TemporaryDirectory(prefix="edgecnn-device-") as tmp:
        with tarfile.open(ctx.input(bundle_file)) as archive:
            archive.extractall(tmp, filter="data")
        folder = next(p for p in Path(tmp).iterdir() if p.is_dir())
        images = None
        if data is not None:
            images = write_image_folder(validation_images(data, ctx.input("artifacts/model_fp32.onnx")),
                                        Path(tmp) / "validation")
        host = device_host(device)
        log = ctx.log
        declared = {f.name: getattr(options, f.name) for f in fields(Timing)}
        declared.update({f.name: getattr(device, f.name) for f in fields(DeviceAccess)})
        declared.update({f.name: getattr(target, f.name) for f in fields(TargetShape)})
        measure = DeviceOptions(**declared)
        results = measure_on(host, folder, images, measure, device.name, log, runner=runner())
    results["device_stage"] = {"device": device.name, "host": device.host, "precision": precision,
                               "engine": target.engine}
    ctx.output(output).write_text(json.dumps(results, indent=1))
