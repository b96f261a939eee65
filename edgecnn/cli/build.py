"""``edgecnn build`` and ``edgecnn check``: TensorRT engines from ONNX; what XNNPACK takes of a .pte / .tflite."""

from __future__ import annotations

import click

from ..core.options import LiveChoice
from ..engines.registry import builders, default_engine, delegating_engines, get_engine
from ..errors import UsageError
from .options import force_option

# the engines whose artifact is built from an ONNX (the registry's builders: TensorRT)
engine_option = click.option("--engine", type=LiveChoice(builders), default=builders()[0], show_default=True)


trt_version_option = click.option(
    "--trt-version", type=click.Choice(["10", "11"]), default=None,
    help="Plan for this TensorRT major version (default: the installed one, else 11; Jetson/JetPack is on 10).")


def _trt_major(choice: str | None) -> int:
    from ..engines.trt_plan import DEFAULT_TRT_MAJOR, installed_trt_major

    return int(choice) if choice else (installed_trt_major() or DEFAULT_TRT_MAJOR)


def _checked_engines() -> tuple[str, ...]:
    return builders() + delegating_engines()


@click.command("check")
@click.argument("model", type=click.Path(dir_okay=False, exists=True))
@click.option("--engine", type=LiveChoice(_checked_engines), default=None,
              help="TensorRT for an ONNX file (default); ExecuTorch / LiteRT for a .pte / .tflite (their default).")
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default=None,
              help="Also plan the build of this precision (default: what the ONNX holds).")
@click.option("--batch", default="1", show_default=True, metavar="N|MIN:OPT:MAX", help="Batch or profile to plan.")
@click.option("--calib-table", type=click.Path(dir_okay=False), default=None,
              help="A TensorRT calibration table for a float model (TensorRT 10 only).")
@trt_version_option
def check_command(model, engine, precision, batch, calib_table, trt_version):
    """Without a GPU: what in MODEL.onnx TensorRT will not take, and how it would be built;
    for a .pte or .tflite, which operators XNNPACK runs and which fall back.

    Ops its ONNX parser does not support, dynamic dimensions that need an optimization
    profile, Q/DQ patterns it cannot use (UINT8 zero points, per-channel axes, dangling
    QuantizeLinear), then the build plan for the TensorRT version: network typing, which
    ONNX is parsed, flags, profiles. TensorRT 11 builds strongly typed networks only (no
    precision flags, no calibration tables): FP16 comes from an FP16 ONNX, INT8 from a QDQ
    ONNX. Exit code 1 when something blocks a build.

    \b
    edgecnn check m.pte        ExecuTorch's delegation report (written at export)
    edgecnn check m.tflite     LiteRT's, read from the interpreter's XNNPACK partitions
    Fall-backs run on the runtime's reference kernels: the usual reason a mobile model is slow.
    """
    if engine is None:
        kind_engine = default_engine(model) if not model.lower().endswith(".onnx") else None
        if kind_engine is not None and kind_engine not in delegating_engines() + builders():
            raise UsageError(f"{model} runs on {get_engine(kind_engine).title}, which has no delegate to report on "
                             "(every layer runs on its own CPU kernels); 'edgecnn profile' times it")
        engine = kind_engine if kind_engine in delegating_engines() else builders()[0]
    if engine in delegating_engines():
        report = get_engine(engine).delegation(model)
        for line in report.lines():
            click.echo(line)
        return
    from ..core.onnx_io import load_onnx
    from ..engines.trt_plan import build_plan, onnx_holds, parse_batch_spec

    graph = load_onnx(model, external_data=False)
    major = _trt_major(trt_version)
    plan = build_plan(graph, precision or onnx_holds(graph), major, calibration_table=calib_table,
                      batch=parse_batch_spec(batch))
    for line in plan.lines():
        click.echo(line)
    result = plan.check
    verdict = f"TensorRT {major} can build this model" if result.ok else \
        f"TensorRT {major} cannot build this model as it is"
    click.echo(f"{verdict} ({'QDQ INT8' if result.is_qdq else 'float'} graph)")
    if not result.ok:
        raise SystemExit(1)


@click.command("build")
@click.argument("model", type=click.Path(dir_okay=False, exists=True))
@engine_option
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default=None,
              help="Default: what the ONNX holds (TensorRT 11 builds that; TensorRT 10 can lower an FP32 ONNX to "
                   "fp16/int8 with builder flags).")
@click.option("--batch", default="1", show_default=True, metavar="N|MIN:OPT:MAX",
              help="Fixed batch, or an optimization profile for a dynamic-batch model.")
@click.option("--workspace", type=click.IntRange(min=16), default=1024, show_default=True, help="MiB.")
@click.option("--timing-cache", type=click.Path(dir_okay=False), default=None,
              help="Read and update this TensorRT timing cache (faster rebuilds).")
@click.option("--calib-table", type=click.Path(dir_okay=False, exists=True), default=None,
              help="INT8 calibration table for a float model (edgecnn quantize --trt-table).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .engine file.")
@trt_version_option
@force_option
def build_command(model, engine, precision, batch, workspace, timing_cache, calib_table, output, trt_version, force):
    """Build a TensorRT engine (serialized plan + JSON sidecar) from MODEL.onnx.

    Everything decidable without a GPU is checked first (profiles, precision,
    Q/DQ placement); then TensorRT and a GPU are required.
    """
    from ..core.onnx_io import load_onnx
    from ..engines.trt_engine import build_engine, require_tensorrt
    from ..engines.trt_plan import build_plan, onnx_holds, parse_batch_spec
    from ..fileio import check_output_path

    spec = parse_batch_spec(batch)
    graph = load_onnx(model, external_data=False)
    precision = precision or onnx_holds(graph)
    build_plan(graph, precision, _trt_major(trt_version), calibration_table=calib_table, batch=spec)  # before a GPU
    check_output_path(output, force)
    require_tensorrt()  # the build then follows the plan of the installed TensorRT
    sidecar = build_engine(model, output, precision=precision, batch=spec, workspace_mb=workspace,
                           timing_cache=timing_cache, calibration_table=calib_table, force=force,
                           log=lambda line: click.echo(line, err=True))
    click.echo(f"engine: {output} (TensorRT {sidecar['tensorrt']}, {sidecar['gpu']}, {precision}, "
               f"built in {sidecar['build_seconds']:.1f} s)")
