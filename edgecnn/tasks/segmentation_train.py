"""Training and evaluating segmentation models (U-Net) on images with masks.

* Tiles: each training sample is a random tile of an image at the model's input size, its target the mask under
  the model's output (the centre, for a valid-convolution U-Net: the image is mirrored at its borders, as in the
  paper's overlap-tile strategy).
* Augmentation, applied to image and mask together: horizontal / vertical flips, 90-degree rotations and the
  paper's elastic deformation (random displacements on a coarse 3 x 3 grid, 10 pixels standard deviation,
  interpolated smoothly over the image; the mask with nearest-neighbour sampling).
* Loss: cross-entropy plus soft Dice of the foreground for binary masks, cross-entropy for several classes.
* Metrics: on whole validation images (tiled with the model's own tile sizes), pixel accuracy, mean IoU and
  Dice per class from one confusion matrix (:mod:`edgecnn.tasks.segmentation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.preprocess import PreprocessSpec
from ..data.segmentation import MaskedImages, load_masked, split_masked
from ..errors import UsageError
from ..optim import make_optimizer, make_schedule
from ..train_options import TrainConfig, TrainOptions
from ..zoo import LoadedModel, create_model
from .loop import Best, EpochStats, fit, write_run
from .registry import SEGMENTATION
from .segmentation import evaluate_masks, image_array, mirrored


def elastic(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, sigma: float = 10.0,
            grid: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The U-Net paper's elastic deformation: displacements drawn on a ``grid`` x ``grid`` coarse grid (standard
    deviation ``sigma`` pixels), interpolated bicubically to every pixel; image bilinear, mask nearest."""
    from scipy.ndimage import map_coordinates, zoom

    height, width = mask.shape
    coarse = rng.normal(0, sigma, (2, grid, grid))
    dy, dx = (zoom(c, (height / grid, width / grid), order=3)[:height, :width] for c in coarse)
    yy, xx = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    coords = np.stack([yy + dy, xx + dx])
    warped = np.stack([map_coordinates(ch, coords, order=1, mode="reflect") for ch in image])
    return warped.astype(np.float32), map_coordinates(mask, coords, order=0, mode="reflect").astype(np.int64)


def augment(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
            deform: bool = True) -> tuple[np.ndarray, np.ndarray]:
    if rng.random() < 0.5:
        image, mask = image[:, :, ::-1], mask[:, ::-1]
    if rng.random() < 0.5:
        image, mask = image[:, ::-1, :], mask[::-1, :]
    turns = int(rng.integers(0, 4))
    if turns:
        image, mask = np.rot90(image, turns, axes=(1, 2)), np.rot90(mask, turns)
    if deform and rng.random() < 0.5:
        image, mask = elastic(np.ascontiguousarray(image), np.ascontiguousarray(mask), rng)
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)


def random_tile(image: np.ndarray, mask: np.ndarray, tile_in: int, tile_out: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A tile of ``tile_in`` px of the mirrored image and the ``tile_out`` px of mask under the model's output."""
    height, width = mask.shape
    grow_h, grow_w = max(0, tile_out - height), max(0, tile_out - width)
    image = mirrored(image, tile_in, tile_out)
    mask = np.pad(mask, ((0, grow_h), (0, grow_w)), mode="reflect")
    top = int(rng.integers(0, mask.shape[0] - tile_out + 1))
    left = int(rng.integers(0, mask.shape[1] - tile_out + 1))
    return (image[:, top:top + tile_in, left:left + tile_in],
            mask[top:top + tile_out, left:left + tile_out])


class TileDataset(torch.utils.data.Dataset):
    def __init__(self, data: MaskedImages, spec: PreprocessSpec, tile_in: int, tile_out: int, *, train: bool,
                 seed: int = 0, repeats: int = 1, deform: bool = True):
        self.data, self.spec, self.tile_in, self.tile_out = data, spec, tile_in, tile_out
        self.train, self.seed, self.repeats, self.deform, self.epoch = train, seed, repeats, deform, 0

    def __len__(self) -> int:
        return len(self.data) * self.repeats

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        i = index % len(self.data)
        image, mask = image_array(self.data.image(i), self.spec), self.data.mask(i)
        if self.train:
            image, mask = augment(image, mask, rng, self.deform)
        image, mask = random_tile(image, mask, self.tile_in, self.tile_out, rng)
        return torch.from_numpy(np.ascontiguousarray(image)), torch.from_numpy(np.ascontiguousarray(mask))


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy, plus soft Dice of the foreground when there are two classes (binary masks)."""
    loss = F.cross_entropy(logits, target)
    if logits.shape[1] == 2:
        foreground = logits.softmax(1)[:, 1]
        truth = (target == 1).float()
        dice = (2 * (foreground * truth).sum() + 1) / (foreground.sum() + truth.sum() + 1)
        loss = loss + (1 - dice)
    return loss


def output_side(model: nn.Module, channels: int, tile_in: int) -> int:
    with torch.no_grad():
        return int(model(torch.zeros(1, channels, tile_in, tile_in)).shape[-1])


def torch_predictor(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    model.eval()

    def predict(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(batch)).numpy()

    return predict


@dataclass
class SegmentationTrainResult:
    output: str
    best_mean_iou: float
    best_epoch: int
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """The line ``edgecnn train`` ends with."""
        return (f"best val mean IoU {100 * self.best_mean_iou:.2f}% (epoch {self.best_epoch + 1}); "
                f"{self.seconds:.1f} s; checkpoints in {self.output}")

    def record(self) -> dict:
        """What a recipe's train stage records."""
        return {"best_mean_iou": self.best_mean_iou, "best_epoch": self.best_epoch + 1, "seconds": self.seconds}


def train_segmentation(model_name: str, data: str, output: str, *, options: TrainOptions | None = None,
                       val: str | None = None, val_split: float, seed: int = 0, weights: str | None = None,
                       repeats: int = 4, deform: bool = True, classes: list[str] | None = None,
                       progress: bool = True, log=print) -> SegmentationTrainResult:
    """Train a segmentation model (``unet``, ``unet_same``) on ``data``; best.pt / last.pt / history.json in
    ``output``. ``options``: epochs, the tile (``img_size``, default the model's own input side), batch size,
    optimizer and schedule (an option segmentation does not use is refused); ``repeats``: random tiles per image
    per epoch."""
    started = time.perf_counter()
    options = (options or TrainOptions()).for_mode(SEGMENTATION.training, model_name)
    epochs, batch_size, tile = options.epochs, options.batch_size, options.img_size
    probe = create_model(model_name, input_size=tile)
    if probe.spec.task != SEGMENTATION.name:
        raise UsageError(f"{probe.spec.name} is a {probe.spec.task} model; segmentation training needs one of the "
                         "segmentation models (unet, unet_same)")
    side = probe.input_size[1]
    everything = load_masked(data, image_size=side, classes=classes, seed=seed)
    if val:
        train_set, val_set = everything, load_masked(val, image_size=side, classes=classes, seed=seed + 1)
    else:
        train_set, val_set = split_masked(everything, val_split, seed)
    torch.manual_seed(seed)
    loaded: LoadedModel = create_model(model_name, weights=weights, num_classes=len(train_set.classes),
                                       input_size=tile)
    loaded.labels = list(train_set.classes)
    model, spec = loaded.model, loaded.preprocess
    channels = loaded.input_size[0]
    tile_out = output_side(model, channels, side)
    dataset = TileDataset(train_set, spec, side, tile_out, train=options.augment, seed=seed, repeats=repeats,
                          deform=deform)
    optimizer = make_optimizer(options, model.parameters())
    steps_per_epoch = -(-len(dataset) // batch_size)
    schedule = make_schedule(options, SEGMENTATION.training, optimizer, epochs * steps_per_epoch,
                             round(options.warmup_epochs * steps_per_epoch), log=log)
    log(f"training {loaded.spec.name} on {len(train_set)} images with masks ({len(train_set.classes)} classes), "
        f"validating on {len(val_set)} whole images; tiles {side} -> {tile_out} px, {repeats} per image per epoch, "
        f"{epochs} epochs; {options.describe(SEGMENTATION.training)}")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    history, best = [], Best()

    def batches(epoch: int):
        dataset.epoch = epoch
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=options.workers,
                                           generator=torch.Generator().manual_seed(seed * 1000 + epoch))

    def step(batch):
        images, masks = batch
        return segmentation_loss(model(images), masks), len(images), None

    def end_epoch(stats: EpochStats) -> None:
        epoch = stats.epoch
        metrics = evaluate_masks(torch_predictor(model), val_set, spec, side, tile_out)
        record = {"epoch": epoch + 1, "train_loss": stats.loss, "val_mean_iou": metrics["mean_iou"],
                  "val_pixel_accuracy": metrics["pixel_accuracy"], "val_dice": metrics["dice"],
                  "tiles_per_s": stats.per_second, "seconds": time.perf_counter() - stats.started}
        history.append(record)
        improved = best.offer(metrics["mean_iou"], epoch)
        log(f"epoch {epoch + 1}/{epochs}: loss {record['train_loss']:.4f} | val mean IoU {100 * metrics['mean_iou']:.2f}%"
            f" pixel accuracy {100 * metrics['pixel_accuracy']:.2f}%{' *' if improved else ''} | "
            f"{record['tiles_per_s']:.1f} tiles/s, {record['seconds']:.1f} s")
        common = dict(arch=loaded.spec.name, classes=list(train_set.classes), input_size=loaded.input_size,
                      preprocess=spec.to_dict(), metrics={"val_mean_iou": metrics["mean_iou"],
                                                          "val_pixel_accuracy": metrics["pixel_accuracy"],
                                                          "epoch": epoch + 1})
        write_run(out, model, improved=improved, checkpoint=common,
                  history={"history": history, "best_mean_iou": best.score, "best_epoch": best.epoch + 1,
                           "tile": [side, tile_out]})

    fit(optimizer, schedule, range(epochs), batches=batches, step=step, end_epoch=end_epoch, train_mode=model.train,
        describe=lambda epoch: f"epoch {epoch + 1}/{epochs}", progress=progress)
    result = SegmentationTrainResult(str(out), best.score, best.epoch, history, time.perf_counter() - started)
    return result


def train_task(config: TrainConfig, *, resume: bool = False, force: bool = False, progress: bool = True,
               log=print) -> SegmentationTrainResult:
    """The segmentation task's trainer (:attr:`edgecnn.tasks.registry.Task.trainer`): a run starts over (the task
    is not ``resumable``; ``force`` is implied)."""
    if resume:
        raise UsageError(f"{SEGMENTATION.training.words} starts over: it does not resume")
    return train_segmentation(config.model, config.data, config.output, options=TrainOptions.of(config),
                              val=config.val, val_split=config.val_split, seed=config.seed, weights=config.weights,
                              progress=progress, log=log)


__all__ = ["train_segmentation", "train_task", "evaluate_masks", "segmentation_loss", "augment", "elastic", "random_tile"]
