"""The options of training, declared once (see :mod:`edgecnn.core.options`): ``edgecnn train``'s flags
and a recipe's ``train:`` keys. Kept apart from :mod:`edgecnn.train` so that reading them needs no PyTorch."""

from __future__ import annotations

from dataclasses import dataclass

from .core.options import OptionError, check_options, opt

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "onecycle")
DEFAULT_LR = {"sgd": 0.05, "adamw": 1e-3}
DEFAULT_WD = {"sgd": 5e-4, "adamw": 0.05}


def freeze_problem(value) -> str | None:
    text = str(value).lower()
    if text in ("none", "head-only") or text.isdigit():
        return None
    return f"must be none, head-only or a number of stages to freeze (0, 1, 2, ...), got {value!r}"


@dataclass
class TrainOptions:
    """How to train: declared once for ``edgecnn train``'s flags and a recipe's ``train:`` keys."""

    epochs: int = opt(10, "Epochs of the first phase (with freeze applied).", min=0)
    img_size: int | None = opt(None, "Input side (default: the model's own).", min=8)
    batch_size: int = opt(32, "Images per step (per process under DDP).", min=1)
    lr: float | None = opt(None, "Peak learning rate (default 0.05 for sgd, 1e-3 for adamw).", min=0.0,
                           min_open=True)
    optimizer: str = opt("sgd", "Momentum SGD (Nesterov) or AdamW.", choices=OPTIMIZERS)
    schedule: str = opt("onecycle", "One-cycle (warm-up then cosine decay) or cosine decay.", choices=SCHEDULES)
    warmup_epochs: float = opt(0.0, "Cosine schedule: linear warm-up over this many epochs first.", min=0.0)
    weight_decay: float | None = opt(None, "Weight decay (default 5e-4 for sgd, 0.05 for adamw).", min=0.0)
    momentum: float = opt(0.9, "SGD momentum.", min=0.0, max=1.0, max_open=True)
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
        self.lr = DEFAULT_LR[self.optimizer] if self.lr is None else self.lr
        self.weight_decay = DEFAULT_WD[self.optimizer] if self.weight_decay is None else self.weight_decay
        self.finetune_lr = self.lr / 10 if self.finetune_lr is None else self.finetune_lr
