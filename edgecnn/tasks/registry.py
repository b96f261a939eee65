"""Tasks as data: a task is one registry entry, and the code that handles a task calls its entry.

Each entry names, as dotted paths (resolved when called, :meth:`Task.function`, so that this module sits low in
edgecnn's layers while the functions it names live where their layer is), the functions that do the task's work:

==================  ===================================================================================
reader, split       a data source as the task's dataset, and its training split (:mod:`.data`)
held_out            the validation side its training held out (what a recipe measures accuracy on)
trainer             ``(TrainConfig, *, resume, force, progress, log)``: one loop for every task (:mod:`.loop`)
evaluator           ``(runner, dataset)`` -> metrics, through any engine
eval_report         ``edgecnn eval``: (text, JSON payload)
profile_accuracy    a results row's accuracy figures (``edgecnn profile --data``)
comparison          ``edgecnn compare``: the task's own figures (masks' IoU, a paired top-1 difference)
scorer              the accuracy budget's scorer (:mod:`edgecnn.quantize.task_scores`)
calibration         the inputs quantization calibrates on, cut from the chosen images
==================  ===================================================================================

and as data: its training options and defaults (``training``), its headline metric, whether its output's argmax
is a class (``class_scores``), its ONNX input and output names, the handler the bundle's ``infer.py`` runs
(recorded in the bundle's config) and the usage lines of the bundle's README. Outside ``edgecnn/tasks`` no code
compares task names: it asks the entry (``tests/test_task_ownership.py`` checks). A task added later (detection)
is one more entry here plus the functions it names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..train_options import CLASSIFIER_ONLY, EVERY_OPTION, QAT, TrainingMode


@dataclass(frozen=True)
class Task:
    name: str
    headline: str  # the results row key of the figure a model of this task is judged by (a fraction, higher better)
    headline_label: str  # how the report names it
    metrics: tuple[str, ...]
    # what it reads
    reader: str  # (source, *, resize, side, labels, seed, progress) -> the task's dataset
    split: str  # (dataset, val_split, seed) -> (training side, validation side)
    held_out: str  # (source, *, val, val_split, resize, side, seed) -> the validation side
    # how it trains
    loss: str
    training: TrainingMode  # the training options it takes, and its defaults
    trainer: str  # (TrainConfig, *, resume, force, progress, log) -> a result with summary() and record()
    # how it is scored
    evaluator: str  # (runner, dataset) -> metrics, through any engine
    eval_report: str  # (runner, dataset, *, model, batch_size, other, threads, progress) -> (text, payload)
    profile_accuracy: str  # (runner, source or dataset, batch_size) -> (results-row accuracy or None, warnings)
    comparison: str | None  # (Comparison, out_a, out_b, runners, labels) -> None: adds the task's figures
    scorer: str  # (val, preprocess, labels, model_path, input_side) -> the accuracy budget's scorer
    # how it is quantized and shipped
    calibration: str  # (images, chosen, preprocess, side, samples, seed, progress) -> calibration inputs
    calibration_data: str  # what quantization calibrates on, in words
    bundle_output: str  # what infer.py writes for an image
    bundle_handler: str  # what the bundle's infer.py runs (its HANDLERS; recorded in the bundle's preprocess.json)
    bundle_usage: tuple[str, ...]  # the bundle README's infer.py lines (arguments and comment)
    io_names: tuple[tuple[str, ...], tuple[str, ...]] | None = None  # ONNX inputs and outputs; None: see io()
    class_scores: bool = True  # its output's argmax is a class (top-1 agreement means something)
    resumable: bool = False  # its trainer continues an interrupted run (edgecnn train --resume)
    qat: bool = False  # quantization-aware training fine-tunes its models

    def io(self, num_inputs: int = 1) -> tuple[list[str], list[str]]:
        """The input and output names of its models' ONNX graphs (and the torch runner's): its own, else ``input``
        (``input_0``, ``input_1``, ... for several) and ``logits``."""
        if self.io_names:
            return list(self.io_names[0]), list(self.io_names[1])
        return ["input"] if num_inputs == 1 else [f"input_{i}" for i in range(num_inputs)], ["logits"]

    def function(self, role: str):
        """The function named for ``role`` (reader, trainer, evaluator, ...)."""
        module, _, name = getattr(self, role).rpartition(".")
        return getattr(importlib.import_module(module), name)


CLASSIFICATION = Task(
    name="classification", headline="top1", headline_label="top-1", metrics=("top1", "top5"),
    reader="edgecnn.tasks.data.read_classes", split="edgecnn.tasks.data.split_classes",
    held_out="edgecnn.tasks.data.held_out_classes",
    loss="cross-entropy with label smoothing",
    training=TrainingMode("classification", "classifier training", EVERY_OPTION, "sgd", {"sgd": 0.05, "adamw": 1e-3},
                          {"sgd": 5e-4, "adamw": 0.05}, "onecycle"),
    trainer="edgecnn.train.train",
    evaluator="edgecnn.evaluate.evaluate", eval_report="edgecnn.evaluate.classification_report",
    profile_accuracy="edgecnn.evaluate.classification_accuracy",
    comparison="edgecnn.profile.compare_outputs.compare_classes",
    scorer="edgecnn.quantize.task_scores.classification_scorer",
    calibration="edgecnn.quantize.calibration.whole_images",
    calibration_data="the images of an ImageFolder (training side of the split)",
    bundle_output="the top-k classes with probabilities", bundle_handler="classify",
    bundle_usage=("photo.jpg photos/ --top-k 3",
                  "photos/ --json --batch 8  # one JSON line per image, logits included"),
    resumable=True, qat=True)
SEGMENTATION = Task(
    name="segmentation", headline="mean_iou", headline_label="mean IoU",
    metrics=("mean_iou", "mean_dice", "pixel_accuracy"),
    reader="edgecnn.tasks.data.read_masked", split="edgecnn.tasks.data.split_masks",
    held_out="edgecnn.tasks.data.held_out_masks",
    loss="cross-entropy + soft Dice (binary masks)",
    training=TrainingMode("segmentation", "segmentation training", EVERY_OPTION - CLASSIFIER_ONLY, "adamw",
                          {"sgd": 0.01, "adamw": 1e-3}, {"sgd": 1e-4, "adamw": 1e-4}, "onecycle", onecycle_warmup=0.1),
    trainer="edgecnn.tasks.segmentation_train.train_task",
    evaluator="edgecnn.evaluate.evaluate_segmentation", eval_report="edgecnn.evaluate.segmentation_report",
    profile_accuracy="edgecnn.evaluate.segmentation_accuracy",
    comparison="edgecnn.profile.compare_outputs.compare_masks",
    scorer="edgecnn.quantize.task_scores.segmentation_scorer",
    calibration="edgecnn.quantize.calibration.segmentation_tiles",
    calibration_data="input tiles of the images (not the masks) of image/ + label/ folders, at their own "
                     "resolution (training side of the split)",
    bundle_output="NAME_mask.png and NAME_overlay.png", bundle_handler="segment",
    bundle_usage=("scan.png scans/ --out masks/  # NAME_mask.png + NAME_overlay.png per image",
                  "--profile --data labelled/     # labelled/image + labelled/label: mean IoU"))
SIMILARITY = Task(
    name="similarity", headline="verification_accuracy", headline_label="verification accuracy",
    metrics=("verification_accuracy", "roc_auc"),
    reader="edgecnn.tasks.data.read_classes", split="edgecnn.tasks.data.split_classes",
    held_out="edgecnn.tasks.data.held_out_classes",
    loss="triplet loss with semi-hard negatives (FaceNet)",
    # batches are P classes x K images per class (8 x 4), loaded in the training process (forked loader workers
    # coincided with the suite's segfault exits): no batch size of its own, no loader workers
    training=TrainingMode("similarity", "Siamese training", EVERY_OPTION - CLASSIFIER_ONLY - {"batch_size", "workers"},
                          "adamw", {"sgd": 0.01, "adamw": 1e-3}, {"sgd": 1e-4, "adamw": 1e-4}, "cosine"),
    trainer="edgecnn.tasks.similarity_train.train_task",
    evaluator="edgecnn.evaluate.evaluate_similarity", eval_report="edgecnn.evaluate.similarity_report",
    profile_accuracy="edgecnn.evaluate.similarity_accuracy", comparison=None,
    scorer="edgecnn.quantize.task_scores.similarity_scorer",
    calibration="edgecnn.quantize.calibration.whole_images",
    calibration_data="the images of an ImageFolder (both inputs see the same image)",
    bundle_output="the similarity of two images and the same/different decision at the stored threshold",
    bundle_handler="verify",
    bundle_usage=("a.jpg b.jpg                    # similarity and same/different decision",
                  "--enroll people/ --identify visitor.jpg  # against a gallery"),
    io_names=(("input_a", "input_b"), ("embedding_a", "embedding_b", "similarity")), class_scores=False)

TASKS = {task.name: task for task in (CLASSIFICATION, SEGMENTATION, SIMILARITY)}
DEFAULT = CLASSIFICATION  # the task of a model that names none (an ONNX file without edgecnn metadata)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"no task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


def task_of(name: str | None) -> Task:
    """The entry of a model's recorded task; a model that records none, or one this registry does not know (an
    ONNX file without edgecnn metadata), is read as the default task's (what a classifier's code expects)."""
    return TASKS.get(name or "", DEFAULT)


def of_model(model: str) -> Task:
    """The task of a zoo model name; a checkpoint file (.pt, .pth) given to train is the default task's."""
    if str(model).endswith((".pt", ".pth")):
        return DEFAULT
    from ..zoo import get_spec

    return get_task(get_spec(model).task)


def names_where(role: str) -> str:
    """The tasks whose boolean ``role`` (resumable, qat) holds, in words: "classification", "a and b"."""
    chosen = [t.name for t in TASKS.values() if getattr(t, role)]
    return " and ".join(filter(None, [", ".join(chosen[:-1]), chosen[-1] if chosen else ""]))


def training_modes() -> dict[str, TrainingMode]:
    """Every kind of training by name: each task's, and QAT's."""
    return {**{t.name: t.training for t in TASKS.values()}, QAT.name: QAT}


def headline_key(rows: list[dict]) -> str:
    """The headline metric of a set of results rows: the first task's whose metric some row carries."""
    for task in TASKS.values():
        if any(r.get(task.headline) is not None for r in rows):
            return task.headline
    return "top1"


def headline_label(key: str) -> str:
    return next((t.headline_label for t in TASKS.values() if t.headline == key), key)
