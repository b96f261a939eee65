"""Training and transfer learning in PyTorch.

The recipe of the transfer-learning lectures: replace the head for N classes,
train it with the backbone frozen (``freeze="head-only"``), then unfreeze and
fine-tune everything with a lower learning rate (``finetune_epochs``,
``finetune_lr``). ``freeze="none"`` trains everything from the start (from
scratch, or from ``weights``); ``freeze="2"`` freezes the first two stages.

Reproducible and resumable: every epoch reseeds from (seed, epoch), so a run
interrupted and resumed with ``resume=True`` ends with the same weights as one
that ran through (a test checks it). ``last.pt`` (with optimizer and schedule
state) and ``best.pt`` are written atomically at the end of every epoch.

Multi-process: under ``torchrun --nproc_per_node N -m edgecnn train ...`` the
run uses DistributedDataParallel (gloo on CPU, NCCL on GPU); rank 0 validates
and writes the checkpoints.

The module is also the public API's ``edgecnn.train``: calling it, ``edgecnn.train("resnet18",
"synthetic:shapes", "run/", epochs=2)``, calls :func:`train_model`, which trains any task's model with its
task's trainer (what ``edgecnn train`` calls; see :mod:`edgecnn.core.api`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .data.datasets import TorchImageDataset, is_synthetic, train_val
from .data.preprocess import torch_transform
from .core.api import make_callable
from .core.options import OptionError, options_or_keywords
from .core.split import SplitOptions
from .optim import make_optimizer, make_schedule
from .train_options import OPTIMIZERS, SCHEDULES, TrainConfig, TrainOptions, freeze_problem  # noqa: F401
from .errors import UsageError
from .zoo import LoadedModel, create_model, get_spec
from .zoo.heads import get_submodule
from .tasks.loop import Best, EpochStats, batchnorm_frozen, fit, validate_top1, write_run
from .tasks.registry import CLASSIFICATION, names_where, of_model
from .zoo.weights import read_weights

@dataclass
class EpochRecord:
    epoch: int
    phase: str
    lr: float
    train_loss: float
    train_top1: float
    val_loss: float
    val_top1: float
    images_per_s: float
    seconds: float


@dataclass
class TrainResult:
    output: str
    best_top1: float
    best_epoch: int
    history: list[EpochRecord] = field(default_factory=list)
    world_size: int = 1
    seconds: float = 0.0
    skipped: str | None = None

    def summary(self) -> str | None:
        """The line ``edgecnn train`` ends with (None when no epoch ran)."""
        if not self.history:
            return None
        speeds = sorted(h.images_per_s for h in self.history)
        return (f"best val top-1 {100 * self.best_top1:.2f}% (epoch {self.best_epoch + 1}); training throughput "
                f"{speeds[len(speeds) // 2]:.1f} images/s (median of epochs); {self.seconds:.1f} s; checkpoints in "
                f"{self.output}")

    def record(self) -> dict:
        """What a recipe's train stage records."""
        return {"best_top1": self.best_top1, "best_epoch": self.best_epoch + 1, "seconds": self.seconds}


# ---------------------------------------------------------------- freezing
def stages(model: nn.Module, heads: tuple[str, ...]) -> list[tuple[str, nn.Module]]:
    """The model's stages in forward order: top-level children with parameters, with a
    ``features``-style Sequential expanded one level; heads excluded."""
    head_roots = {h.split(".")[0] for h in heads}
    result = []
    for name, child in model.named_children():
        if name in head_roots or not any(True for _ in child.parameters()):
            continue
        if isinstance(child, nn.Sequential) and len(child) > 3 and name in ("features", "layers", "blocks"):
            result += [(f"{name}.{n}", c) for n, c in child.named_children() if any(True for _ in c.parameters())]
        else:
            result.append((name, child))
    return result


def set_batchnorm_momentum(model: nn.Module, momentum: float) -> int:
    """Set the running-statistics momentum of every BatchNorm layer in ``model``; return how many changed."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for layer in layers:
        layer.momentum = momentum
    return len(layers)


def freeze_stages(loaded: LoadedModel | None, mode: str, check_only: bool = False) -> list[str]:
    """Apply ``mode`` ('none', 'head-only' or a number of stages); return the frozen stage names."""
    mode = str(mode).lower()
    problem = freeze_problem(mode)
    if problem:
        raise OptionError("freeze", problem, TrainOptions)
    if check_only or loaded is None:
        return []
    model = loaded.model
    for p in model.parameters():
        p.requires_grad_(True)
    if mode == "none":
        return []
    all_stages = stages(model, loaded.spec.head)
    if mode == "head-only":
        for p in model.parameters():
            p.requires_grad_(False)
        for head in loaded.spec.head:
            try:
                for p in get_submodule(model, head).parameters():
                    p.requires_grad_(True)
            except AttributeError:
                pass
        return [n for n, _ in all_stages]
    count = int(mode)
    if count > len(all_stages):
        raise OptionError("freeze", f"is {count}, but {loaded.spec.name} has only {len(all_stages)} stages",
                          TrainOptions)
    for _, module in all_stages[:count]:
        for p in module.parameters():
            p.requires_grad_(False)
    return [n for n, _ in all_stages[:count]]


# ---------------------------------------------------------------- distributed
@dataclass
class Dist:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def where(self) -> str:
        """Where training runs, in words."""
        if not self.enabled:
            return str(self.device)
        return f"{self.world_size} processes ({'gloo' if self.device.type == 'cpu' else 'nccl'})"


def setup_distributed() -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available()
    if world <= 1:
        return Dist(device=torch.device("cuda" if use_cuda else "cpu"))
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    return Dist(world_size=world, rank=rank, local_rank=local, device=device)


# ---------------------------------------------------------------- the loop
def _loss(out, target: torch.Tensor, criterion) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (with auxiliary heads while training GoogLeNet / Inception v3) and main logits."""
    if isinstance(out, torch.Tensor):
        return criterion(out, target), out
    logits = out[0]
    aux = [a for a in out[1:] if isinstance(a, torch.Tensor)]
    weight = 0.4 if type(out).__name__ == "InceptionOutputs" else 0.3
    return criterion(logits, target) + weight * sum(criterion(a, target) for a in aux), logits


def _seed_epoch(seed: int, epoch: int) -> torch.Generator:
    torch.manual_seed(seed * 100_003 + epoch)
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class RunDirError(UsageError):
    pass


def train(config: TrainConfig, *, resume: bool = False, force: bool = False, progress: bool = True,
          log: Callable[[str], None] = print, on_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train ``config.model`` on ``config.data``; checkpoints go to ``config.output``. The classification task's
    trainer (:attr:`edgecnn.tasks.registry.Task.trainer`)."""
    started = time.perf_counter()
    out_dir = Path(config.output)
    config, state = _starting_point(config, out_dir, resume, force)
    dist = setup_distributed()
    spec = get_spec(config.model)
    if spec.task != CLASSIFICATION.name:
        raise UsageError(f"train supports {CLASSIFICATION.name} models; {spec.name} is a {spec.task} model")
    config = config.for_mode(CLASSIFICATION.training, spec.name)
    run = _Run(config, out_dir, dist, state, resume, log if dist.main else (lambda line: None), progress and dist.main)
    train_images, val_images = _images(config, spec, run.progress)
    if train_images.skipped_message():
        run.log(train_images.skipped_message())
    loaded = _model(config, train_images.classes, run)
    run.prepare(loaded, train_images, val_images)
    run.log(f"training {spec.name} on {len(train_images)} images ({len(run.classes)} classes), validating on "
            f"{len(val_images)}; {run.total_epochs} epochs, {dist.where()}"
            + (f"; resuming at epoch {run.start_epoch + 1}" if resume else "")
            + f"; {config.describe(CLASSIFICATION.training)}")
    epoch_base = 0
    for phase, n_epochs, lr, freeze in run.phases:
        run.train_phase(phase, range(epoch_base, epoch_base + n_epochs), lr, freeze, on_step)
        epoch_base += n_epochs
    result = TrainResult(output=str(out_dir), best_top1=run.best.score, best_epoch=run.best.epoch,
                         history=run.history, world_size=dist.world_size, seconds=time.perf_counter() - started,
                         skipped=train_images.skipped_message())
    if dist.enabled and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return result


def _starting_point(config: TrainConfig, out_dir: Path, resume: bool, force: bool) -> tuple[TrainConfig, dict]:
    """The run's configuration and the training state it resumes from (empty for a new run); a run folder that
    holds a run is refused without ``resume`` or ``force``."""
    last_path = out_dir / "last.pt"
    if not resume:
        if last_path.exists() and not force:
            raise RunDirError(f"{out_dir} already holds a run; pass --resume to continue it or --force to start over")
        return config, {}
    if not last_path.exists():
        raise RunDirError(f"nothing to resume: {last_path} does not exist")
    state = read_weights(last_path).checkpoint.get("training", {})
    if not state:
        raise RunDirError(f"{last_path} holds no training state to resume from")
    saved = TrainConfig.from_dict(state["config"])
    saved.epochs = max(saved.epochs, config.epochs)
    saved.finetune_epochs = max(saved.finetune_epochs, config.finetune_epochs)
    return saved, state


def _images(config: TrainConfig, spec, progress: bool):
    """Training and validation images; synthetic images are drawn at the resize size of the model's
    preprocessing."""
    probe = create_model(config.model, input_size=config.img_size) if config.img_size else None
    draw_size = (probe.spec if probe else spec).preprocess.resize
    source = config.data
    if is_synthetic(source) and config.synthetic_size and source.count(":") == 1:
        source = f"{source}:{config.synthetic_size}"
    return train_val(source, val=config.val, val_split=config.val_split, image_size=draw_size, seed=config.seed,
                     progress=progress)


def _model(config: TrainConfig, classes, run: "_Run") -> LoadedModel:
    torch.manual_seed(config.seed)
    loaded = create_model(config.model, weights=config.weights, num_classes=len(classes), input_size=config.img_size)
    loaded.labels = list(classes)
    for note in loaded.notes:
        run.log(f"note: {note}")
    if config.bn_momentum is not None:
        changed = set_batchnorm_momentum(loaded.model, config.bn_momentum)
        if changed:
            run.log(f"note: BatchNorm momentum set to {config.bn_momentum} on {changed} layers")
    loaded.model.to(run.dist.device)
    return loaded


class _Run:
    """One classifier training run: its phases (train, then fine-tune with everything unfrozen), the data loaders,
    the history and best epoch so far, and how an epoch is stepped, validated and written."""

    def __init__(self, config: TrainConfig, out_dir: Path, dist: Dist, state: dict, resume: bool, log, progress: bool):
        self.config, self.out_dir, self.dist, self.state, self.resume = config, out_dir, dist, state, resume
        self.log, self.progress = log, progress
        phases = [("train", config.epochs, config.lr, config.freeze)]
        if config.finetune_epochs:
            phases.append(("finetune", config.finetune_epochs, config.finetune_lr, "none"))
        self.phases = [p for p in phases if p[1] > 0]
        self.total_epochs = sum(p[1] for p in self.phases)
        self.history = [EpochRecord(**h) for h in state.get("history", [])]
        self.start_epoch = state.get("epoch", -1) + 1
        self.best = Best(state.get("best_top1", -1.0), state.get("best_epoch", -1))
        self.criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def prepare(self, loaded: LoadedModel, train_images, val_images) -> None:
        config, dist = self.config, self.dist
        self.loaded, self.model, self.classes = loaded, loaded.model, train_images.classes
        self.train_ds = TorchImageDataset(train_images, torch_transform(loaded.preprocess, train=config.augment))
        val_ds = TorchImageDataset(val_images, torch_transform(loaded.preprocess, train=False))
        self.sampler = None
        if dist.enabled:
            from torch.utils.data.distributed import DistributedSampler

            self.sampler = DistributedSampler(self.train_ds, num_replicas=dist.world_size, rank=dist.rank,
                                              shuffle=True, seed=config.seed, drop_last=False)
        self.val_loader = torch.utils.data.DataLoader(val_ds, batch_size=config.batch_size * 2, shuffle=False,
                                                      num_workers=config.workers)
        if self.resume:
            self.model.load_state_dict(read_weights(self.out_dir / "last.pt").state_dict)

    def train_phase(self, phase: str, epochs: range, lr: float | None, freeze: str,
                    on_step: Callable[[int, int], None] | None) -> None:
        """The epochs of one phase that are still to run (all of them, or from where a resumed run stopped)."""
        if self.start_epoch >= epochs.stop:
            return
        config, dist, model = self.config, self.dist, self.model
        frozen = freeze_stages(self.loaded, freeze)
        if frozen:
            self.log(f"{phase}: frozen {'backbone' if freeze == 'head-only' else str(len(frozen)) + ' stages'}, "
                     f"training {sum(p.numel() for p in model.parameters() if p.requires_grad):,} parameters")
        net: nn.Module = model
        if dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
        steps_per_epoch = math.ceil(len(self.train_ds) / (config.batch_size * dist.world_size))
        optimizer = make_optimizer(config, [p for p in model.parameters() if p.requires_grad], lr)
        warmup = round(config.warmup_epochs * steps_per_epoch) if phase == "train" else 0  # first phase only
        schedule = make_schedule(config, CLASSIFICATION.training, optimizer, steps_per_epoch * len(epochs), warmup,
                                 log=self.log if dist.main else None)
        if self.resume and self.state.get("phase") == phase and self.start_epoch in epochs:
            optimizer.load_state_dict(self.state["optimizer"])
            schedule.load_state_dict(self.state["schedule"])

        def train_mode() -> None:
            net.train()
            batchnorm_frozen(model)

        def step(batch):
            images, targets = (t.to(dist.device) for t in batch)
            loss, logits = _loss(net(images), targets, self.criterion)
            return loss, len(targets), int((logits.argmax(1) == targets).sum())

        fit(optimizer, schedule, range(max(self.start_epoch, epochs.start), epochs.stop), batches=self.batches,
            step=step, end_epoch=lambda stats: self.end_epoch(stats, phase, optimizer, schedule),
            train_mode=train_mode, describe=lambda epoch: f"epoch {epoch + 1}/{self.total_epochs} {phase}",
            progress=self.progress, show_accuracy=True, on_step=on_step)

    def batches(self, epoch: int):
        generator = _seed_epoch(self.config.seed, epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)
        return torch.utils.data.DataLoader(
            self.train_ds, batch_size=self.config.batch_size, shuffle=self.sampler is None, sampler=self.sampler,
            num_workers=self.config.workers, generator=generator, drop_last=False, persistent_workers=False)

    def end_epoch(self, stats: EpochStats, phase: str, optimizer, schedule) -> None:
        """Validate, log and write the epoch (the main process); every process waits for it under DDP."""
        dist = self.dist
        images_per_s = stats.seen * dist.world_size / max(stats.seconds, 1e-9)
        if dist.main:
            val_loss, val_top1 = validate_top1(self.model, self.val_loader, dist.device, nn.CrossEntropyLoss())
            record = EpochRecord(epoch=stats.epoch, phase=phase, lr=float(schedule.get_last_lr()[0]),
                                 train_loss=stats.loss, train_top1=stats.top1, val_loss=val_loss, val_top1=val_top1,
                                 images_per_s=images_per_s, seconds=time.perf_counter() - stats.started)
            self.history.append(record)
            improved = self.best.offer(val_top1, stats.epoch)
            self.log(f"epoch {stats.epoch + 1}/{self.total_epochs} {phase}: loss {record.train_loss:.4f} "
                     f"train top-1 {100 * record.train_top1:.1f}% | val loss {val_loss:.4f} top-1 "
                     f"{100 * val_top1:.2f}%{' *' if improved else ''} | {images_per_s:.1f} img/s, "
                     f"{record.seconds:.1f} s")
            _write_epoch(self.out_dir, self.loaded, self.config, self.classes, record, self.history, improved,
                         self.best, phase, optimizer, schedule)
        if dist.enabled:
            torch.distributed.barrier()


def _write_epoch(out_dir: Path, loaded: LoadedModel, config: TrainConfig, classes, record: EpochRecord, history,
                 improved: bool, best: Best, phase: str, optimizer, schedule) -> None:
    metrics = {"val_top1": record.val_top1, "val_loss": record.val_loss, "train_top1": record.train_top1,
               "train_loss": record.train_loss, "epoch": record.epoch + 1, "images_per_s": record.images_per_s}
    common = dict(arch=loaded.spec.name, classes=list(classes), input_size=loaded.input_size,
                  preprocess=loaded.preprocess.to_dict(), metrics=metrics)
    training = {"epoch": record.epoch, "phase": phase, "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "history": [asdict(h) for h in history],
                "best_top1": best.score, "best_epoch": best.epoch, "config": asdict(config)}
    write_run(out_dir, loaded.model, improved=improved, checkpoint=common, training=training,
              history={"config": asdict(config), "history": [asdict(h) for h in history], "best_top1": best.score,
                       "best_epoch": best.epoch + 1})


def train_model(model: str | os.PathLike, data: str, output: str | os.PathLike, *, val: str | None = None,
                val_split: float = SplitOptions.val_split, weights: str | os.PathLike | None = None, seed: int = 0, resume: bool = False,
                force: bool = False, options: TrainOptions | None = None, log: Callable[[str], None] = print,
                **option_values):
    """Train or fine-tune a zoo architecture on images with its task's trainer (``edgecnn train``).

    Args:
        model: a zoo name (``"resnet18"``, ``"unet_same"``, ``"siamese:resnet18"``) or an edgecnn checkpoint.
        data: an ImageFolder directory (one sub-folder per class; a U-Net: ``image/`` + ``label/``) or
            ``"synthetic:shapes[:N]"`` (``"synthetic:shapes-seg[:N]"`` for a U-Net).
        output: the run directory: ``best.pt``, ``last.pt`` and ``history.json`` are written there each epoch.
        val: a separate validation directory (default: a stratified ``val_split`` of ``data``).
        val_split: the validation fraction of ``data``.
        weights: start from these weights (a state_dict, a checkpoint, or ``"imagenet"``; the head is replaced).
        seed: the seed of the split, the shuffling and the augmentation.
        resume: continue the run in ``output`` from ``last.pt`` (classifiers).
        force: start over in an ``output`` that already holds a run.
        options: a :class:`~edgecnn.train_options.TrainOptions`, or its fields as keywords instead: ``epochs``,
            ``img_size``, ``batch_size``, ``lr``, ``optimizer``, ``schedule``, ``freeze``, ``finetune_epochs``,
            ``augment``, ``workers``, ...; the defaults are the task's own, and an option the task does not take
            is refused.
        log: called with each epoch's line.

    Returns:
        The task's training result (a classifier's :class:`TrainResult`: best validation top-1, its epoch, the
        history); ``summary()`` is the line ``edgecnn train`` ends with.
    """
    options = options_or_keywords(TrainOptions, options, option_values)
    task = of_model(str(model))
    if resume and not task.resumable:
        raise UsageError(f"--resume is for {names_where('resumable')} runs; {task.name} training starts over")
    config = TrainConfig(**{f.name: getattr(options, f.name) for f in fields(TrainOptions)}, model=str(model),
                         data=data, output=str(output), val=val, val_split=val_split,
                         weights=None if weights is None else str(weights), seed=seed)
    return task.function("trainer")(config, resume=resume, force=force, log=log)


__all__ = ["TrainConfig", "TrainResult", "train", "train_model", "freeze_stages", "stages"]

make_callable(__name__, "train_model")  # edgecnn.train(...) is train_model(...): the public API (core.api)
