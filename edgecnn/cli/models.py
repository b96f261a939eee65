"""``edgecnn models``: list the registry."""

from __future__ import annotations

import click


@click.command("models")
@click.argument("pattern", required=False)
def models_command(pattern: str | None) -> None:
    """List the architectures in the zoo, optionally filtered by a shell PATTERN ('resnet*').

    Besides the names listed, 'timm:NAME' builds any timm model (pip install
    'edgecnn[timm]') and 'siamese:NAME' a Siamese network over any zoo backbone.
    """
    from tabulate import tabulate

    from ..errors import UsageError
    from ..zoo import get_spec, list_models

    names = list_models(pattern)
    if not names:
        raise UsageError(f"no model matches {pattern!r}; run 'edgecnn models' to list them all")
    rows = []
    for name in names:
        spec = get_spec(name)
        c, h, w = spec.input_size
        rows.append([name, spec.source, spec.task, f"{c}x{h}x{w}", spec.description])
    click.echo(tabulate(rows, headers=["model", "source", "task", "input", "description"], disable_numparse=True))
    click.echo(f"\n{len(names)} models; also timm:NAME (any timm model) and siamese:BACKBONE")
