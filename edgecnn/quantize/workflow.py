"""``edgecnn quantize`` as one library call: FP16, INT8 placed for its engine, or INT8 within an accuracy budget,
then the checks asked for (FP32 vs INT8 on labelled images, per-layer error, the latency check).

:func:`quantize_model` is what the command calls and what ``edgecnn.quantize(...)`` is; the command only prints
the :class:`QuantizeOutcome` it returns (and writes :meth:`QuantizeOutcome.to_dict` with ``--json``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..core.onnx_io import load_onnx
from ..core.options import options_or_keywords
from ..core.split import SplitOptions
from ..engines.registry import cpu_engine_for, placement_of
from ..envinfo import cpu_info
from ..errors import UsageError
from ..tasks.registry import task_of
from .accuracy_aware import AccuracyAwareReport, quantize_with_budget
from .fp16 import convert_fp16
from .int8 import QuantizeReport, input_chw, resolve_preprocess
from .layer_error import layer_error_report
from .mobile import quantize_mobile
from .options import QuantizeOptions
from .placed import quantize_placed
from .speed import compare_speed, explain
from .task_scores import task_score

if TYPE_CHECKING:
    from ..export.onnx_export import ExportReport

PRECISIONS = ("int8", "fp16")


@dataclass
class QuantizeOutcome:
    """What one quantization made and measured. ``to_dict()`` is ``edgecnn quantize --json``'s file."""

    precision: str
    path: str
    fp16: dict | None = None  # FP16: convert_fp16's result (file, sizes, agreement with FP32, notes)
    report: QuantizeReport | None = None  # INT8: the file, calibration, nodes, agreement with FP32
    budget: AccuracyAwareReport | None = None  # INT8 with max_drop: every step of the accuracy budget
    accuracy: dict | None = None  # INT8 with val and no budget: the task's metric of FP32 and INT8, paired
    layer_error: str | None = None  # the per-layer report's JSON file (a PNG beside it)
    layer_rows: list[dict] = field(default_factory=list)  # its rows, worst first
    latency_ms: dict | None = None  # the speed check: label (fp32, int8, int8 plain) -> median p50 at batch 1
    cpu: dict | None = None  # the CPU the speed check ran on
    speed_engine: str | None = None  # the engine it ran on (where the placement is meant to run)
    speed_threads: int | None = None
    speed_notes: list[str] = field(default_factory=list)  # why INT8 is not faster here, and what to try
    mobile: "ExportReport | None" = None  # INT8 for a mobile runtime (--for executorch|litert): the .pte/.tflite

    def to_dict(self) -> dict:
        if self.fp16 is not None:
            return dict(self.fp16)
        if self.mobile is not None:
            return {"quantize": self.mobile.to_dict(), "accuracy": self.accuracy}
        payload: dict = {"quantize": self.report.to_dict() if self.report else None}
        if self.budget is not None:
            payload["accuracy"] = self.budget.to_dict()
        elif self.accuracy is not None:
            payload["accuracy"] = self.accuracy
        if self.layer_error:
            payload["layer_error"] = self.layer_error
        if self.latency_ms is not None:
            payload.update(latency_ms=self.latency_ms, cpu=self.cpu)
        return payload


def validation_images(model: str | os.PathLike, val: str, val_split: float | None, seed: int = 0):
    """``val`` (only the validation side of its stratified ``val_split``, when given) as the model's task reads
    it: class folders, images with masks, pairs drawn from class folders."""
    graph = load_onnx(model, external_data=False)
    preprocess, _, meta = resolve_preprocess(graph, str(model))
    task = task_of(meta.task if meta else None)
    data = task.function("reader")(val, resize=preprocess.resize, side=input_chw(graph)[-1], seed=seed)
    return task.function("split")(data, val_split, seed)[1] if val_split else data


def float_and_int8_accuracy(model: str | os.PathLike, output: str | os.PathLike, images) -> dict:
    """The task's headline metric of the FP32 and the INT8 model on the same validation data, with the paired
    difference (``core.paired``)."""
    graph = load_onnx(model, external_data=False)
    preprocess, _, meta = resolve_preprocess(graph, str(model))
    scorer = task_score(meta.task if meta else None, images, preprocess, meta.labels if meta else None,
                        str(model), input_chw(graph)[-1])
    fp32_items, int8_items = scorer.items(str(model)), scorer.items(str(output))
    fp32, int8 = scorer.value(fp32_items), scorer.value(int8_items)
    return {"metric": scorer.metric, "fp32_top1": fp32, "int8_top1": int8, "drop": 100 * (fp32 - int8),
            "images": scorer.images, "difference": scorer.difference(fp32_items, int8_items)}


def quantize_model(model: str | os.PathLike, output: str | os.PathLike, *, precision: str = "int8",
                   calib: str | None = None, options: QuantizeOptions | None = None, val: str | None = None,
                   val_split: float | None = None, mean: tuple[float, ...] | None = None,
                   std: tuple[float, ...] | None = None, input_size: str | int | tuple[int, int] | None = None,
                   trt_table: str | os.PathLike | None = None, layer_error: str | os.PathLike | None = None,
                   speed: bool = True, threads: int = 2, speed_rounds: int = 5, force: bool = False,
                   log: Callable[[str], None] = lambda line: None, **option_values) -> QuantizeOutcome:
    """Quantize an FP32 ONNX model to INT8 (Q/DQ) or convert it to FP16 (``edgecnn quantize``); with
    ``placed_for="executorch"`` / ``"litert"``, quantize the PyTorch model (PT2E) to an INT8 ``.pte`` / ``.tflite``.

    Args:
        model: the FP32 ``.onnx`` file (edgecnn's, with its preprocessing in the metadata, or any classifier:
            then give ``mean``, ``std`` and ``input_size``); for the mobile runtimes, a zoo name or checkpoint.
        output: the ``.onnx`` file to write (``.pte``, ``.tflite`` for the mobile runtimes).
        precision: ``"int8"`` (static post-training quantization with calibration) or ``"fp16"``.
        calib: INT8 calibration images: a folder of images, an ImageFolder dataset or ``"synthetic:shapes"``.
        options: a :class:`~edgecnn.quantize.options.QuantizeOptions`, or its fields as keywords instead:
            ``method`` (minmax, entropy, percentile), ``samples``, ``per_channel``, ``symmetric_activations``,
            ``placed_for`` (the engine the Q/DQ placement is made for), ``max_drop`` (an accuracy budget in
            points of the task's metric; needs ``val``), ``calib_split``, ``seed``, ...
        val: labelled images: report FP32 vs INT8 on the task's metric, and drive ``max_drop``.
        val_split: use only the validation side of this stratified split of ``val`` (with
            ``calib_split="train"``, calibration takes the other side).
        mean, std, input_size: the preprocessing of a model without edgecnn metadata.
        trt_table: also write a TensorRT INT8 calibration table from the same statistics.
        layer_error: write the per-layer INT8 error here (JSON, and a PNG beside it).
        speed: time FP32 against INT8 at batch 1 (alternating rounds, each in its own process).
        threads, speed_rounds: the speed check's threads and rounds (1 s each).
        force: replace an existing ``output``.
        log: called with progress lines and notes.

    Returns:
        :class:`QuantizeOutcome`: the file written and every check made on it.
    """
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16":
        options_or_keywords(QuantizeOptions, options, option_values)  # a misspelt keyword is refused here too
        result = convert_fp16(model, output, force=force)
        for note in result.get("notes", []):
            log(f"note: {note}")
        return QuantizeOutcome(precision, str(result["path"]), fp16=result)
    options = options_or_keywords(QuantizeOptions, options, option_values, val_split=val_split or SplitOptions.val_split)
    if not calib:
        raise UsageError("INT8 quantization needs calibration images: pass --calib DIR (or synthetic:shapes)")
    if options.max_drop is not None and not val:
        raise UsageError("--max-drop needs labelled images to measure the task's metric (top-1, mean IoU, "
                         "verification accuracy): pass --val DIR")
    if placement_of(options.placed_for).quantizer == "pt2e":  # a .pte / .tflite made from the PyTorch model
        report, measured = quantize_mobile(model, output, calib, options, val=val, val_split=val_split,
                                           input_size=input_size, force=force, log=log)
        if options.max_drop is not None:  # the accuracy budget's steps (layers kept in float)
            return QuantizeOutcome(precision, str(output), mobile=report, budget=measured)
        return QuantizeOutcome(precision, str(output), mobile=report, accuracy=measured)
    size = None
    if input_size is not None:
        from ..zoo import parse_input_size  # the zoo builds models: PyTorch, needed here only to read a size

        size = parse_input_size(input_size)
    outcome = QuantizeOutcome(precision, str(output))
    with tempfile.TemporaryDirectory(prefix="edgecnn-plain-") as tmp:
        plain = None
        if options.max_drop is not None:  # quantize once, then other calibrations, then fall back to float
            plain = str(Path(tmp) / "plain.onnx")
            outcome.budget = quantize_with_budget(str(model), str(output), calib,
                                                  validation_images(model, val, val_split, options.seed),
                                                  options=options, force=force, log=log, plain_output=plain)
            outcome.report = QuantizeReport(**outcome.budget.quantize)
        else:
            outcome.report = quantize_placed(model, output, calib, options=options, force=force, trt_table=trt_table,
                                             log=log, mean=mean, std=std, input_size=size)
            if val:
                outcome.accuracy = float_and_int8_accuracy(
                    model, output, validation_images(model, val, val_split, options.seed))
        if layer_error:
            outcome.layer_rows = layer_error_report(model, output, val or calib, layer_error)
            outcome.layer_error = str(layer_error)
        if speed:
            paths = {"fp32": str(model), "int8": str(output)}
            if plain and outcome.budget.kept_float:  # the speed cost of the nodes kept in float
                paths["int8 plain"] = plain
            engine = cpu_engine_for(options.placed_for)  # where the placement is meant to run, on this CPU
            outcome.latency_ms = compare_speed(paths, threads=threads, rounds=speed_rounds, engine=engine)
            outcome.cpu, outcome.speed_engine, outcome.speed_threads = cpu_info(), engine, threads
            outcome.speed_notes = explain(outcome.latency_ms["fp32"], outcome.latency_ms["int8"],
                                          outcome.report.float_nodes, outcome.report.quantized_nodes)
    return outcome
