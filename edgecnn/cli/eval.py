"""``edgecnn eval``: accuracy of a checkpoint or ONNX model on labelled images."""

from __future__ import annotations

import json

import click

from ..core.options import click_options
from ..core.split import SplitOptions
from .options import json_option


@click.command("eval")
@click.argument("model")
@click.option("--data", required=True, metavar="DIR|synthetic:shapes", help="Labelled images (ImageFolder layout).")
@click.option("--split", type=click.Choice(["all", "val", "train"]), default="all", show_default=True,
              help="Evaluate all images, or one side of the same stratified split as 'train'.")
@click_options(SplitOptions)
@click.option("--seed", type=int, default=0, show_default=True, help="Split seed (as given to train).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Inference threads.")
@click.option("--compare", "other", default=None, metavar="OTHER",
              help="Also run OTHER (checkpoint or .onnx) on the same images: top-1 agreement, and OTHER's top-1 "
                   "difference with its paired 95 % interval and McNemar test (is it more than noise?).")
@json_option
def eval_command(model, data, split, val_split, seed, batch_size, threads, other, json_out):
    """Top-1, top-5, per-class accuracy and confusion matrix of MODEL (checkpoint or .onnx); for a segmentation
    model (U-Net), pixel accuracy, IoU and Dice per class and mean IoU on whole images (--data: image/ + label/
    folders, or synthetic:shapes-seg); for a Siamese model, verification accuracy at its threshold, ROC-AUC and
    TAR at FAR 1e-2 on same/different pairs drawn from --data."""
    from ..evaluate import evaluate_model
    from ..fileio import atomic_path

    evaluation = evaluate_model(model, data, split=split, val_split=val_split, seed=seed, batch_size=batch_size,
                                threads=threads, other=other, progress=True)
    if evaluation.skipped:
        click.echo(evaluation.skipped, err=True)
    click.echo(evaluation.text)
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(evaluation.payload, indent=1))
