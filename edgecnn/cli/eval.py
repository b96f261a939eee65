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
    from ..engines import load_runner
    from ..fileio import atomic_path
    from ..tasks.data import sizes_of
    from ..tasks.registry import task_of

    runner = load_runner(model, threads=threads)
    task = task_of(runner.info.task)  # what it reads, how its split is made, what it reports
    dataset = task.function("reader")(data, **sizes_of(runner.info), labels=list(runner.info.labels), seed=seed,
                                      progress=True)
    skipped = getattr(dataset, "skipped_message", lambda: None)()
    if skipped:
        click.echo(skipped, err=True)
    if split != "all":
        dataset = task.function("split")(dataset, val_split, seed)[1 if split == "val" else 0]
    text, payload = task.function("eval_report")(runner, dataset, model=model, batch_size=batch_size, other=other,
                                                 threads=threads, progress=True)
    click.echo(text)
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(payload, indent=1))
