"""Accuracy of a model on labelled images: top-1, top-5, per class, confusion matrix.

Works through the Runner interface, so a PyTorch checkpoint and an ONNX file
are evaluated by the same code, with the preprocessing each model carries
(numpy/PIL path: the same one that runs on devices).

The module is also the public API's ``edgecnn.evaluate``: calling it, ``edgecnn.evaluate("run/best.pt",
"photos/")``, calls :func:`evaluate_model`, which evaluates any task's model with its task's evaluator (what
``edgecnn eval`` calls; see :mod:`edgecnn.core.api`). :func:`evaluate` is the classifier's loop over a Runner.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from .core.device import cosine_similarity, draw_pairs, segmentation_metrics, verification_metrics
from .core.paired import describe, paired_difference
from .core.preprocess import preprocess_numpy
from .core.split import SplitOptions
from .core.text import bounded_list
from .data.datasets import DataError, ImageList, load_images
from .data.segmentation import MaskedImages, load_masked
from .engines import load_runner
from .engines.base import Runner
from .core.api import make_callable
from .errors import UsageError
from .progress import progress as bar
from .tasks.data import sizes_of
from .tasks.registry import task_of
from .tasks.segmentation import image_confusions


@dataclass
class EvalResult:
    model: str
    engine: str
    data: str
    images: int
    classes: list[str]
    top1: float
    top5: float | None
    per_class: dict[str, float]
    confusion: list[list[int]]  # rows: true class, columns: predicted class (data classes)
    predictions: list[int] = field(repr=False, default_factory=list)  # model class index per image
    correct: list[bool] = field(repr=False, default_factory=list)  # per image: top-1 is the label
    seconds: float = 0.0

    def to_dict(self, with_predictions: bool = False) -> dict:
        data = asdict(self)
        if not with_predictions:
            data.pop("predictions")
            data.pop("correct")
        return data


def class_mapping(model_labels: list[str], data_classes: list[str]) -> list[int]:
    """For each data class, the index of the same class in the model's outputs."""
    if list(model_labels) == list(data_classes):
        return list(range(len(data_classes)))
    index = {name: i for i, name in enumerate(model_labels)}
    missing = [c for c in data_classes if c not in index]
    if missing:
        raise DataError(f"the model does not know the data's classes {bounded_list(missing)} (model classes: "
                        f"{bounded_list(model_labels)})")
    return [index[c] for c in data_classes]


def batches(images: ImageList, runner: Runner, batch_size: int, workers: int = 2):
    """Yield (preprocessed batch, labels) using the runner's preprocessing contract."""
    spec = runner.info.preprocess

    def load(i: int) -> np.ndarray:
        return preprocess_numpy(images.image(i), spec)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(images), batch_size):
            idx = range(start, min(start + batch_size, len(images)))
            yield np.stack(list(pool.map(load, idx))), np.asarray([images.labels[i] for i in idx])


def evaluate(runner: Runner, images: ImageList, batch_size: int = 32, progress: bool = False) -> EvalResult:
    import time

    mapping = np.asarray(class_mapping(runner.info.labels, images.classes))
    n_data = len(images.classes)
    fixed_batch = runner.input_specs[0].shape[0]
    if isinstance(fixed_batch, int) and fixed_batch > 0:
        batch_size = fixed_batch
    top1 = top5 = 0
    confusion = np.zeros((n_data, n_data), dtype=np.int64)
    other = 0
    predictions: list[int] = []
    correct: list[bool] = []
    started = time.perf_counter()

    iterator = bar(batches(images, runner, batch_size), f"eval {runner.engine}", "batch",
                   total=-(-len(images) // batch_size), enabled=progress)
    reverse = {m: d for d, m in enumerate(mapping.tolist())}
    with runner:
        for batch, labels in iterator:
            count = len(labels)
            if isinstance(fixed_batch, int) and fixed_batch > count:  # pad the last batch
                batch = np.concatenate([batch, np.repeat(batch[-1:], fixed_batch - count, axis=0)])
            logits = runner.infer_array(batch)[:count]
            if logits.ndim != 2:
                raise DataError(f"evaluation needs a classifier; {runner.info.architecture} outputs {logits.shape}")
            targets = mapping[labels]
            ranked = np.argsort(-logits, axis=1)
            top1 += int(np.sum(ranked[:, 0] == targets))
            correct += (ranked[:, 0] == targets).tolist()
            k = min(5, logits.shape[1])
            top5 += int(np.sum((ranked[:, :k] == targets[:, None]).any(axis=1)))
            for true, pred in zip(labels, ranked[:, 0]):
                predictions.append(int(pred))
                if int(pred) in reverse:
                    confusion[true, reverse[int(pred)]] += 1
                else:
                    other += 1
    total = len(images)
    counts = np.bincount(images.labels, minlength=n_data)
    per_class = {c: float(confusion[i, i] / counts[i]) for i, c in enumerate(images.classes)}
    return EvalResult(
        model=runner.info.architecture, engine=runner.engine, data=images.source, images=total,
        classes=list(images.classes), top1=top1 / total, top5=top5 / total if len(runner.info.labels) > 5 else None,
        per_class=per_class, confusion=confusion.tolist(), predictions=predictions, correct=correct,
        seconds=time.perf_counter() - started,
    )


def agreement(a: EvalResult, b: EvalResult) -> float:
    """Fraction of images on which two models predict the same class."""
    if a.images != b.images:
        raise ValueError("the two evaluations are on different images")
    return float(np.mean(np.asarray(a.predictions) == np.asarray(b.predictions)))


def format_eval(result: EvalResult) -> str:
    from tabulate import tabulate

    lines = [f"{result.model} ({result.engine}) on {result.data}: {result.images} images",
             f"top-1: {100 * result.top1:.2f}%" + (f"   top-5: {100 * result.top5:.2f}%" if result.top5 is not None else "")]
    rows = [[c, f"{100 * acc:.1f}%"] for c, acc in result.per_class.items()]
    lines.append(tabulate(rows, headers=["class", "accuracy"], disable_numparse=True))
    short = [c[:6] for c in result.classes]
    matrix = [[c] + row for c, row in zip(short, result.confusion)]
    lines.append("confusion (rows: true, columns: predicted)")
    lines.append(tabulate(matrix, headers=[""] + short, disable_numparse=True))
    return "\n".join(lines)


def runner_predictor(runner: Runner):
    """``batch -> scores`` through any engine: the first output of the runner's model."""
    name = runner.input_specs[0].name

    def predict(batch: np.ndarray) -> np.ndarray:
        return np.asarray(next(iter(runner.infer({name: batch}).values())))

    return predict


def evaluate_segmentation(runner: Runner, data, progress: bool = False) -> dict:
    """Pixel accuracy, IoU / Dice per class and mean IoU of ``runner`` on whole images with masks (``data``: a
    :class:`~edgecnn.data.segmentation.MaskedImages`), tiled with the model's input and output sizes."""
    if list(runner.info.labels) and len(runner.info.labels) != len(data.classes):
        raise DataError(f"the model segments {len(runner.info.labels)} classes ({bounded_list(runner.info.labels)}); "
                        f"the masks have {len(data.classes)}")
    matrices, tiles = segmentation_confusions(runner, data, progress)
    return {"model": runner.info.architecture, "engine": runner.engine, "data": data.source, "images": len(data),
            "tile": list(tiles), **segmentation_metrics(matrices.sum(0), data.classes)}


def segmentation_confusions(runner: Runner, data, progress: bool = False) -> tuple[np.ndarray, tuple[int, int]]:
    """Per whole image, the confusion matrix of ``runner``'s masks (tiled with the model's input and output
    sizes), and those sizes."""
    predict = runner_predictor(runner.activate() if not runner.active else runner)
    channels, tile_in = runner.info.input_size[0], runner.info.input_size[1]
    tile_out = predict(np.zeros((1, channels, tile_in, tile_in), np.float32)).shape[-1]
    return image_confusions(predict, data, runner.info.preprocess, tile_in, tile_out, progress=progress), \
        (tile_in, tile_out)


def format_segmentation(result: dict) -> str:
    lines = [f"{result['model']} on {result['engine']}: {result['images']} images of {result['data']} "
             f"(tiles {result['tile'][0]} -> {result['tile'][1]} px)",
             f"pixel accuracy {100 * result['pixel_accuracy']:.2f}%, mean IoU {100 * result['mean_iou']:.2f}%"]
    for name in result["iou"]:
        iou, dice = result["iou"][name], result["dice"][name]
        shown = "not present" if iou is None else f"IoU {100 * iou:.2f}%, Dice {100 * dice:.2f}%"
        lines.append(f"  {name}: {shown}")
    return "\n".join(lines)


def model_threshold(runner: Runner, default: float = 0.5) -> float:
    """A Siamese model's decision threshold: from its ONNX metadata (chosen on validation pairs in training)."""
    meta = runner.info.extra.get("metadata")
    if meta is not None and "threshold" in getattr(meta, "extra", {}):
        return float(meta.extra["threshold"])
    return float(runner.info.extra.get("threshold", default))


def evaluate_similarity(runner: Runner, images: ImageList, threshold: float | None = None, seed: int = 0,
                        batch_size: int = 16) -> dict:
    """Verification on pairs drawn from ``images`` (:func:`edgecnn.core.device.draw_pairs`, as the bundle draws
    them): accuracy at the model's threshold, ROC-AUC, TAR at FAR 1e-2."""
    threshold = model_threshold(runner) if threshold is None else threshold
    scores, same = similarity_pairs(runner, images, seed, batch_size)
    metrics = verification_metrics(scores, same, threshold)
    return {"model": runner.info.architecture, "engine": runner.engine, "data": images.source,
            "images": len(images), **metrics}


def similarity_pairs(runner: Runner, images: ImageList, seed: int = 0,
                     batch_size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(cosine similarity, same class) of the pairs :func:`edgecnn.core.device.draw_pairs` draws from
    ``images``: every image embedded once, as the bundle does."""
    fixed = runner.input_specs[0].shape[0]
    batch_size = fixed if isinstance(fixed, int) and fixed > 0 else batch_size  # a fixed-batch export
    vectors = []
    with runner:
        for start in range(0, len(images), batch_size):
            batch = np.stack([preprocess_numpy(images.image(i), runner.info.preprocess)
                              for i in range(start, min(start + batch_size, len(images)))]).astype(np.float32)
            real = len(batch)
            if real < batch_size and isinstance(fixed, int) and fixed > 0:  # pad the last batch of a fixed export
                batch = np.concatenate([batch, np.zeros((batch_size - real, *batch.shape[1:]), np.float32)])
            vectors.append(np.asarray(runner.infer_array(batch))[:real])
    vectors = np.concatenate(vectors)
    try:
        pairs = draw_pairs(images.labels, min(400, 4 * len(images)), seed)
    except ValueError as exc:
        raise DataError(f"{images.source}: {exc}") from None
    first, second, same = zip(*pairs)
    return cosine_similarity(vectors[list(first)], vectors[list(second)]), np.asarray(same, dtype=bool)


# ---------------------------------------------------------------- per task: what `edgecnn eval` and profile report
# (named by each task's registry entry, :mod:`edgecnn.tasks.registry`: ``eval_report`` and ``profile_accuracy``)
def classification_report(runner: Runner, images: ImageList, *, model: str, batch_size: int = 32,
                          other: str | None = None, threads: int | None = None,
                          progress: bool = True) -> tuple[str, dict]:
    """Top-1 / top-5, per class and the confusion matrix, as text and JSON; with ``other`` (a second model), also
    its top-1, the two models' agreement and OTHER's paired difference."""
    result = evaluate(runner, images, batch_size=batch_size, progress=progress)
    lines, payload = [format_eval(result)], {"result": result.to_dict()}
    if other:
        other_result = evaluate(load_runner(other, threads=threads), images, batch_size=batch_size, progress=progress)
        agree = agreement(result, other_result)
        lines.append(f"\ncompared with {other}: top-1 {100 * other_result.top1:.2f}%; the two agree on "
                     f"{100 * agree:.2f}% of {result.images} images")
        difference = paired_difference(result.correct, other_result.correct)
        lines.append(describe(difference, "MODEL", "OTHER"))
        payload.update(compare=other_result.to_dict(), agreement=agree, difference=difference)
    return "\n".join(lines), payload


def segmentation_report(runner: Runner, data, *, model: str, batch_size: int = 32, other: str | None = None,
                        threads: int | None = None, progress: bool = True) -> tuple[str, dict]:
    """Pixel accuracy, IoU / Dice per class and mean IoU on whole images, as text and JSON."""
    with runner:
        result = evaluate_segmentation(runner, data, progress=progress)
    return format_segmentation(result), {"result": result}


def similarity_report(runner: Runner, images: ImageList, *, model: str, batch_size: int = 32,
                      other: str | None = None, threads: int | None = None, progress: bool = True) -> tuple[str, dict]:
    """Verification on pairs at the model's threshold (a checkpoint's own, else its metadata's), as text and JSON."""
    threshold = None
    if str(model).endswith((".pt", ".pth")):
        from .zoo.weights import read_weights

        threshold = read_weights(model).checkpoint.get("threshold")
    result = evaluate_similarity(runner, images, threshold=threshold)
    text = (f"{result['model']} on {result['engine']}: {result['pairs']} pairs of {result['images']} images "
            f"({result['same_pairs']} same, {result['different_pairs']} different): verification accuracy "
            f"{100 * result['accuracy']:.2f}% at threshold {result['threshold']:.4f}, ROC-AUC "
            f"{result['roc_auc']:.4f}, TAR {100 * result['tar_at_far']:.1f}% at FAR {result['far']:g}")
    return text, {"result": result}


def classification_accuracy(runner: Runner, data, batch_size: int) -> tuple[dict | None, list[str]]:
    """A results row's accuracy: top-1 / top-5 on labelled images (``data``: a source or an ImageList), and per image
    right or wrong; (None, the warning) when the model does not know the images' classes."""
    images = data if isinstance(data, ImageList) else load_images(data, image_size=runner.info.preprocess.resize)
    try:
        result = evaluate(runner, images, batch_size=batch_size)
    except DataError as exc:  # e.g. the model's classes are not the data's: keep the latency figures
        return None, [f"accuracy not measured: {exc}"]
    return {"top1": result.top1, "top5": result.top5, "images": result.images,
            "data": str(images.source if isinstance(data, ImageList) else data),
            "correct": "".join("1" if c else "0" for c in result.correct)}, []


def segmentation_accuracy(runner: Runner, data, batch_size: int) -> tuple[dict | None, list[str]]:
    """A results row's accuracy: mean IoU, Dice and pixel accuracy on whole images with masks."""
    masked = data if isinstance(data, MaskedImages) else load_masked(
        data, image_size=runner.info.input_size[1], classes=list(runner.info.labels) or None)
    scores = evaluate_segmentation(runner, masked)
    return {k: scores[k] for k in ("mean_iou", "mean_dice", "pixel_accuracy", "images", "data", "iou", "dice")}, []


def similarity_accuracy(runner: Runner, data, batch_size: int) -> tuple[dict | None, list[str]]:
    """A results row's accuracy: verification accuracy, ROC-AUC and TAR on pairs drawn from labelled images."""
    images = data if isinstance(data, ImageList) else load_images(data, image_size=runner.info.preprocess.resize)
    scores = evaluate_similarity(runner, images)
    return {"verification_accuracy": scores["accuracy"], "roc_auc": scores["roc_auc"],
            "tar_at_far": scores["tar_at_far"], "pairs": scores["pairs"], "images": scores["images"],
            "data": str(images.source)}, []


SPLITS = ("all", "val", "train")


@dataclass
class ModelEvaluation:
    """What ``edgecnn eval`` prints (``text``) and writes with ``--json`` (``payload``: ``{"result": ...}``, and
    with another model ``compare``, ``agreement`` and ``difference``)."""

    text: str
    payload: dict
    skipped: str | None = None  # files of the data that were not images, or did not decode

    @property
    def result(self) -> dict:
        """The task's figures: top-1/top-5 (classifiers), mean IoU (segmentation), verification accuracy (pairs)."""
        return self.payload["result"]


def evaluate_model(model: str | os.PathLike, data: str, *, split: str = "all", val_split: float = SplitOptions.val_split, seed: int = 0,
                   batch_size: int = 32, threads: int | None = None, other: str | os.PathLike | None = None,
                   progress: bool = True) -> ModelEvaluation:
    """Accuracy of a checkpoint or ONNX model on labelled images, by its task's evaluator (``edgecnn eval``).

    Args:
        model: an edgecnn checkpoint (``run/best.pt``) or an ``.onnx`` file; its preprocessing comes with it.
        data: labelled images: class folders (classifiers, Siamese pairs drawn from them), ``image/`` + ``label/``
            folders (segmentation), or ``"synthetic:shapes[:N]"`` / ``"synthetic:shapes-seg[:N]"``.
        split: ``"all"`` images, or the ``"val"`` / ``"train"`` side of the stratified split ``train`` made.
        val_split, seed: that split's fraction and seed (as given to ``train``).
        batch_size: images per inference.
        threads: inference threads (default: the engine's own).
        other: a second model (checkpoint or ``.onnx``) run on the same images: its top-1, the two models'
            agreement and the paired difference with its 95 % interval and McNemar test.
        progress: show a progress bar.

    Returns:
        :class:`ModelEvaluation`: the report as text, the figures as a dict (``.result``), skipped files.
    """
    if split not in SPLITS:
        raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    model, other = str(model), None if other is None else str(other)
    runner = load_runner(model, threads=threads)
    task = task_of(runner.info.task)  # what it reads, how its split is made, what it reports
    dataset = task.function("reader")(data, **sizes_of(runner.info), labels=list(runner.info.labels), seed=seed,
                                      progress=progress)
    skipped = getattr(dataset, "skipped_message", lambda: None)()
    if split != "all":
        dataset = task.function("split")(dataset, val_split, seed)[1 if split == "val" else 0]
    text, payload = task.function("eval_report")(runner, dataset, model=model, batch_size=batch_size, other=other,
                                                 threads=threads, progress=progress)
    return ModelEvaluation(text, payload, skipped)


make_callable(__name__, "evaluate_model")
