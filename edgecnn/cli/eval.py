"""``edgecnn eval``: accuracy of a checkpoint or ONNX model on labelled images."""

from __future__ import annotations

import json

import click

from .options import json_option


@click.command("eval")
@click.argument("model")
@click.option("--data", required=True, metavar="DIR|synthetic:shapes", help="Labelled images (ImageFolder layout).")
@click.option("--split", type=click.Choice(["all", "val", "train"]), default="all", show_default=True,
              help="Evaluate all images, or one side of the same stratified split as 'train'.")
@click.option("--val-split", type=float, default=0.2, show_default=True)
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
    from ..core.paired import describe, paired_difference
    from ..data.datasets import load_images, stratified_split
    from ..engines import load_runner
    from ..evaluate import agreement, evaluate, format_eval
    from ..fileio import atomic_path

    runner = load_runner(model, threads=threads)
    if runner.info.task == "segmentation":
        _segmentation(runner, data, split, val_split, seed, json_out)
        return
    if runner.info.task == "similarity":
        _similarity(runner, model, data, split, val_split, seed, json_out)
        return
    images = load_images(data, image_size=runner.info.preprocess.resize, seed=seed, progress=True)
    if images.skipped_message():
        click.echo(images.skipped_message(), err=True)
    if split != "all":
        train_idx, val_idx = stratified_split(images.labels, val_split, seed)
        images = images.subset(val_idx if split == "val" else train_idx)
    result = evaluate(runner, images, batch_size=batch_size, progress=True)
    click.echo(format_eval(result))
    payload = {"result": result.to_dict()}
    if other:
        other_result = evaluate(load_runner(other, threads=threads), images, batch_size=batch_size, progress=True)
        agree = agreement(result, other_result)
        click.echo(f"\ncompared with {other}: top-1 {100 * other_result.top1:.2f}%; the two agree on "
                   f"{100 * agree:.2f}% of {result.images} images")
        difference = paired_difference(result.correct, other_result.correct)
        click.echo(describe(difference, "MODEL", "OTHER"))
        payload.update(compare=other_result.to_dict(), agreement=agree, difference=difference)
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(payload, indent=1))


def _segmentation(runner, data, split, val_split, seed, json_out) -> None:
    from ..data.segmentation import load_masked, split_masked
    from ..evaluate import evaluate_segmentation, format_segmentation
    from ..fileio import atomic_path

    masked = load_masked(data, image_size=runner.info.input_size[1], classes=list(runner.info.labels) or None,
                         seed=seed)
    if split != "all":
        masked = split_masked(masked, val_split, seed)[1 if split == "val" else 0]
    with runner:
        result = evaluate_segmentation(runner, masked, progress=True)
    click.echo(format_segmentation(result))
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps({"result": result}, indent=1))


def _similarity(runner, model, data, split, val_split, seed, json_out) -> None:
    from ..data.datasets import load_images, stratified_split
    from ..evaluate import evaluate_similarity
    from ..fileio import atomic_path

    images = load_images(data, image_size=runner.info.preprocess.resize, seed=seed)
    if split != "all":
        train_idx, val_idx = stratified_split(images.labels, val_split, seed)
        images = images.subset(val_idx if split == "val" else train_idx)
    threshold = None
    if model.endswith((".pt", ".pth")):
        from ..zoo.weights import read_weights

        threshold = read_weights(model).checkpoint.get("threshold")
    result = evaluate_similarity(runner, images, threshold=threshold)
    click.echo(f"{result['model']} on {result['engine']}: {result['pairs']} pairs of {result['images']} images "
               f"({result['same_pairs']} same, {result['different_pairs']} different): verification accuracy "
               f"{100 * result['accuracy']:.2f}% at threshold {result['threshold']:.4f}, ROC-AUC "
               f"{result['roc_auc']:.4f}, TAR {100 * result['tar_at_far']:.1f}% at FAR {result['far']:g}")
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps({"result": result}, indent=1))
