"""Tasks as data: what a task reads, how it trains, how it is scored, and what its headline figure is.

The pipeline, the report, the Pareto plot and "pick for me" ask a task for its headline metric (top-1 for a
classifier, mean IoU for a segmentation model) instead of assuming top-1. Each task names, as dotted paths
(resolved when used, so that this module sits low in edgecnn's layers), the functions that do its work. A task
added later (detection) is one more entry here plus the functions it names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    headline: str  # the results row key of the figure a model of this task is judged by (a fraction, higher better)
    headline_label: str  # how the report names it
    reader: str  # data source -> the task's dataset
    loss: str
    trainer: str
    evaluator: str  # (runner, dataset) -> metrics, through any engine
    calibration: str  # what quantization calibrates on
    bundle_output: str  # what infer.py writes for an image
    metrics: tuple[str, ...]

    def function(self, role: str):
        """The function named for ``role`` (reader, trainer, evaluator)."""
        module, _, name = getattr(self, role).rpartition(".")
        return getattr(importlib.import_module(module), name)


TASKS = {
    "classification": Task(
        name="classification", headline="top1", headline_label="top-1",
        reader="edgecnn.data.datasets.load_images", loss="cross-entropy with label smoothing",
        trainer="edgecnn.train.train", evaluator="edgecnn.evaluate.evaluate",
        calibration="the images of an ImageFolder (training side of the split)",
        bundle_output="the top-k classes with probabilities", metrics=("top1", "top5")),
    "segmentation": Task(
        name="segmentation", headline="mean_iou", headline_label="mean IoU",
        reader="edgecnn.data.segmentation.load_masked", loss="cross-entropy + soft Dice (binary masks)",
        trainer="edgecnn.tasks.segmentation_train.train_segmentation",
        evaluator="edgecnn.evaluate.evaluate_segmentation",
        calibration="the images (not the masks) of image/ + label/ folders (training side of the split)",
        bundle_output="NAME_mask.png and NAME_overlay.png", metrics=("mean_iou", "mean_dice", "pixel_accuracy")),
    "similarity": Task(
        name="similarity", headline="verification_accuracy", headline_label="verification accuracy",
        reader="edgecnn.data.datasets.load_images", loss="triplet loss with semi-hard negatives (FaceNet)",
        trainer="edgecnn.tasks.similarity_train.train_similarity", evaluator="edgecnn.evaluate.evaluate_similarity",
        calibration="the images of an ImageFolder (both inputs see the same image)",
        bundle_output="the similarity of two images and the same/different decision at the stored threshold",
        metrics=("verification_accuracy", "roc_auc")),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise KeyError(f"no task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


def headline_key(rows: list[dict]) -> str:
    """The headline metric of a set of results rows: the first task's whose metric some row carries."""
    for task in TASKS.values():
        if any(r.get(task.headline) is not None for r in rows):
            return task.headline
    return "top1"


def headline_label(key: str) -> str:
    return next((t.headline_label for t in TASKS.values() if t.headline == key), key)
