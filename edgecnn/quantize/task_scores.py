"""What an accuracy budget measures, per task: the task's headline metric of an ONNX model on validation data,
the per-image (or per-pair) results it is made of, and the paired uncertainty of a difference between two models.

classification  top-1: per image right or wrong (exact McNemar + paired bootstrap, :mod:`edgecnn.core.paired`)
segmentation    mean IoU on whole images (tiled with the model's sizes): one confusion matrix per image, the
                metric from their sum, the difference's interval by resampling the images
similarity      verification accuracy at the FP32 model's threshold (its metadata): per pair right or wrong

Every scorer also gives the inputs the per-layer error ranks tensors on (:mod:`edgecnn.quantize.layer_error`):
the images as the model sees them (a segmentation model: one tile of each image).
"""

from __future__ import annotations

import numpy as np

from ..core.device import segmentation_metrics
from ..core.ort import make_session
from ..core.paired import paired_bootstrap, paired_difference
from ..core.preprocess import preprocess_numpy
from ..data.datasets import ImageList
from ..data.segmentation import MaskedImages
from ..engines import load_runner
from ..engines.registry import default_engine
from ..errors import UsageError
from ..evaluate import class_mapping, model_threshold, segmentation_confusions, similarity_pairs
from ..tasks.registry import task_of
from ..tasks.segmentation import image_array, input_tile


def scoring_engine(artifact: str = "model.onnx") -> str:
    """The engine an accuracy budget scores ``artifact`` on: the one that runs its kind by default (for ONNX files,
    the default ONNX engine)."""
    return default_engine(str(artifact))


RANKING_SAMPLES = 16


def validation_arrays(images: ImageList, preprocess, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    mapping = np.asarray(class_mapping(labels, images.classes))
    inputs = np.stack([preprocess_numpy(images.image(i), preprocess) for i in range(len(images))])
    return inputs.astype(np.float32), mapping[np.asarray(images.labels)]


def top1(path: str, inputs: np.ndarray, targets: np.ndarray) -> float:
    return float(np.mean(correct_vector(path, inputs, targets)))


def correct_vector(path: str, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per image: is the model's top-1 class the label (what paired accuracy differences are computed from).
    An ONNX file runs in an ONNX Runtime session (metadata or not); another artifact (a ``.pte``, a model name)
    on the engine that runs its kind by default. A fixed batch is padded."""
    if str(path).lower().endswith(".onnx"):
        session = make_session(path)
        name, batch = session.get_inputs()[0].name, session.get_inputs()[0].shape[0]
        return _correct(lambda chunk: session.run(None, {name: chunk})[0], batch, inputs, targets)
    with load_runner(path, scoring_engine(path)) as runner:
        return _correct(runner.infer_array, runner.input_specs[0].shape[0], inputs, targets)


def _correct(run, batch, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    step = batch if isinstance(batch, int) and batch > 0 else 32
    correct = []
    for start in range(0, len(inputs), step):
        chunk = inputs[start : start + step]
        count = len(chunk)
        if count < step and isinstance(batch, int):
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], step - count, axis=0)])
        correct.append(run(chunk)[:count].argmax(1) == targets[start : start + count])
    return np.concatenate(correct)


class ClassificationScore:
    metric = "top-1"

    def __init__(self, images: ImageList, preprocess, labels: list[str] | None, model_path: str):
        if not labels:
            raise UsageError(f"{model_path} has no class labels in its metadata; an accuracy budget needs them to "
                             "score top-1")
        self.inputs, self.targets = validation_arrays(images, preprocess, labels)
        self.images = len(images)
        self.ranking_inputs = self.inputs

    def items(self, path: str) -> np.ndarray:
        return correct_vector(path, self.inputs, self.targets)

    def value(self, items: np.ndarray) -> float:
        return float(np.mean(items))

    def difference(self, a: np.ndarray, b: np.ndarray) -> dict:
        return paired_difference(a, b)


class SegmentationScore:
    metric = "mean IoU"

    def __init__(self, data: MaskedImages, preprocess, tile: int):
        self.data = data
        self.images = len(data)
        self.ranking_inputs = np.stack([input_tile(image_array(data.image(i), preprocess), tile, tile)
                                        for i in range(min(len(data), RANKING_SAMPLES))]).astype(np.float32)

    def items(self, path: str) -> np.ndarray:
        with load_runner(path, scoring_engine(path)) as runner:
            return segmentation_confusions(runner, self.data)[0]

    def value(self, items: np.ndarray) -> float:
        return segmentation_metrics(np.asarray(items).sum(0))["mean_iou"]

    def difference(self, a: np.ndarray, b: np.ndarray) -> dict:
        return paired_bootstrap(a, b, self.value)


class SimilarityScore:
    metric = "verification accuracy"

    def __init__(self, images: ImageList, preprocess, model_path: str, seed: int = 0):
        self.images_list, self.seed = images, seed
        self.images = len(images)
        self.threshold = model_threshold(load_runner(model_path, scoring_engine(model_path)))  # FP32's: the one the INT8 model ships with
        self.ranking_inputs = np.stack([preprocess_numpy(images.image(i), preprocess)
                                        for i in range(min(len(images), RANKING_SAMPLES))]).astype(np.float32)

    def items(self, path: str) -> np.ndarray:
        scores, same = similarity_pairs(load_runner(path, scoring_engine(path)), self.images_list, self.seed)
        return (scores >= self.threshold) == same

    def value(self, items: np.ndarray) -> float:
        return float(np.mean(items))

    def difference(self, a: np.ndarray, b: np.ndarray) -> dict:
        return paired_difference(a, b, unit="pairs")


def classification_scorer(val: ImageList, preprocess, labels: list[str] | None, model_path: str,
                          input_side: int) -> ClassificationScore:
    return ClassificationScore(val, preprocess, labels, model_path)


def segmentation_scorer(val, preprocess, labels: list[str] | None, model_path: str,
                        input_side: int) -> SegmentationScore:
    if not isinstance(val, MaskedImages):
        raise UsageError(f"{model_path} segments images: its accuracy is measured on images with masks "
                         "(image/ + label/ folders), not class folders")
    return SegmentationScore(val, preprocess, input_side)


def similarity_scorer(val: ImageList, preprocess, labels: list[str] | None, model_path: str,
                      input_side: int) -> SimilarityScore:
    return SimilarityScore(val, preprocess, model_path)


def task_score(task: str, val, preprocess, labels: list[str] | None, model_path: str, input_side: int):
    """The scorer of ``task`` on ``val`` (class folders; segmentation: images with masks): its registry entry's."""
    return task_of(task).function("scorer")(val, preprocess, labels, model_path, input_side)
