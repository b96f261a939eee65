"""The options of training, declared once (see :mod:`edgecnn.core.options`): ``edgecnn train``'s flags
and a recipe's ``train:`` keys. Kept apart from :mod:`edgecnn.train` so that reading them needs no PyTorch.

What a kind of training takes of them, and its defaults, is a :class:`TrainingMode`: each task's is part of its
registry entry (``edgecnn.tasks.registry``, :attr:`Task.training`), QAT's is :data:`QAT` here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from .core.options import OptionError, _default_of, check_options, opt, same_as
from .core.split import SplitOptions

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle")


@dataclass(frozen=True)
class TrainingMode:
    """What one kind of training takes of :class:`TrainOptions`, and its defaults where the kinds differ. An option
    a mode does not take is refused when it is given, never dropped."""

    name: str
    words: str  # how messages name it
    takes: frozenset[str]
    optimizer: str
    lr: dict[str, float]  # by optimizer
    weight_decay: dict[str, float]  # by optimizer
    schedule: str
    onecycle_warmup: float = 0.25  # the one-cycle schedule's warm-up share of the steps

    def defaults(self) -> str:
        """Its defaults in words (``edgecnn train --help`` lists every mode's)."""

        def by_optimizer(table: dict[str, float]) -> str:
            return " / ".join(f"{o} {table[o]:g}" for o in OPTIMIZERS)

        return (f"{self.optimizer}; lr {by_optimizer(self.lr)}; weight decay {by_optimizer(self.weight_decay)}; "
                f"{self.schedule} schedule")


EVERY_OPTION = frozenset(("epochs", "img_size", "batch_size", "lr", "optimizer", "schedule", "warmup_epochs",
                          "weight_decay", "momentum", "bn_momentum", "label_smoothing", "freeze", "finetune_epochs",
                          "finetune_lr", "augment", "workers"))
CLASSIFIER_ONLY = frozenset(("bn_momentum", "label_smoothing", "freeze", "finetune_epochs", "finetune_lr"))
# fine-tunes a trained checkpoint at its own input size with BatchNorm frozen, plain cross-entropy; rates QAT
# fine-tunes at: sgd 1e-3 first lost 24 points on EfficientNet-B0
QAT = TrainingMode("qat", "QAT (--qat)", EVERY_OPTION - CLASSIFIER_ONLY - {"img_size"}, "sgd",
                   {"sgd": 1e-4, "adamw": 2e-5}, {"sgd": 0.0, "adamw": 0.0}, "cosine")


def freeze_problem(value) -> str | None:
    text = str(value).lower()
    if text in ("none", "head-only") or text.isdigit():
        return None
    return f"must be none, head-only or a number of stages to freeze (0, 1, 2, ...), got {value!r}"


_BY_MODE = "the task's own, or QAT's: 'edgecnn train --help' lists them"


@dataclass
class TrainOptions:
    """How to train: declared once for ``edgecnn train``'s flags and a recipe's ``train:`` keys."""

    epochs: int = opt(10, "Epochs of the first phase (with freeze applied).", min=0)
    img_size: int | None = opt(None, "Input side (default: the model's own).", min=8)
    batch_size: int = opt(32, "Images per step (per process under DDP).", min=1)
    lr: float | None = opt(None, f"Peak learning rate (default: {_BY_MODE}, by optimizer).", min=0.0, min_open=True)
    optimizer: str | None = opt(None, f"Momentum SGD (Nesterov) or AdamW (default: {_BY_MODE}).", choices=OPTIMIZERS)
    schedule: str | None = opt(None, f"One-cycle (warm-up then cosine decay) or cosine decay (default: {_BY_MODE}).",
                               choices=SCHEDULES)
    warmup_epochs: float = opt(0.0, "Cosine schedule: linear warm-up over this many epochs first.", min=0.0)
    weight_decay: float | None = opt(None, f"Weight decay (default: {_BY_MODE}, by optimizer).", min=0.0)
    momentum: float = opt(0.9, "SGD momentum (sgd only).", min=0.0, max=1.0, max_open=True)
    bn_momentum: float | None = opt(None, "Override every BatchNorm layer's running-statistics momentum (PyTorch's "
                                           "convention: weight of the new batch; torchvision's MobileNetV3 and "
                                           "EfficientNet use 0.01, which lags in short runs). Default: the model's own.",
                                    min=0.0, max=1.0, min_open=True)
    label_smoothing: float = opt(0.1, "Label smoothing of the cross-entropy loss.", min=0.0, max=1.0, max_open=True)
    freeze: str = opt("none", "Freeze nothing, everything but the head, or the first N stages.",
                      check=freeze_problem, metavar="none|head-only|N")
    finetune_epochs: int = opt(0, "Second phase: unfreeze everything and train this many more epochs.", min=0)
    finetune_lr: float | None = opt(None, "Learning rate of the fine-tune phase (default lr/10).", min=0.0,
                                    min_open=True)
    augment: bool = opt(True, "Random resized crop and horizontal flip.", flag="--augment/--no-augment")
    workers: int = opt(2, "Data loading processes.", min=0)

    def __post_init__(self) -> None:
        check_options(self)
        if self.epochs + self.finetune_epochs < 1:
            raise OptionError("epochs", f"plus finetune_epochs must be at least 1, got {self.epochs} + "
                                        f"{self.finetune_epochs}", type(self))
        self.freeze = str(self.freeze).lower()

    @classmethod
    def of(cls, options: "TrainOptions") -> "TrainOptions":
        """Only the training options of ``options`` (a subclass such as a recipe's train section)."""
        return cls(**{f.name: getattr(options, f.name) for f in fields(TrainOptions)})

    def given(self) -> list[str]:
        """The training options set to something other than their declared default."""
        return [f.name for f in fields(TrainOptions) if getattr(self, f.name) != _default_of(f)]

    def for_mode(self, mode: TrainingMode, what: str = "") -> "TrainOptions":
        """A copy with the defaults of ``mode`` (a task's :attr:`~edgecnn.tasks.registry.Task.training`, or
        :data:`QAT`) filled in; an option given that ``mode`` does not use is refused (``what``: the model, for the
        message)."""
        spec = mode
        owner = type(self)
        subject = f"{spec.words}{f' ({what})' if what else ''}"
        for name in self.given():
            if name not in spec.takes:
                raise OptionError(name, f"is not used by {subject}: drop it", owner)
        if spec is QAT and self.epochs < 1:
            raise OptionError("epochs", f"must be at least 1 for {subject}, got {self.epochs}", owner)
        optimizer = self.optimizer or spec.optimizer
        schedule = self.schedule or spec.schedule
        if optimizer != "sgd" and self.momentum != _default_of(_field("momentum")):
            raise OptionError("momentum", f"is SGD's; {optimizer} has none: drop it or use optimizer sgd", owner)
        if schedule == "onecycle" and self.warmup_epochs:
            raise OptionError("warmup_epochs", "is the cosine schedule's warm-up (one-cycle warms up by itself): "
                                               "drop it or use schedule cosine", owner)
        if self.finetune_lr is not None and not self.finetune_epochs:
            raise OptionError("finetune_lr", "is the fine-tune phase's rate: set finetune_epochs too", owner)
        lr = spec.lr[optimizer] if self.lr is None else self.lr
        return replace(self, optimizer=optimizer, schedule=schedule, lr=lr,
                       weight_decay=spec.weight_decay[optimizer] if self.weight_decay is None else self.weight_decay,
                       finetune_lr=(lr / 10 if self.finetune_lr is None else self.finetune_lr)
                       if self.finetune_epochs else None)

    def describe(self, mode: TrainingMode) -> str:
        """The optimisation settings a run of ``mode`` uses, for the first line of its log (after :meth:`for_mode`)."""
        spec = mode
        parts = [f"{self.optimizer} lr {self.lr:g}", f"weight decay {self.weight_decay:g}"]
        if self.optimizer == "sgd":
            parts.append(f"momentum {self.momentum:g}")
        parts.append(f"{self.schedule} schedule" + (f" ({self.warmup_epochs:g} warm-up epochs)"
                                                     if self.warmup_epochs else ""))
        if "finetune_epochs" in spec.takes and self.finetune_epochs:
            parts.append(f"fine-tune lr {self.finetune_lr:g}")
        return ", ".join(parts)


@dataclass(kw_only=True)
class TrainConfig(TrainOptions):
    """A training run: the model, the data, where checkpoints go, and the options (what every task's trainer
    takes, :attr:`edgecnn.tasks.registry.Task.trainer`)."""

    model: str
    data: str
    output: str
    val: str | None = None
    val_split: float = same_as(SplitOptions, "val_split")
    weights: str | None = None
    seed: int = 0
    synthetic_size: int | None = None  # images in synthetic:shapes (default 1200)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def _field(name: str):
    return next(f for f in fields(TrainOptions) if f.name == name)

