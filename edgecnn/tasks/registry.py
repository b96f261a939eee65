"""Tasks as data: what a task reads, how it trains, how it is scored, and what its headline figure is.

The pipeline, the report, the Pareto plot and "pick for me" ask a task for its headline metric (top-1 for a
classifier, mean IoU for a segmentation model) instead of assuming top-1. Each task names, as dotted paths
(resolved when used, so that this module sits low in edgecnn's layers), the functions that do its work. A task
added later (detection) is one more entry here plus the functions it names.
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
    reader: str  # data source -> the task's dataset
    loss: str
    training: TrainingMode  # the training options it takes, and its defaults
    trainer: str  # (TrainConfig, *, resume, force, progress, log) -> a result with summary() and record()
    evaluator: str  # (runner, dataset) -> metrics, through any engine
    calibration: str  # what quantization calibrates on
    bundle_output: str  # what infer.py writes for an image
    metrics: tuple[str, ...]
    resumable: bool = False  # its trainer continues an interrupted run (edgecnn train --resume)
    qat: bool = False  # quantization-aware training fine-tunes its models

    def function(self, role: str):
        """The function named for ``role`` (reader, trainer, evaluator)."""
        module, _, name = getattr(self, role).rpartition(".")
        return getattr(importlib.import_module(module), name)


CLASSIFICATION = Task(
    name="classification", headline="top1", headline_label="top-1",
    reader="edgecnn.data.datasets.load_images", loss="cross-entropy with label smoothing",
    training=TrainingMode("classification", "classifier training", EVERY_OPTION, "sgd", {"sgd": 0.05, "adamw": 1e-3},
                          {"sgd": 5e-4, "adamw": 0.05}, "onecycle"),
    trainer="edgecnn.train.train", evaluator="edgecnn.evaluate.evaluate",
    calibration="the images of an ImageFolder (training side of the split)",
    bundle_output="the top-k classes with probabilities", metrics=("top1", "top5"), resumable=True, qat=True)
SEGMENTATION = Task(
    name="segmentation", headline="mean_iou", headline_label="mean IoU",
    reader="edgecnn.data.segmentation.load_masked", loss="cross-entropy + soft Dice (binary masks)",
    training=TrainingMode("segmentation", "segmentation training", EVERY_OPTION - CLASSIFIER_ONLY, "adamw",
                          {"sgd": 0.01, "adamw": 1e-3}, {"sgd": 1e-4, "adamw": 1e-4}, "onecycle", onecycle_warmup=0.1),
    trainer="edgecnn.tasks.segmentation_train.train_task",
    evaluator="edgecnn.evaluate.evaluate_segmentation",
    calibration="the images (not the masks) of image/ + label/ folders (training side of the split)",
    bundle_output="NAME_mask.png and NAME_overlay.png", metrics=("mean_iou", "mean_dice", "pixel_accuracy"))
SIMILARITY = Task(
    name="similarity", headline="verification_accuracy", headline_label="verification accuracy",
    reader="edgecnn.data.datasets.load_images", loss="triplet loss with semi-hard negatives (FaceNet)",
    # batches are P classes x K images per class (8 x 4): no batch size of its own
    training=TrainingMode("similarity", "Siamese training", EVERY_OPTION - CLASSIFIER_ONLY - {"batch_size"}, "adamw",
                          {"sgd": 0.01, "adamw": 1e-3}, {"sgd": 1e-4, "adamw": 1e-4}, "cosine"),
    trainer="edgecnn.tasks.similarity_train.train_task", evaluator="edgecnn.evaluate.evaluate_similarity",
    calibration="the images of an ImageFolder (both inputs see the same image)",
    bundle_output="the similarity of two images and the same/different decision at the stored threshold",
    metrics=("verification_accuracy", "roc_auc"))

TASKS = {task.name: task for task in (CLASSIFICATION, SEGMENTATION, SIMILARITY)}
DEFAULT = CLASSIFICATION  # the task of a model that names none (an ONNX file without edgecnn metadata)


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"no task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


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
