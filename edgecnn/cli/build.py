"""``edgecnn build`` and ``edgecnn check``: TensorRT engines from ONNX."""

from __future__ import annotations

import click

from .options import force_option


@click.command("check")
@click.argument("model", type=click.Path(dir_okay=False, exists=True))
@click.option("--engine", type=click.Choice(["trt"]), default="trt", show_default=True)
def check_command(model, engine):
    """Without a GPU: what in MODEL.onnx TensorRT will not take.

    Ops its ONNX parser does not support, dynamic dimensions that need an
    optimization profile, and Q/DQ patterns it cannot use (UINT8 zero points,
    per-channel axes, dangling QuantizeLinear). Exit code 1 when something blocks a build.
    """
    from ..core.onnx_io import load_onnx
    from ..engines.trt_plan import check_onnx

    result = check_onnx(load_onnx(model, external_data=False))
    for line in result.lines():
        click.echo(line)
    verdict = "TensorRT can build this model" if result.ok else "TensorRT cannot build this model as it is"
    click.echo(f"{verdict} ({'QDQ INT8' if result.is_qdq else 'float'} graph)")
    if not result.ok:
        raise SystemExit(1)


@click.command("build")
@click.argument("model", type=click.Path(dir_okay=False, exists=True))
@click.option("--engine", type=click.Choice(["trt"]), default="trt", show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp16", show_default=True)
@click.option("--batch", default="1", show_default=True, metavar="N|MIN:OPT:MAX",
              help="Fixed batch, or an optimization profile for a dynamic-batch model.")
@click.option("--workspace", type=click.IntRange(min=16), default=1024, show_default=True, help="MiB.")
@click.option("--timing-cache", type=click.Path(dir_okay=False), default=None,
              help="Read and update this TensorRT timing cache (faster rebuilds).")
@click.option("--calib-table", type=click.Path(dir_okay=False, exists=True), default=None,
              help="INT8 calibration table for a float model (edgecnn quantize --trt-table).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .engine file.")
@force_option
def build_command(model, engine, precision, batch, workspace, timing_cache, calib_table, output, force):
    """Build a TensorRT engine (serialized plan + JSON sidecar) from MODEL.onnx.

    Everything decidable without a GPU is checked first (profiles, precision,
    Q/DQ placement); then TensorRT and a GPU are required.
    """
    from ..core.onnx_io import load_onnx
    from ..engines.trt_engine import build_engine, require_tensorrt
    from ..engines.trt_plan import check_onnx, graph_inputs, parse_batch_spec, precision_flags, shape_profiles
    from ..fileio import check_output_path

    spec = parse_batch_spec(batch)
    graph = load_onnx(model, external_data=False)
    precision_flags(precision, check_onnx(graph), calib_table)
    shape_profiles(graph_inputs(graph), spec)
    check_output_path(output, force)
    require_tensorrt()
    sidecar = build_engine(model, output, precision=precision, batch=spec, workspace_mb=workspace,
                           timing_cache=timing_cache, calibration_table=calib_table, force=force,
                           log=lambda line: click.echo(line, err=True))
    click.echo(f"engine: {output} (TensorRT {sidecar['tensorrt']}, {sidecar['gpu']}, {precision}, "
               f"built in {sidecar['build_seconds']:.1f} s)")
