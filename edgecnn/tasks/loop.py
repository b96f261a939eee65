"""The training loop every trainer runs: classifiers (:mod:`edgecnn.train`), U-Nets (:mod:`.segmentation_train`),
Siamese nets (:mod:`.similarity_train`) and quantization-aware training (:mod:`edgecnn.quantize.qat`).

:func:`fit` runs epochs of optimizer steps (zero the gradients, backward, optimizer step, schedule step: the
schedule is stepped once per optimizer step), with a progress bar, and hands each finished epoch to the trainer's
``end_epoch`` (validate, keep the best, write the run). What differs between tasks is what they pass in: the
batches of an epoch, the loss of a batch, the validation. The pieces around it are shared too: :class:`Best`
(the best epoch so far), :func:`write_run` (``best.pt``, ``last.pt``, ``history.json``), :func:`validate_top1`
(loss and top-1 of a classifier) and :func:`batchnorm_frozen` (BatchNorm layers that keep their statistics).
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from ..fileio import atomic_path
from ..progress import progress as bar
from ..zoo.weights import save_checkpoint


@dataclass
class EpochStats:
    """What one epoch of training steps did (before validation)."""

    epoch: int
    started: float = field(default_factory=time.perf_counter)  # when the epoch began (after its batches were set up)
    loss_sum: float = 0.0  # the steps' losses, each weighted by its count
    seen: int = 0  # images (tiles, batches: what a step counts)
    correct: int = 0  # of them, top-1 right (classifiers)
    steps: int = 0
    seconds: float = 0.0  # the training steps alone

    @property
    def loss(self) -> float:
        return self.loss_sum / max(1, self.seen)

    @property
    def top1(self) -> float:
        return self.correct / max(1, self.seen)

    @property
    def per_second(self) -> float:
        return self.seen / max(self.seconds, 1e-9)


@dataclass
class Best:
    """The best validation figure so far (higher is better) and its epoch (0-based; -1 before any)."""

    score: float = -1.0
    epoch: int = -1

    def offer(self, score: float, epoch: int) -> bool:
        """Keep ``score`` if it beats the best; whether it did."""
        improved = score > self.score
        if improved:
            self.score, self.epoch = score, epoch
        return improved


Step = Callable[[Any], "tuple[torch.Tensor, int, int | None]"]  # batch -> (loss, count, top-1 right or None)


def fit(optimizer: torch.optim.Optimizer, schedule, epochs: Iterable[int], *, batches: Callable[[int], Iterable],
        step: Step, end_epoch: Callable[[EpochStats], None], train_mode: Callable[[], None], describe: Callable[[int], str],
        progress: bool = True, show_accuracy: bool = False,
        on_step: Callable[[int, int], None] | None = None) -> None:
    """Train over ``epochs``: for each, ``batches(epoch)`` (seeded by the trainer), ``train_mode()``, then one
    optimizer step and one schedule step per batch (``step(batch)`` gives the loss to minimise, how many items it
    counts and how many of them are right, or None), a progress bar named ``describe(epoch)``, and
    ``end_epoch(stats)`` once the epoch's steps are done. ``on_step(epoch, index)`` after every step."""
    with loader_signals_restored():
        _epochs(optimizer, schedule, epochs, batches, step, end_epoch, train_mode, describe, progress, show_accuracy,
                on_step)


def _epochs(optimizer, schedule, epochs, batches, step, end_epoch, train_mode, describe, progress, show_accuracy,
            on_step) -> None:
    for epoch in epochs:
        loader = batches(epoch)
        train_mode()
        stats = EpochStats(epoch)
        iterator = bar(loader, describe(epoch), "batch", enabled=progress)
        for index, batch in enumerate(iterator):
            loss, count, correct = step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            stats.loss_sum += float(loss.detach()) * count
            stats.seen += count
            stats.correct += correct or 0
            stats.steps += 1
            if show_accuracy and not iterator.disable:
                iterator.set_postfix(loss=f"{stats.loss:.3f}", acc=f"{100 * stats.top1:.1f}%")
            if on_step:
                on_step(epoch, index)
        stats.seconds = time.perf_counter() - stats.started
        end_epoch(stats)


@contextlib.contextmanager
def loader_signals_restored():
    """The process's SIGCHLD disposition as it was before: a DataLoader with worker processes installs a SIGCHLD
    handler in the main process (torch.utils.data._utils.signal_handling) and leaves it there for good, so every
    later child's exit (the speed check's and profile's timing subprocesses) interrupts the main thread with a
    signal for a loader that is gone. torch re-installs it for the next loader that needs it. (On an AMX Xeon the
    test suite died of a kernel-sent SIGSEGV after in-process loader workers, once in waitpid for such a child;
    putting the handler back did not prevent it alone: docs/testing.md.)"""
    previous = signal.getsignal(signal.SIGCHLD) if hasattr(signal, "SIGCHLD") else None
    try:
        yield
    finally:
        from torch.utils.data._utils import signal_handling

        if previous is not None and signal_handling._SIGCHLD_handler_set \
                and signal.getsignal(signal.SIGCHLD) is not previous:
            try:
                signal.signal(signal.SIGCHLD, previous)
                signal_handling._SIGCHLD_handler_set = False
            except ValueError:  # not the main thread: torch set nothing there either
                pass


def batchnorm_frozen(model: nn.Module, every: bool = False) -> None:
    """Put BatchNorm layers in eval mode, so that training keeps their running statistics: those whose parameters
    are frozen (a frozen backbone), or ``every`` one (QAT: the folded weight the quantizer sees stays the one that
    is exported). Called after ``model.train()``."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            params = list(module.parameters(recurse=False))
            if every or (params and not any(p.requires_grad for p in params)):
                module.eval()


@torch.no_grad()
def validate_top1(model: nn.Module, loader, device=None, criterion=None) -> tuple[float, float]:
    """(mean loss, top-1) of a classifier on ``loader``'s batches; the loss is 0 without a ``criterion``."""
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    for images, targets in loader:
        if device is not None:
            images, targets = images.to(device), targets.to(device)
        logits = model(images)
        if criterion is not None:
            loss_sum += float(criterion(logits, targets)) * len(targets)
        correct += int((logits.argmax(1) == targets).sum())
        count += len(targets)
    return loss_sum / max(1, count), correct / max(1, count)


def write_run(folder: str | Path, model: nn.Module, *, improved: bool, checkpoint: dict, history: dict,
              training: dict | None = None) -> None:
    """One finished epoch into the run folder: ``best.pt`` when it ``improved``, ``last.pt`` (with ``training``,
    the state a resumed run starts from, where the trainer resumes) and ``history.json``; each atomically."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if improved:
        save_checkpoint(out / "best.pt", model, **checkpoint)
    save_checkpoint(out / "last.pt", model, **checkpoint, **({"training": training} if training is not None else {}))
    with atomic_path(out / "history.json", force=True) as tmp:
        tmp.write_text(json.dumps(history, indent=1))
