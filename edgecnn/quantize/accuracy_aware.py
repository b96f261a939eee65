"""Accuracy-aware mixed precision: keep the most sensitive nodes in float until a budget holds.

1. The task's headline metric (top-1; mean IoU of a segmentation model; verification accuracy of a Siamese
   net: :mod:`edgecnn.quantize.task_scores`) of the FP32 and INT8 models on validation data (ONNX Runtime,
   the model's own preprocessing).
2. While the drop exceeds ``max_drop`` points: rank activations by their local
   quantization error (signal-to-quantization-noise ratio of each tensor before
   and after its Q/DQ pair, with ONNX Runtime's ``qdq_loss_debug``), keep the
   nodes around the k worst tensors in float (k = 1, 2, 4, ...), re-quantize
   (the calibration ranges are cached, so only Q/DQ placement is redone) and
   re-measure.
3. Report the nodes kept in float, the final drop and the latency cost.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx

from ..core.onnx_io import load_onnx
from ..core.options import OptionError, same_as
from ..core.split import SplitOptions
from ..core.paired import describe
from ..errors import UsageError
from ..fileio import atomic_path
from ..tasks.registry import DEFAULT, get_task
from ..train_options import TrainOptions
from .int8 import (
    QuantizeOptions,
    QuantizeReport,
    input_chw,
    quantize_int8,
    resolve_preprocess,
)
from .layer_error import layer_errors
from .options import METHODS
from .task_scores import correct_vector, task_score, top1, validation_arrays  # noqa: F401  (re-exported)

# the budget's other calibration methods, cheapest first (entropy runs a KL search per tensor)
CHEAPEST_FIRST = sorted(METHODS, key=("percentile", "minmax", "entropy").index)


def calibrations_tried(steps: list[dict]) -> list[str]:
    """The calibration methods a budget tried after the one asked for (the steps that carry ``calibration``)."""
    return [step["calibration"] for step in steps if step.get("calibration")]


@dataclass
class AccuracyAwareReport:
    fp32_top1: float
    int8_top1: float
    final_top1: float
    max_drop: float
    met: bool
    kept_float: list[str] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)  # one per attempt: excluded count, top-1, drop
    latency_ms: dict[str, float] = field(default_factory=dict)
    images: int = 0
    quantize: dict = field(default_factory=dict)  # the QuantizeReport of the model written
    difference: dict = field(default_factory=dict)  # final vs FP32 on the same images, with its uncertainty
    method: str = "ptq"  # what made the model written: ptq, ptq+fallback (nodes kept in float) or qat
    calibration: str = ""  # the calibration method of the model written (may differ from the one asked for)
    metric: str = "top-1"  # the task's headline metric the *_top1 fields hold (mean IoU, verification accuracy)
    qat: dict = field(default_factory=dict)  # the QAT attempt, when PTQ and fallback missed the budget

    @property
    def final_drop(self) -> float:
        return 100 * (self.fp32_top1 - self.final_top1)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["final_drop"] = self.final_drop
        return data


def sensitivity_ranking(float_path: str, qdq_path: str, inputs: np.ndarray, samples: int = 16) -> list[tuple[str, float]]:
    """Quantized activations, most damaged first: (tensor name, SQNR in dB of its own Q/DQ), as the per-layer report
    measures it (a Relu the quantizer removed is compared rectified, not counted as error). Tensors whose own Q/DQ
    loses nothing measurable come last: keeping them in float can still help, as their range feeds the next op."""
    rows = layer_errors(float_path, qdq_path, inputs, samples=samples)  # worst first; lossless ones (inf dB) last
    return [(r["tensor"], float(r["activation_sqnr_db"])) for r in rows if r["op"] != "input"]


def nodes_touching(model: onnx.ModelProto, tensors: list[str]) -> list[str]:
    """Names of the compute nodes that produce or consume ``tensors`` (before Q/DQ insertion)."""
    wanted = set(tensors)
    names = []
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if wanted & set(node.output) or wanted & {_strip_qdq(i) for i in node.input}:
            if node.name and node.name not in names:
                names.append(node.name)
    return names


def _strip_qdq(name: str) -> str:
    for suffix in ("_DequantizeLinear_Output", "_QuantizeLinear_Output"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class QatPlan:
    """The last resort of an accuracy budget: quantization-aware training of the float checkpoint the ONNX model
    was exported from, on the training side of ``data`` (the validation side is what the budget measures)."""

    checkpoint: str
    data: str
    epochs: int
    val: str | None = None
    val_split: float = same_as(SplitOptions, "val_split")
    seed: int = 0


def quantize_with_budget(model_path: str, output: str, calib: str, val, *, options: QuantizeOptions,
                         max_drop: float | None = None, preprocess=None, labels: list[str] | None = None,
                         force: bool = False, log=lambda line: None, max_excluded: int = 64, progress: bool = True,
                         plain_output: str | None = None, qat: QatPlan | None = None) -> AccuracyAwareReport:
    """INT8 within an accuracy budget: quantize once, measure the task's headline metric on ``val`` (labelled
    images; a segmentation model: images with masks); when that misses, try the other calibration methods (their
    ranges come from the same cached calibration tensors: seconds, and nothing kept in float), then keep the most
    sensitive nodes of the best of them in float (k = 1, 2, 4, ... worst tensors) until the drop is within
    ``max_drop`` points (default: ``options.max_drop``); when that misses
    and ``qat`` is given (classifiers), fine-tune with quantization-aware training and measure its INT8 model
    too. Writes the best model measured to ``output`` and, if asked, the plain INT8 model to ``plain_output``
    (for a latency comparison without quantizing it again)."""
    max_drop = options.max_drop if max_drop is None else max_drop
    if max_drop is None:
        raise OptionError("max_drop", "is needed for an accuracy budget (points of the task's headline metric)")
    if max_drop < 0:
        raise OptionError("max_drop", f"must be >= 0 (points), got {max_drop}")
    graph = load_onnx(model_path, external_data=False)
    preprocess_, _, meta = resolve_preprocess(graph, model_path)
    task = meta.task if meta else DEFAULT.name
    scorer = task_score(task, val, preprocess or preprocess_, labels or (meta.labels if meta else None), model_path,
                        input_chw(graph)[-1])
    with tempfile.TemporaryDirectory(prefix="edgecnn-aware-") as tmp:
        budget = _Budget(model_path, calib, scorer, max_drop, Path(tmp), log)
        options = budget.start(replace(options, max_drop=None), progress)
        options = budget.other_ranges(options)  # fallback and QAT start from the best ranges
        if budget.report.final_drop > max_drop:
            budget.float_fallback(options, max_excluded)
        if budget.report.final_drop > max_drop and qat is not None and qat.epochs > 0:
            if not get_task(task).qat:
                raise UsageError(f"quantization-aware training fine-tunes classifiers; {model_path} is a {task} "
                                 "model (PTQ and float fallback are its budget's steps)")
            budget.qat(qat, options, progress)
        report = budget.finish()
        with atomic_path(output, force=force) as final:  # the model that was measured is the one written
            shutil.copyfile(budget.best_path, final)
        if plain_output:
            with atomic_path(plain_output, force=True) as plain:
                shutil.copyfile(budget.trial, plain)
    best_report = budget.best_report
    best_report.path = str(output)
    report.quantize = best_report.to_dict()
    return report


class _Budget:
    """The steps of an accuracy budget, cheapest first, each scored on the same validation items; the best model
    so far (its file, its QuantizeReport, its per-item scores) is what is written."""

    def __init__(self, model_path: str, calib: str, scorer, max_drop: float, tmp: Path, log):
        self.model_path, self.calib, self.scorer, self.max_drop, self.tmp, self.log = \
            model_path, calib, scorer, max_drop, tmp, log
        self.name = scorer.metric
        self.fp32_correct = scorer.items(model_path)
        self.fp32 = scorer.value(self.fp32_correct)

    def start(self, options: QuantizeOptions, progress: bool) -> QuantizeOptions:
        """Plain INT8 with the options asked for: the first step and the model every other is compared to."""
        self.trial = str(self.tmp / "trial.onnx")
        plain = quantize_int8(self.model_path, self.trial, self.calib, options=options, force=True, progress=progress)
        self.final_correct = self.scorer.items(self.trial)
        int8 = self.scorer.value(self.final_correct)
        self.report = AccuracyAwareReport(fp32_top1=self.fp32, int8_top1=int8, final_top1=int8,
                                          max_drop=self.max_drop, met=False, images=self.scorer.images,
                                          metric=self.name, calibration=options.method)
        self.report.steps.append({"excluded": 0, "top1": int8, "drop": 100 * (self.fp32 - int8)})
        self.log(f"FP32 {self.name} {100 * self.fp32:.2f}%, INT8 {self.name} {100 * int8:.2f}% (drop "
                 f"{100 * (self.fp32 - int8):.2f} points, budget {self.max_drop})")
        self.best_path, self.best_report = self.trial, plain
        return options

    def measured(self, candidate: str, attempt: QuantizeOptions):
        """Quantize with ``attempt`` and score it: (its QuantizeReport, per-item scores, the metric)."""
        done = quantize_int8(self.model_path, candidate, self.calib, options=attempt, force=True, progress=False)
        items = self.scorer.items(candidate)
        return done, items, self.scorer.value(items)

    def keep(self, accuracy: float, correct, path: str, quantize_report) -> None:
        self.report.final_top1, self.final_correct = accuracy, correct
        self.best_path, self.best_report = path, quantize_report

    def other_ranges(self, options: QuantizeOptions) -> QuantizeOptions:
        """The other calibration methods, from the cached calibration tensors (seconds, nothing kept in float),
        until one meets the budget; the options with the best method."""
        for method in (m for m in CHEAPEST_FIRST if m != options.method):
            if self.report.final_drop <= self.max_drop:
                break
            candidate = str(self.tmp / f"{method}.onnx")
            candidate_report, candidate_correct, accuracy = self.measured(candidate, replace(options, method=method))
            self.report.steps.append({"calibration": method, "excluded": 0, "top1": accuracy,
                                      "drop": 100 * (self.fp32 - accuracy)})
            self.log(f"  {method} calibration: {self.name} {100 * accuracy:.2f}%, drop "
                     f"{100 * (self.fp32 - accuracy):.2f}")
            if accuracy > self.report.final_top1:
                self.keep(accuracy, candidate_correct, candidate, candidate_report)
                self.report.calibration = method
        return replace(options, method=self.report.calibration)

    def float_fallback(self, options: QuantizeOptions, max_excluded: int) -> None:
        """Keep the nodes around the k most damaged tensors in float, k = 1, 2, 4, ..., until the budget is met."""
        ranking = sensitivity_ranking(self.model_path, self.best_path, self.scorer.ranking_inputs)
        quantized_model = load_onnx(self.best_path, external_data=False)
        tries = sorted({min(2 ** i, len(ranking), max_excluded) for i in range(len(ranking).bit_length() + 1)})
        for k in tries:  # 1, 2, 4, ... and finally every quantized tensor
            exclude = nodes_touching(quantized_model, [t for t, _ in ranking[:k]])
            candidate = str(self.tmp / f"k{k}.onnx")
            attempt = replace(options, exclude=sorted(set(options.exclude) | set(exclude)))
            candidate_report, candidate_correct, accuracy = self.measured(candidate, attempt)
            drop = 100 * (self.fp32 - accuracy)
            self.report.steps.append({"excluded": len(exclude), "tensors": k, "top1": accuracy, "drop": drop})
            self.log(f"  {len(exclude)} nodes in float (worst {k} tensors): {self.name} {100 * accuracy:.2f}%, "
                     f"drop {drop:.2f}")
            if accuracy >= self.report.final_top1:
                self.keep(accuracy, candidate_correct, candidate, candidate_report)
                self.report.kept_float, self.report.method = attempt.exclude, "ptq+fallback"
            if drop <= self.max_drop:
                break

    def qat(self, plan: QatPlan, options: QuantizeOptions, progress: bool) -> None:
        """Quantization-aware training of the float checkpoint, and its INT8 model scored like the others."""
        from .qat import qat_finetune

        self.log(f"PTQ and float fallback missed the budget (best drop {self.report.final_drop:.2f}): QAT, "
                 f"{plan.epochs} epochs")
        done = qat_finetune(plan.checkpoint, plan.data, self.tmp / "qat", options=TrainOptions(epochs=plan.epochs),
                            val=plan.val, val_split=plan.val_split, seed=plan.seed,
                            quantize=replace(options, calib_split="train"), progress=progress, log=self.log)
        qat_correct = self.scorer.items(done.onnx)
        accuracy = self.scorer.value(qat_correct)
        drop = 100 * (self.fp32 - accuracy)
        self.report.qat = {"epochs": plan.epochs, "lr": done.lr, "top1": accuracy, "drop": drop,
                           "seconds": done.seconds, "simulated_top1": done.simulated_top1}
        self.report.steps.append({"method": "qat", "excluded": 0, "top1": accuracy, "drop": drop})
        self.log(f"  QAT ({plan.epochs} epochs, nothing in float): top-1 {100 * accuracy:.2f}%, drop {drop:.2f}")
        if accuracy > self.report.final_top1:
            self.keep(accuracy, qat_correct, done.onnx, QuantizeReport(**done.quantize))
            self.report.kept_float, self.report.method = [], "qat"

    def finish(self) -> AccuracyAwareReport:
        """Whether the budget is met, and the final model's difference from FP32 with its uncertainty."""
        report = self.report
        report.met = report.final_drop <= self.max_drop
        report.difference = self.scorer.difference(self.fp32_correct, self.final_correct)
        self.log(describe(report.difference) + ("" if report.met else
                                                f"; the budget miss is "
                                                f"{'' if report.difference['significant'] else 'not '}significant"))
        return report
