"""INT8 for the runtimes phones ship: ``edgecnn quantize MODEL --for executorch|litert`` (PT2E on the PyTorch model,
lowered to a ``.pte`` / ``.tflite``).

The calibration images are read exactly as ONNX INT8 reads them (:func:`~.calibration.load_calibration_set`: the
model's preprocessing, the same sample for the same ``--samples``/``--seed``, ``--calib-split train`` keeping to
the training side), and the provenance (source, sample, hash) goes into the file's metadata. With ``--val`` the
task's metric of the PyTorch FP32 model and the INT8 file on the same images, paired. MODEL is a zoo name or an
edgecnn checkpoint, as for ``edgecnn export`` (PT2E quantizes the PyTorch graph; an ONNX file cannot feed it).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..core.metadata import sidecar_path
from ..engines.registry import get_engine
from ..errors import UsageError
from ..fileio import atomic_path, check_output_path
from ..tasks.registry import task_of
from .accuracy_aware import AccuracyAwareReport
from .calibration import load_calibration_set
from .options import QuantizeOptions
from .task_scores import task_score


def quantize_mobile(model: str | os.PathLike, output: str | os.PathLike, calib: str, options: QuantizeOptions, *,
                    val: str | None = None, val_split: float | None = None, input_size=None, force: bool = False,
                    log: Callable[[str], None] = lambda line: None):
    """The INT8 file for ``options.placed_for`` (an engine whose placement is PT2E): its
    :class:`~edgecnn.export.onnx_export.ExportReport`, and with ``val`` the paired FP32 / INT8 metric (else None);
    with ``options.max_drop`` (needs ``val``), the :class:`~.accuracy_aware.AccuracyAwareReport` of the budget in
    its place (:func:`quantize_mobile_with_budget`)."""
    from ..zoo import create_model

    engine = get_engine(options.placed_for)
    if str(model).lower().endswith(".onnx"):
        raise UsageError(f"--for {engine.name} quantizes the PyTorch model (PT2E): give the zoo name or the edgecnn "
                         f"checkpoint MODEL came from, not {Path(model).name}")
    if val and not Path(model).is_file():
        raise UsageError(f"--val compares trained weights: give the edgecnn checkpoint, not the zoo name {model} "
                         "(randomly initialised each time it is built)")
    if options.method != QuantizeOptions.method or not options.symmetric_weights or options.exclude:
        log(f"note: --for {engine.name} uses its own quantizer (PT2E); --method, --exclude and the weight scheme "
            "are ONNX Runtime's and are not applied")
    loaded = create_model(str(model), input_size=input_size)
    if options.max_drop is not None:  # within an accuracy budget: layers kept in float until it is met
        budget = quantize_mobile_with_budget(loaded, str(model), str(output), calib, options, val, val_split,
                                             force=force, log=log)
        return budget.written, budget
    report = quantize_loaded(loaded, output, calib, options, force=force, log=log)
    accuracy = float_and_int8(loaded, str(model), str(output), val, val_split, options.seed) if val else None
    return report, accuracy


def quantize_loaded(loaded, output: str | os.PathLike, calib: str, options: QuantizeOptions, *, batch: int = 1,
                    force: bool = False, keep_float: list[str] | None = None,
                    log: Callable[[str], None] = lambda line: None):
    """``loaded`` (a :class:`~edgecnn.zoo.LoadedModel`) as the INT8 file of ``options.placed_for`` at a fixed
    ``batch`` (``keep_float``: modules left in float); its :class:`~edgecnn.export.onnx_export.ExportReport`."""
    from ..export.mobile import export_mobile, mobile_format

    engine = get_engine(options.placed_for)
    calibration = load_calibration_set(calib, loaded.preprocess, loaded.input_size, samples=options.samples,
                                       seed=options.seed, split=options.calib_split, val_split=options.val_split,
                                       task=loaded.spec.task)
    log(f"calibrating {loaded.spec.name} on {len(calibration.inputs)} images of {calib} for {engine.title}")
    provenance = {"calibration": {"source": str(calib), "samples": int(len(calibration.inputs)), "seed": options.seed,
                                  "split": options.calib_split, "data_hash": calibration.data_hash}}
    return export_mobile(mobile_format(engine.artifacts[0]), loaded, output, batch=batch, precision="int8",
                         calibration=calibration.inputs, per_channel=options.per_channel, provenance=provenance,
                         keep_float=keep_float, force=force,
                         on_stage=lambda name, seconds: log(f"  {name:<9} done in {seconds:5.2f} s"))


def fallback_order(module) -> list[str]:
    """The convolutions and linear layers of ``module`` in the order an accuracy budget keeps them in float: from
    both ends inwards (the first convolution, the classifier, the second, the one before the classifier, ...), the
    layers INT8 usually hurts most, since PT2E's graph gives no per-layer error to rank them by here."""
    import torch

    names = [name for name, m in module.named_modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    order = []
    while names:
        order.append(names.pop(0))
        if names:
            order.append(names.pop())
    return order


def _scorer(loaded, model: str, val: str, val_split: float | None, seed: int):
    task = task_of(loaded.spec.task)
    data = task.function("reader")(val, resize=loaded.preprocess.resize, side=loaded.input_size[-1], seed=seed)
    images = task.function("split")(data, val_split, seed)[1] if val_split else data
    return task_score(loaded.spec.task, images, loaded.preprocess, loaded.labels, model, loaded.input_size[-1])


def quantize_mobile_with_budget(loaded, model: str, output: str, calib: str, options: QuantizeOptions, val: str,
                                val_split: float | None, *, batch: int = 1, force: bool = False,
                                log: Callable[[str], None] = lambda line: None, max_steps: int = 6):
    """INT8 within ``options.max_drop`` points of PyTorch FP32 on the task's metric: plain PT2E first, then the
    layers of :func:`fallback_order` kept in float, k = 1, 2, 4, ... (at most ``max_steps`` attempts, half the
    layers), each calibrated, lowered and scored on the same validation images; the best file measured is
    written. Returns an :class:`~.accuracy_aware.AccuracyAwareReport` (``quantize``: the ExportReport of the file
    written)."""
    output = check_output_path(output, force)
    scorer = _scorer(loaded, model, val, val_split, options.seed)
    fp32_items = scorer.items(model)
    fp32 = scorer.value(fp32_items)
    order = fallback_order(loaded.model)
    tries = [0] + sorted({min(2 ** i, max(1, len(order) // 2)) for i in range(max_steps - 1)})
    report, best = None, None
    with tempfile.TemporaryDirectory(prefix="edgecnn-mobile-budget-") as tmp:
        for k in tries:
            candidate = Path(tmp) / f"k{k}{Path(output).suffix}"
            done = quantize_loaded(loaded, candidate, calib, options, batch=batch, force=True, keep_float=order[:k],
                                   log=log)
            items = scorer.items(str(candidate))
            value = scorer.value(items)
            drop = 100 * (fp32 - value)
            log(f"  {k} layers in float{': ' + ', '.join(order[:k]) if k else ''}: {scorer.metric} "
                f"{100 * value:.2f}%, drop {drop:.2f} (budget {options.max_drop})")
            if report is None:
                report = AccuracyAwareReport(fp32_top1=fp32, int8_top1=value, final_top1=value,
                                             max_drop=options.max_drop, met=False, images=scorer.images,
                                             metric=scorer.metric, calibration=options.method)
            report.steps.append({"excluded": k, "modules": order[:k], "top1": value, "drop": drop})
            if best is None or value > best[0]:
                best = (value, items, candidate, done, order[:k])
            if drop <= options.max_drop:
                break
        value, items, candidate, done, kept = best
        with atomic_path(output, force=True) as final:
            shutil.copyfile(candidate, final)
        if Path(sidecar_path(candidate)).exists():  # a .pte's metadata beside it
            with atomic_path(sidecar_path(output), force=True) as final:
                shutil.copyfile(sidecar_path(candidate), final)
    report.final_top1, report.kept_float = value, list(kept)
    report.method = "ptq+fallback" if kept else "ptq"
    report.met = report.final_drop <= options.max_drop
    report.difference = scorer.difference(fp32_items, items)
    done.path = str(output)
    done.sidecar = sidecar_path(output) if done.sidecar else None
    report.quantize = done.to_dict()
    report.written = done  # the ExportReport itself, for the command's summary (not serialised)
    return report


def float_and_int8(loaded, model: str, output: str, val: str, val_split: float | None, seed: int) -> dict:
    """The task's metric of PyTorch FP32 (``model``, a checkpoint) and the INT8 file on the same validation images,
    paired."""
    task = task_of(loaded.spec.task)
    data = task.function("reader")(val, resize=loaded.preprocess.resize, side=loaded.input_size[-1], seed=seed)
    images = task.function("split")(data, val_split, seed)[1] if val_split else data
    scorer = task_score(loaded.spec.task, images, loaded.preprocess, loaded.labels, model, loaded.input_size[-1])
    fp32_items, int8_items = scorer.items(model), scorer.items(output)
    fp32, int8 = scorer.value(fp32_items), scorer.value(int8_items)
    return {"metric": scorer.metric, "fp32_top1": fp32, "int8_top1": int8, "drop": 100 * (fp32 - int8),
            "images": scorer.images, "difference": scorer.difference(fp32_items, int8_items), "fp32_on": "torch"}


__all__ = ["fallback_order", "float_and_int8", "quantize_loaded", "quantize_mobile", "quantize_mobile_with_budget"]
