"""``edgecnn device run``: measure on the device itself, over OpenSSH."""

from __future__ import annotations

import click

from ..core.options import click_options, from_kwargs
from ..device.run import DeviceConnection, DeviceOptions
from .options import force_option


@click.group("device")
def device_group():
    """Measure bundles on target devices (Raspberry Pi, Jetson, any host you can ssh to)."""


@device_group.command("run")
@click.argument("artifact", type=click.Path(exists=True))
@click.option("--host", "hosts", multiple=True, required=True, metavar="HOST",
              help="A host as you would give it to ssh (an alias from ~/.ssh/config works), or 'local'. Repeatable: "
                   "devices run in parallel, one measurement per device at a time.")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="Labelled images (class folders named like the model's labels): top-1/top-5 on the device.")
@click_options(DeviceConnection)
@click.option("--device-name", "device_names", multiple=True, metavar="HOST=NAME",
              help="A device's name in reports (default: its CPU or board). Repeatable.")
@click_options(DeviceOptions, skip=("scenarios", "streams"))  # infer.py measures single-stream
@click.option("-o", "--output", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for the results files (device-HOST.json).")
@force_option
def device_run_command(artifact, hosts, data, python, ssh_config, device_names, output, force, **option_values):
    """Measure ARTIFACT (a bundle folder, or a .onnx model, bundled first) on each --host.

    \b
    edgecnn device run flowers-int8/ --host pi5 --host orin --data photos/ --setup
    edgecnn device run model.onnx --host local --python "/srv/arm64/qemu-aarch64 -L /srv/arm64 /srv/arm64/usr/bin/python3"
    Each device gets a fresh temporary folder with the bundle and the images, runs
    infer.py --profile (latency, memory, accuracy, environment; edgecnn's own code,
    shipped in the bundle) and is cleaned up, also on failure and Ctrl-C. The results
    files merge with host results: edgecnn report host.json device-pi5.json -o report.html
    """
    from ..device.session import device_run

    options = from_kwargs(DeviceOptions, option_values)
    names = {}
    for item in device_names:
        host, _, name = item.partition("=")
        if not name:
            raise click.BadParameter(f"expected HOST=NAME, got {item!r}", param_hint="--device-name")
        names[host] = name
    outcome = device_run(artifact, list(hosts), data=data, python=python, ssh_config=ssh_config, options=options,
                         device_names=names, output=output, force=force, log=lambda line: click.echo(line, err=True))
    for line in outcome.lines:
        click.echo(line)
    if outcome.failed:
        raise SystemExit(1)
