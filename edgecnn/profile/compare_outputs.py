"""Run the same inputs through two artifacts/engines and compare their outputs (classifiers; segmentation models:
also the mean IoU of one's masks against the other's; embeddings: cosine). Classifiers on labelled images: also
B's top-1 difference from A's with its paired interval and McNemar test (:mod:`edgecnn.core.paired`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np

from ..core.compare import compare_outputs
from ..core.paired import paired_difference
from ..core.preprocess import preprocess_numpy
from ..data.datasets import load_images, pick
from ..data.segmentation import is_masked_source, load_masked
from ..engines import load_runner
from ..engines.base import Runner
from ..engines.third_party import upgraded
from ..errors import UsageError
from ..evaluate import DataError, class_mapping
from ..tasks.registry import task_of
from ..tasks.segmentation import mask_iou


@dataclass
class Comparison:
    a: str
    b: str
    samples: int
    max_abs_error: float
    mean_abs_error: float
    cosine: float
    top1_agreement: float | None  # segmentation: the share of pixels given the same class
    mask_iou: float | None = None  # segmentation: mean IoU of B's masks against A's
    difference: dict | None = None  # classifiers on labelled images: B's top-1 minus A's, paired (core.paired)
    task: str | None = None  # A's task, as its model records it (its registry entry says how to read the figures)

    def to_dict(self) -> dict:
        return asdict(self)


def compare_runners(a: Runner, b: Runner, inputs: np.ndarray, names: tuple[str, str],
                    labels: "LabelledInputs | None" = None) -> Comparison:
    if tuple(a.info.input_size) != tuple(b.info.input_size):
        raise UsageError(f"{names[0]} takes {list(a.info.input_size)} but {names[1]} takes "
                         f"{list(b.info.input_size)}: they cannot see the same inputs")
    outs_a, outs_b = [], []
    fixed = [r.input_specs[0].shape[0] for r in (a, b)]
    step = next((f for f in fixed if isinstance(f, int) and f > 0), 8)
    with a, b:
        for start in range(0, len(inputs) - len(inputs) % step or len(inputs), step):
            chunk = inputs[start : start + step]
            if len(chunk) < step:
                break
            outs_a.append(a.infer_array(chunk))
            outs_b.append(b.infer_array(chunk))
    out_a, out_b = np.concatenate(outs_a), np.concatenate(outs_b)
    result = Comparison(a=names[0], b=names[1], **compare_outputs(out_a, out_b), task=a.info.task)
    task = task_of(a.info.task)
    if not task.class_scores:  # embeddings: their cosine is the agreement; an argmax means nothing
        result.top1_agreement = None
    if task.comparison:  # the task's own figures: masks' IoU, top-1 difference on labelled images
        task.function("comparison")(result, out_a, out_b, (a, b), labels)
    return result


def compare_masks(result: Comparison, out_a: np.ndarray, out_b: np.ndarray, runners: tuple[Runner, Runner],
                  labels: "LabelledInputs | None") -> None:
    """Segmentation models: the mean IoU of B's masks against A's."""
    if out_a.ndim == 4:
        result.mask_iou = mask_iou(out_a.argmax(1), out_b.argmax(1), out_a.shape[1])


def compare_classes(result: Comparison, out_a: np.ndarray, out_b: np.ndarray, runners: tuple[Runner, Runner],
                    labels: "LabelledInputs | None") -> None:
    """Classifiers on labelled images: B's top-1 difference from A's, paired."""
    if labels is not None and out_a.ndim == 2:
        result.difference = _top1_difference(out_a, out_b, runners, labels)


def _top1_difference(out_a: np.ndarray, out_b: np.ndarray, runners: tuple[Runner, Runner],
                     labels: "LabelledInputs") -> dict | None:
    """B's top-1 minus A's on the labelled images, paired; None when a model does not know the images' classes
    (real images fed to a model trained on others: its outputs still compare, its accuracy means nothing)."""
    truth = np.asarray(labels.labels[: len(out_a)])
    try:
        mappings = [np.asarray(class_mapping(r.info.labels, labels.classes)) for r in runners]
    except DataError:
        return None
    return paired_difference(*(out.argmax(1) == mapping[truth] for out, mapping in zip((out_a, out_b), mappings)))


@dataclass
class LabelledInputs:
    """The labels of the images :func:`comparison_inputs` picked, in the same order."""
    labels: list[int]
    classes: list[str]


def comparison_inputs(runner: Runner, samples: int, data: str | None = None,
                      seed: int = 0) -> tuple[np.ndarray, LabelledInputs | None]:
    """``samples`` preprocessed images of ``data`` (their labels too for class folders), else random inputs."""
    if data:
        masked = is_masked_source(data)
        loader = load_masked if masked else load_images  # segmentation data: its images
        images = loader(data, image_size=runner.info.preprocess.resize, seed=seed)
        chosen = pick(len(images), samples, seed)
        inputs = np.stack([preprocess_numpy(images.image(i), runner.info.preprocess) for i in chosen])
        labels = None if masked else LabelledInputs([images.labels[i] for i in chosen], list(images.classes))
        return inputs.astype(np.float32), labels
    return np.random.default_rng(seed).standard_normal((samples, *runner.info.input_size)).astype(np.float32), None


def load_pair(a: str | os.PathLike, b: str | os.PathLike, engines: str | tuple | list | None = None) -> list[Runner]:
    """The runners of A and B. ``engines``: one engine for both, ``"E1,E2"`` or a pair; None: each file's
    default engine. An older ONNX file is run from its normalised copy (the file is never touched)."""
    if isinstance(engines, str):
        engines = engines.split(",")
    chosen = list(engines or [None])
    chosen = chosen * 2 if len(chosen) == 1 else chosen
    if len(chosen) != 2:
        raise UsageError(f"give one engine for A and B or one each, got {len(chosen)}")
    runners = []
    for artifact, name in zip((str(a), str(b)), chosen):
        path = upgraded(artifact)[0] if artifact.endswith(".onnx") else artifact
        runners.append(load_runner(path, name or None))
    return runners


def compare_models(a: str | os.PathLike, b: str | os.PathLike, *, engine: str | tuple | list | None = None,
                   samples: int = 16, data: str | None = None) -> Comparison:
    """Run the same inputs through A and B and compare their outputs (``edgecnn compare``).

    Args:
        a, b: two artifacts (``.onnx``, ``.engine``, a checkpoint or a zoo name), e.g. an FP32 model and its INT8
            model, or one file given twice with two engines.
        engine: the engine for both (``"ort"``), one each (``"ort,openvino"`` or a pair), or None for each file's
            default engine.
        samples: inputs compared.
        data: real images (A's preprocessing) instead of random inputs; labelled class folders also give B's top-1
            difference from A's with its paired 95 % interval and McNemar test.

    Returns:
        :class:`Comparison`: max and mean abs error, cosine, top-1 agreement (segmentation: per pixel, and mean
        IoU of B's masks against A's; embeddings: the cosine), the paired difference on labelled images.
    """
    runners = load_pair(a, b, engine)
    inputs, labels = comparison_inputs(runners[0], samples, data)
    return compare_runners(runners[0], runners[1], inputs, (str(a), str(b)), labels)
