"""Training Siamese (similarity) networks: FaceNet's triplet loss with semi-hard mining over any zoo backbone.

* Batches hold P classes x K images of the training side of a stratified split (``edgecnn train``'s split).
* Loss (Schroff et al. 2015, FaceNet): for every anchor-positive pair in the batch, the negative chosen is the
  closest one that is still farther than the positive (semi-hard); where none is, the farthest negative. Squared
  distances between L2-normalized embeddings, margin 0.2.
* Transfer learning: ``weights`` may be a classification checkpoint of the backbone: everything but its
  classifier head is loaded, and the head becomes the embedding projection.
* Validation: pairs drawn deterministically from the validation side (:func:`edgecnn.core.device.draw_pairs`),
  scored by cosine similarity: ROC-AUC, the threshold that decides the most pairs right (stored in the
  checkpoint, used by every later evaluation and by the bundle), accuracy at it, TAR at FAR 1e-2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.device import best_threshold, cosine_similarity, draw_pairs, verification_metrics
from ..data.datasets import ImageList, TorchImageDataset, train_val
from ..data.preprocess import torch_transform
from ..errors import UsageError
from ..optim import make_optimizer, make_schedule
from ..train_options import TrainConfig, TrainOptions
from ..zoo import create_model
from ..zoo.weights import read_weights
from .loop import Best, EpochStats, fit, write_run
from .registry import SIMILARITY

MARGIN = 0.2
VAL_PAIRS = 400


def semi_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = MARGIN) -> torch.Tensor:
    """Mean over anchor-positive pairs of max(0, d(a, p) - d(a, n) + margin), n semi-hard (see the module doc)."""
    distances = (2 - 2 * embeddings @ embeddings.T).clamp(min=0)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    if not positive.any():
        return embeddings.sum() * 0
    anchor, pos = positive.nonzero(as_tuple=True)
    d_ap = distances[anchor, pos]
    d_an = distances[anchor]  # (pairs, batch)
    negative = ~same[anchor]
    farther = negative & (d_an > d_ap[:, None])
    inf = torch.tensor(float("inf"), device=embeddings.device)
    outside = torch.where(farther, d_an, inf).min(dim=1).values
    inside = torch.where(negative, d_an, -inf).max(dim=1).values
    chosen = torch.where(farther.any(dim=1), outside, inside)
    return torch.relu(d_ap - chosen + margin).mean()


def class_batches(labels: list[int], classes_per_batch: int, per_class: int, steps: int,
                  rng: np.random.Generator) -> list[list[int]]:
    """``steps`` batches of P classes x K images (drawn with replacement where a class has fewer than K)."""
    by_class = {c: np.flatnonzero(np.asarray(labels) == c) for c in sorted(set(labels))}
    usable = [c for c, members in by_class.items() if len(members) >= 2]
    if len(usable) < 2:
        raise UsageError("similarity training needs at least two classes with two images each")
    p = min(classes_per_batch, len(usable))
    batches = []
    for _ in range(steps):
        chosen = rng.choice(usable, size=p, replace=False)
        batches.append([int(i) for c in chosen for i in rng.choice(by_class[c], size=per_class,
                                                                    replace=len(by_class[c]) < per_class)])
    return batches


class LoadedBatches:
    """Batches of dataset indices, loaded (images stacked, labels gathered) one at a time as they are iterated."""

    def __init__(self, batches: list[list[int]], dataset, labels: list[int]):
        self.batches, self.dataset, self.labels = batches, dataset, labels

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for batch in self.batches:
            yield (torch.stack([self.dataset[i][0] for i in batch]), torch.tensor([self.labels[i] for i in batch]))


@torch.no_grad()
def embed_images(model: nn.Module, dataset, batch_size: int = 32) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(dataset), batch_size):
        images = torch.stack([dataset[i][0] for i in range(start, min(start + batch_size, len(dataset)))])
        out.append(model.embed(images).numpy())
    return np.concatenate(out)


def pair_scores(embeddings: np.ndarray, pairs: list[tuple[int, int, bool]]) -> tuple[np.ndarray, np.ndarray]:
    first, second, same = zip(*pairs)
    return cosine_similarity(embeddings[list(first)], embeddings[list(second)]), np.asarray(same, dtype=bool)


def load_backbone(model: nn.Module, checkpoint: str) -> int:
    """Load a classification checkpoint into the Siamese backbone, all but its head; the count of tensors loaded."""
    state = read_weights(checkpoint).state_dict
    own = model.backbone.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise UsageError(f"{checkpoint} holds no weights of this backbone (a checkpoint of another architecture?)")
    model.backbone.load_state_dict(usable, strict=False)
    return len(usable)


@dataclass
class SimilarityTrainResult:
    output: str
    best_roc_auc: float
    best_epoch: int
    threshold: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """The line ``edgecnn train`` ends with."""
        return (f"best val ROC-AUC {self.best_roc_auc:.4f} (epoch {self.best_epoch + 1}), threshold "
                f"{self.threshold:.3f} stored in the checkpoint; {self.seconds:.1f} s; checkpoints in {self.output}")

    def record(self) -> dict:
        """What a recipe's train stage records."""
        return {"best_roc_auc": self.best_roc_auc, "threshold": self.threshold, "best_epoch": self.best_epoch + 1,
                "seconds": self.seconds}


def train_similarity(model_name: str, data: str, output: str, *, options: TrainOptions | None = None,
                     classes_per_batch: int = 8, per_class: int = 4, val: str | None = None, val_split: float,
                     seed: int = 0, weights: str | None = None, progress: bool = True,
                     log=print) -> SimilarityTrainResult:
    """Train ``siamese:BACKBONE`` on an ImageFolder; best.pt / last.pt / history.json in ``output``. ``options``:
    epochs, input side, optimizer, schedule, augmentation (an option Siamese training does not use is refused)."""
    started = time.perf_counter()
    options = (options or TrainOptions()).for_mode(SIMILARITY.training, model_name)
    epochs = options.epochs
    loaded = create_model(model_name, input_size=options.img_size)
    if loaded.spec.task != SIMILARITY.name:
        raise UsageError(f"{loaded.spec.name} is a {loaded.spec.task} model; similarity training takes "
                         "siamese:BACKBONE (e.g. siamese:resnet18)")
    train_images, val_images = train_val(data, val=val, val_split=val_split, image_size=loaded.preprocess.resize,
                                         seed=seed, progress=progress)
    torch.manual_seed(seed)
    model = loaded.model
    if weights:
        log(f"backbone: {load_backbone(model, weights)} tensors from {weights} (its head replaced by the embedding)")
    train_set = TorchImageDataset(train_images, torch_transform(loaded.preprocess, train=options.augment))
    val_set = TorchImageDataset(val_images, torch_transform(loaded.preprocess, train=False))
    try:
        pairs = draw_pairs(val_images.labels, min(VAL_PAIRS, 4 * len(val_images)), seed)
    except ValueError as exc:
        raise UsageError(f"validation pairs: {exc}; the validation side has {len(val_images)} images of "
                         f"{len(set(val_images.labels))} classes (more images, or a larger --val-split)") from None
    steps = max(1, len(train_images) // (classes_per_batch * per_class))
    optimizer = make_optimizer(options, model.parameters())
    schedule = make_schedule(options, SIMILARITY.training, optimizer, epochs * steps, round(options.warmup_epochs * steps),
                             log=log)
    log(f"training {loaded.spec.name} on {len(train_images)} images ({len(train_images.classes)} classes), "
        f"validating on {len(pairs)} pairs of {len(val_images)} images; {epochs} epochs of {steps} batches of "
        f"{classes_per_batch} classes x {per_class} images, triplet loss with semi-hard negatives; "
        f"{options.describe(SIMILARITY.training)}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    history, best, chosen = [], Best(), {"threshold": 0.5}

    def batches(epoch: int):  # the P x K batches, drawn per epoch
        rng = np.random.default_rng([seed, epoch])
        # loaded in this process: forked DataLoader workers coincided with the suite's segfault exits
        return LoadedBatches(class_batches(train_images.labels, classes_per_batch, per_class, steps, rng), train_set,
                             train_images.labels)

    def step(batch):  # the loss of a batch, not weighted by its size: the record is the mean over the batches
        images, labels = batch
        return semi_hard_triplet_loss(model.embed(images), labels), 1, None

    def end_epoch(stats: EpochStats) -> None:
        epoch = stats.epoch
        scores, same = pair_scores(embed_images(model, val_set), pairs)
        threshold, _ = best_threshold(scores, same)
        metrics = verification_metrics(scores, same, threshold)
        record = {"epoch": epoch + 1, "loss": stats.loss_sum / steps, **metrics,
                  "seconds": time.perf_counter() - stats.started}
        history.append(record)
        improved = best.offer(metrics["roc_auc"], epoch)
        if improved:
            chosen["threshold"] = threshold
        log(f"epoch {epoch + 1}/{epochs}: loss {record['loss']:.4f} | val ROC-AUC {metrics['roc_auc']:.4f}, "
            f"accuracy {100 * metrics['accuracy']:.2f}% at threshold {threshold:.3f}, TAR@FAR1e-2 "
            f"{100 * metrics['tar_at_far']:.1f}%{' *' if improved else ''} | {record['seconds']:.1f} s")
        common = dict(arch=loaded.spec.name, classes=list(train_images.classes), input_size=loaded.input_size,
                      preprocess=loaded.preprocess.to_dict(), threshold=threshold,
                      metrics={"val_roc_auc": metrics["roc_auc"], "val_accuracy": metrics["accuracy"],
                               "epoch": epoch + 1})
        write_run(out, model, improved=improved, checkpoint=common,
                  history={"history": history, "best_roc_auc": best.score, "best_epoch": best.epoch + 1,
                           "threshold": chosen["threshold"]})

    fit(optimizer, schedule, range(epochs), batches=batches, step=step, end_epoch=end_epoch, train_mode=model.train,
        describe=lambda epoch: f"epoch {epoch + 1}/{epochs}", progress=progress)
    return SimilarityTrainResult(str(out), best.score, best.epoch, chosen["threshold"], history,
                                 time.perf_counter() - started)


def train_task(config: TrainConfig, *, resume: bool = False, force: bool = False, progress: bool = True,
               log=print) -> SimilarityTrainResult:
    """The similarity task's trainer (:attr:`edgecnn.tasks.registry.Task.trainer`): a run starts over (the task
    is not ``resumable``; ``force`` is implied)."""
    if resume:
        raise UsageError(f"{SIMILARITY.training.words} starts over: it does not resume")
    return train_similarity(config.model, config.data, config.output, options=TrainOptions.of(config), val=config.val,
                            val_split=config.val_split, seed=config.seed, weights=config.weights, progress=progress,
                            log=log)


def verification_of(model: nn.Module, images: ImageList, preprocess, threshold: float, seed: int = 0) -> dict:
    """Verification metrics of a Siamese model on pairs drawn from ``images`` at a stored ``threshold``."""
    dataset = TorchImageDataset(images, torch_transform(preprocess, train=False))
    pairs = draw_pairs(images.labels, min(VAL_PAIRS, 4 * len(images)), seed)
    scores, same = pair_scores(embed_images(model, dataset), pairs)
    return verification_metrics(scores, same, threshold)
