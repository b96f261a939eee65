"""``edgecnn run`` and ``edgecnn report``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .options import force_option


@click.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe value (YAML syntax), e.g. --set data.path=flowers/ --set train.epochs=5. "
                   "Repeatable.")
@click.option("--runs-dir", type=click.Path(file_okay=False), default="runs", show_default=True,
              help="Where runs/<recipe>/<timestamp>/ and the stage cache go.")
@click.option("--device-name", default=None, help="Name of this device in the report (default: the CPU or GPU model).")
@click.option("--force", is_flag=True, help="Ignore the stage cache: run every stage again (and refresh the cache).")
@click.option("--rerun", multiple=True, metavar="STAGE",
              help="Run the stages whose names start with STAGE again even if cached (e.g. --rerun profile for "
                   "fresh timings). Repeatable.")
@click.option("--check", is_flag=True, help="Only validate the recipe and print it resolved; run nothing.")
def run_command(recipe, overrides, runs_dir, device_name, force, rerun, check):
    """Run RECIPE end to end: train -> export -> quantize -> build -> profile -> report.

    \b
    The recipe is validated before any work: an unknown key, a wrong type or a
    precision an engine cannot run is refused with its YAML path. Output:
      runs/<recipe>/<timestamp>/  artifacts/, profiles/, results.json, report.md,
                                  report.html, pareto.png, latency.png, run.log
    Stages are cached by a hash of their settings, inputs and library versions
    (runs/<recipe>/cache): a re-run skips the stages that are already done. A stage
    that fails is reported in one line and the others go on; exit code 1 if any failed.
    An engine that is not available here (TensorRT without an NVIDIA GPU) is reported
    as unavailable and does not fail the run.
    """
    from dataclasses import asdict

    import yaml

    from ..recipe import load_recipe

    resolved = load_recipe(recipe, overrides)
    if check:
        click.echo(yaml.safe_dump(asdict(resolved), sort_keys=False), nl=False)
        click.echo(f"recipe {recipe} is valid", err=True)
        return
    from ..recipe.pipeline import run_recipe

    result = run_recipe(resolved, runs_dir=runs_dir, force=force, rerun=rerun, device=device_name,
                        log=lambda line: click.echo(line, err=True), progress=sys.stderr.isatty())
    counts: dict[str, int] = {}
    for stage in result.stages:
        counts[stage.status] = counts.get(stage.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    click.echo(f"run finished in {result.seconds:.1f} s: {summary}")
    for name in ("results.json", "report.md", "report.html", "pareto.png", "latency.png"):
        if (result.run_dir / name).exists():
            click.echo(f"  {result.run_dir / name}")
    if result.failed:
        raise SystemExit(1)


@click.command("report")
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="report.html (self-contained), or a .md file (plots written beside it).")
@force_option
def report_command(results, output, force):
    """Merge results.json files from several devices into one report.

    \b
    edgecnn report laptop/results.json jetson/results.json pi/results.json -o report.html
    Rows are keyed by device (the --device-name given to 'edgecnn run'; files from
    devices with the same name get their file name added).
    """
    from ..fileio import check_output_path
    from ..report.render import render_markdown, write_html_report, write_plots
    from ..report.results import load_results, merge_results

    loaded = [load_results(p) for p in results]
    check_output_path(output, force)
    merged = merge_results(loaded, names=[Path(p).parent.name or Path(p).stem for p in results])
    out = Path(output)
    if out.suffix.lower() == ".md":
        images = write_plots(merged, out.parent)
        out.write_text(render_markdown(merged, {k: v.name for k, v in images.items()}))
    else:
        write_html_report(merged, out)
    devices = merged["devices"]
    click.echo(f"{out}: {len(merged['rows'])} rows from {len(devices)} device(s): {', '.join(devices)}")
