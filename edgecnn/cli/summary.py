"""``edgecnn summary``: per-layer table and exact totals."""

from __future__ import annotations

import json

import click

from .options import input_size_option, num_classes_option, weights_option


@click.command("summary")
@click.argument("model")
@input_size_option
@num_classes_option
@weights_option
@click.option("--json", "json_out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Also write the summary as JSON to this file.")
def summary_command(model: str, input_size, num_classes, weights, json_out) -> None:
    """Print MODEL's layers: type, output shape, parameters, mult-adds and activation memory.

    MODEL is a zoo name, an edgecnn checkpoint, or any .onnx file. Totals give the
    exact parameter count; mult-adds count convolutions and FC layers at batch 1.
    For GoogLeNet and Inception v3 the count with the training-only auxiliary heads
    and the count of the inference model are both given. An ONNX file is read from
    its graph (per node: op, output shape, parameters, mult-adds, counted by onnx-tool).
    """
    from ..summary import format_summary, summarize

    if model.lower().endswith(".onnx"):
        from ..errors import UsageError
        from ..onnx_summary import summarize_onnx

        if input_size or num_classes or weights:
            raise UsageError("--input-size, --num-classes and --weights apply to zoo models and checkpoints; an "
                             "ONNX file is summarised as it is")
        result = summarize_onnx(model)
    else:
        from ..zoo import create_model

        loaded = create_model(model, weights=weights, num_classes=num_classes, input_size=input_size)
        shape = (1, *loaded.input_size)
        result = summarize(loaded.model, [shape] * loaded.spec.num_inputs, name=loaded.spec.name)
    click.echo(format_summary(result))
    if json_out:
        from ..fileio import atomic_path

        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=1))
