"""``edgecnn train``: train or fine-tune a zoo architecture on images."""

from __future__ import annotations

import click

from ..train import OPTIMIZERS, SCHEDULES


@click.command("train")
@click.argument("model")
@click.option("--data", required=True, metavar="DIR|synthetic:shapes",
              help="ImageFolder directory (one sub-folder per class) or synthetic:shapes[:N].")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Run directory for checkpoints.")
@click.option("--val", default=None, metavar="DIR", help="Separate validation directory (default: split --data).")
@click.option("--val-split", type=float, default=0.2, show_default=True, help="Stratified validation fraction.")
@click.option("--epochs", type=click.IntRange(min=0), default=10, show_default=True,
              help="Epochs of the first phase (with --freeze applied).")
@click.option("--img-size", type=click.IntRange(min=8), default=None, help="Input side (default: the model's own).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Per process.")
@click.option("--lr", type=float, default=None, help="Peak learning rate (default 0.05 for sgd, 1e-3 for adamw).")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True,
              help="Momentum SGD (Nesterov) or AdamW.")
@click.option("--schedule", type=click.Choice(SCHEDULES), default="onecycle", show_default=True)
@click.option("--weight-decay", type=float, default=None, help="Default 5e-4 for sgd, 0.05 for adamw.")
@click.option("--label-smoothing", type=float, default=0.1, show_default=True)
@click.option("--freeze", default="none", show_default=True, metavar="none|head-only|N",
              help="Freeze nothing, everything but the head, or the first N stages.")
@click.option("--finetune-epochs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Second phase: unfreeze everything and train this many more epochs.")
@click.option("--finetune-lr", type=float, default=None, help="Learning rate of the fine-tune phase (default lr/10).")
@click.option("--weights", default=None, metavar="FILE|imagenet", help="Start from these weights (head replaced).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True, help="Data loading processes.")
@click.option("--no-augment", is_flag=True, help="No random resized crop / flip.")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its last checkpoint.")
@click.option("--force", is_flag=True, help="Start over in an --output that already holds a run.")
def train_command(model, data, output, val, val_split, epochs, img_size, batch_size, lr, optimizer, schedule,
                  weight_decay, label_smoothing, freeze, finetune_epochs, finetune_lr, weights, seed, workers,
                  no_augment, resume, force):
    """Train MODEL on --data, writing best.pt / last.pt / history.json to --output.

    \b
    Transfer learning: --weights FILE --freeze head-only --epochs 5 --finetune-epochs 10
    From scratch:      --epochs 30
    Multi-process:     torchrun --nproc_per_node 2 -m edgecnn train ...
    """
    from ..train import TrainConfig, train

    config = TrainConfig(model=model, data=data, output=output, val=val, val_split=val_split, epochs=epochs,
                         img_size=img_size, batch_size=batch_size, lr=lr, optimizer=optimizer, schedule=schedule,
                         weight_decay=weight_decay, label_smoothing=label_smoothing, freeze=freeze,
                         finetune_epochs=finetune_epochs, finetune_lr=finetune_lr, weights=weights, seed=seed,
                         workers=workers, augment=not no_augment)
    result = train(config, resume=resume, force=force, log=lambda line: click.echo(line, err=True))
    if result.history:
        speeds = sorted(h.images_per_s for h in result.history)
        click.echo(f"best val top-1 {100 * result.best_top1:.2f}% (epoch {result.best_epoch + 1}); "
                   f"training throughput {speeds[len(speeds) // 2]:.1f} images/s (median of epochs); "
                   f"{result.seconds:.1f} s; checkpoints in {result.output}")
