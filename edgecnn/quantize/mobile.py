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
from pathlib import Path
from typing import Callable

from ..engines.registry import get_engine
from ..errors import UsageError
from ..tasks.registry import task_of
from .calibration import load_calibration_set
from .options import QuantizeOptions
from .task_scores import task_score


def quantize_mobile(model: str | os.PathLike, output: str | os.PathLike, calib: str, options: QuantizeOptions, *,
                    val: str | None = None, val_split: float | None = None, input_size=None, force: bool = False,
                    log: Callable[[str], None] = lambda line: None):
    """The INT8 file for ``options.placed_for`` (an engine whose placement is PT2E): its
    :class:`~edgecnn.export.onnx_export.ExportReport`, and with ``val`` the paired FP32 / INT8 metric (else None)."""
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
    report = quantize_loaded(loaded, output, calib, options, force=force, log=log)
    accuracy = float_and_int8(loaded, str(model), str(output), val, val_split, options.seed) if val else None
    return report, accuracy


def quantize_loaded(loaded, output: str | os.PathLike, calib: str, options: QuantizeOptions, *, batch: int = 1,
                    force: bool = False, log: Callable[[str], None] = lambda line: None):
    """``loaded`` (a :class:`~edgecnn.zoo.LoadedModel`) as the INT8 file of ``options.placed_for`` at a fixed
    ``batch``; its :class:`~edgecnn.export.onnx_export.ExportReport`."""
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
                         force=force, on_stage=lambda name, seconds: log(f"  {name:<9} done in {seconds:5.2f} s"))


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


__all__ = ["float_and_int8", "quantize_loaded", "quantize_mobile"]
