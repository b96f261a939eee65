"""``edgecnn train``: train or fine-tune a zoo architecture on images."""

from __future__ import annotations

import click

from ..core.options import click_options, from_kwargs
from ..core.split import SplitOptions
from ..tasks.registry import training_modes
from ..train_options import TrainOptions


def _defaults() -> str:
    """The defaults of every kind of training, for the command's help (each task's and QAT's)."""
    return "\b\nDefaults by task (and QAT), where they differ:\n" + "\n".join(
        f"  {name}: {mode.defaults()}" for name, mode in training_modes().items())


@click.command("train", epilog=_defaults())
@click.argument("model")
@click.option("--data", required=True, metavar="DIR|synthetic:shapes",
              help="ImageFolder directory (one sub-folder per class) or synthetic:shapes[:N].")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Run directory for checkpoints.")
@click.option("--val", default=None, metavar="DIR", help="Separate validation directory (default: split --data).")
@click_options(SplitOptions)
@click_options(TrainOptions)
@click.option("--weights", default=None, metavar="FILE|imagenet", help="Start from these weights (head replaced).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, the shuffling and the augmentation.")
@click.option("--resume", is_flag=True, help="Continue the run in --output from its last checkpoint.")
@click.option("--force", is_flag=True, help="Start over in an --output that already holds a run.")
@click.option("--qat", is_flag=True,
              help="Quantization-aware training: MODEL is a trained checkpoint; fine-tune it --epochs with INT8 "
                   "simulated as it is exported (per-channel INT8 weights with BatchNorm folded, UINT8 activations), "
                   "then write qat.pt, model_qat_int8.onnx (Q/DQ, calibrated like any INT8 model) and qat.json to "
                   "--output. Default --lr: 1e-4 (sgd), 2e-5 (adamw); cosine schedule.")
def train_command(model, data, output, val, val_split, weights, seed, resume, force, qat, **option_values):
    """Train MODEL on --data, writing best.pt / last.pt / history.json to --output.

    \b
    Transfer learning: --weights FILE --freeze head-only --epochs 5 --finetune-epochs 10
    From scratch:      --epochs 30
    Multi-process:     torchrun --nproc_per_node 2 -m edgecnn train ...
    QAT:               edgecnn train run/best.pt --qat --epochs 3 --data DIR -o qat/
    """
    if qat:
        _qat(model, data, output, val, val_split, weights, seed, resume, force, option_values)
        return
    from ..train import train_model

    result = train_model(model, data, output, val=val, val_split=val_split, weights=weights, seed=seed,
                         resume=resume, force=force, options=from_kwargs(TrainOptions, option_values),
                         log=lambda line: click.echo(line, err=True))
    summary = result.summary()
    if summary:
        click.echo(summary)


def _qat(checkpoint, data, output, val, val_split, weights, seed, resume, force, option_values) -> None:
    from ..errors import UsageError
    from ..quantize.qat import qat_finetune

    if weights or resume:
        raise UsageError("--qat starts from the checkpoint given as MODEL; drop " + ("--weights" if weights else "--resume"))
    report = qat_finetune(checkpoint, data, output, options=from_kwargs(TrainOptions, option_values), val=val,
                          val_split=val_split, seed=seed, force=force, log=lambda line: click.echo(line, err=True))
    click.echo(f"QAT: float top-1 {100 * report.float_top1:.2f}%, INT8 simulated {100 * report.simulated_top1_before:.2f}% "
               f"before and {100 * report.simulated_top1[-1]:.2f}% after {report.epochs} epochs; {report.onnx} "
               f"(agreement with the QAT float model: cosine {report.quantize['agreement']['cosine']:.4f}); "
               f"{report.seconds:.0f} s")
