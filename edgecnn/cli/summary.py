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

    MODEL is a zoo name or an edgecnn checkpoint. Totals give the exact
    parameter count; mult-adds count convolutions and FC layers at batch 1.
    """
    from ..summary import format_summary, summarize
    from ..zoo import create_model

    loaded = create_model(model, weights=weights, num_classes=num_classes, input_size=input_size)
    shape = (1, *loaded.input_size)
    result = summarize(loaded.model, [shape] * loaded.spec.num_inputs, name=loaded.spec.name)
    click.echo(format_summary(result))
    if json_out:
        from ..fileio import atomic_path

        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=1))
