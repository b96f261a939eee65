"""The optimizer and learning-rate schedule of every training loop (classifiers, U-Nets, Siamese nets, QAT), built
from :class:`~edgecnn.train_options.TrainOptions` resolved for its mode. Any run of at least one step has a
well-defined schedule: one-cycle where the run is long enough to hold its warm-up, cosine decay otherwise."""

from __future__ import annotations

import math

import torch

from .train_options import TrainingMode, TrainOptions


def make_optimizer(options: TrainOptions, params, lr: float | None = None) -> torch.optim.Optimizer:
    """Nesterov momentum SGD or AdamW at ``lr`` (default ``options.lr``); ``options`` resolved by ``for_mode``."""
    lr = options.lr if lr is None else lr
    if options.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=options.momentum, weight_decay=options.weight_decay,
                               nesterov=options.momentum > 0)
    return torch.optim.AdamW(params, lr=lr, weight_decay=options.weight_decay)


def onecycle_fits(total_steps: int, warmup_share: float) -> bool:
    """Whether PyTorch's OneCycleLR can run ``total_steps``: both of its phases must span at least one step
    (it divides by each phase's length, so a shorter run ends in ZeroDivisionError)."""
    warmup_end = float(warmup_share * total_steps) - 1
    return warmup_end >= 1 and (total_steps - 1) - warmup_end >= 1


def make_schedule(options: TrainOptions, mode: TrainingMode, optimizer: torch.optim.Optimizer, total_steps: int,
                  warmup_steps: int = 0, log=None) -> torch.optim.lr_scheduler.LRScheduler:
    """The schedule of ``options.schedule`` over ``total_steps`` optimizer steps (stepped once per step).
    Cosine: linear warm-up from lr/10 over ``warmup_steps``, then cosine decay to zero. A one-cycle run too short
    for its two phases decays by cosine instead, and ``log`` says so."""
    total = max(1, int(total_steps))
    share = mode.onecycle_warmup
    if options.schedule == "onecycle":
        if onecycle_fits(total, share):
            peaks = [group["lr"] for group in optimizer.param_groups]
            return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peaks, total_steps=total, pct_start=share)
        if log is not None:
            log(f"note: {total} steps are too few for one-cycle's warm-up ({share:g} of the run) and decay: "
                "cosine decay from the peak rate instead")
    warmup = min(max(0, int(warmup_steps)), total - 1)

    def factor(step: int) -> float:
        if step < warmup:
            return 0.1 + 0.9 * step / warmup
        return 0.5 * (1 + math.cos(math.pi * min(step - warmup, total - warmup) / max(1, total - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
