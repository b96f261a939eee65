"""``edgecnn bundle``: the folder to copy onto the device."""

from __future__ import annotations

import click

from ..bundle.options import BundleOptions
from ..core.options import LiveChoice, click_options
from ..engines.registry import device_engines
from .options import force_option


@click.command("bundle")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Bundle folder to write.")
@click.option("--engine", type=LiveChoice(device_engines), default=None,
              help="The engine the bundle runs on the device (its requirements and infer.py's loader come from it); "
                   "default: the one that runs MODEL (ort for .onnx, trt for .engine).")
@click_options(BundleOptions)
@force_option
def bundle_command(model, output, engine, archive, force):
    """Bundle MODEL (.onnx, or a TensorRT .engine) for the device.

    \b
    The folder holds the model, preprocess.json and labels.txt (from the model's
    metadata), a standalone infer.py (numpy + pillow + onnxruntime, no PyTorch, no
    edgecnn) with the device code it imports (edgecnn_device/), requirements.txt, a
    README and manifest.sha256. On the device:
      pip install -r requirements.txt
      python infer.py --verify photos/ --top-k 3
      python infer.py --bench 200
    """
    from ..bundle import build_bundle

    report = build_bundle(model, output, archive=archive, force=force, engine=engine)
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    shown = dict.fromkeys(name.split("/")[0] + ("/" if "/" in name else "") for name in report.files)  # a folder once
    click.echo(f"bundle: {report.folder}/ ({len(report.files) + 1} files: {', '.join(shown)}, manifest.sha256)")
    if report.archive:
        click.echo(f"archive: {report.archive} ({report.archive.stat().st_size / 2**20:.2f} MiB)")
    click.echo(f"try:    python {report.folder}/infer.py --verify IMAGES...")
