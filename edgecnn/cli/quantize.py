"""``edgecnn quantize``: INT8 static PTQ (QDQ) with calibration, FP16, accuracy-aware fallback."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.core import ParameterSource

from ..core.options import click_options, from_kwargs
from ..core.split import SplitOptions
from ..engines.registry import get_engine
from ..quantize.options import QuantizeOptions
from .options import force_option, json_option


def _floats(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}") from None


def _names(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@click.command("quantize")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .onnx file (.pte with --for executorch, .tflite with --for litert).")
@click.option("--precision", type=click.Choice(["int8", "fp16"]), default="int8", show_default=True)
@click.option("--calib", metavar="DIR|synthetic:shapes", help="Calibration images (INT8): a folder of images, an "
              "ImageFolder dataset or synthetic:shapes.")
@click_options(QuantizeOptions)
@click.option("--val", default=None, metavar="DIR|synthetic:shapes",
              help="Labelled images: report FP32 vs INT8 on the task's metric (top-1; mean IoU on image/ + label/ "
                   "folders for a U-Net; verification accuracy on pairs for a Siamese net) and drive --max-drop. Scored "
                   "whole; only its --val-split validation side when --val-split is given (with --calib-split "
                   "train, calibration takes the other side).")
@click_options(SplitOptions)
@click.option("--mean", default=None, help="Per-channel mean for a model without edgecnn metadata (0.485,0.456,0.406).")
@click.option("--std", default=None, help="Per-channel std for a model without edgecnn metadata.")
@click.option("--input-size", default=None, metavar="H[xW]", help="Input size for a model without metadata.")
@click.option("--trt-table", type=click.Path(dir_okay=False), default=None,
              help="Also write a TensorRT INT8 calibration table from the same statistics.")
@click.option("--layer-error", type=click.Path(dir_okay=False), default=None, metavar="FILE.json",
              help="Per-layer INT8 error (each quantized tensor's SQNR, the drift from FP32, weight error), ranked: "
                   "FILE.json, FILE.png (SQNR along the depth) and the worst layers printed.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="For the speed check.")
@click.option("--no-speed", is_flag=True, help="Skip the FP32 vs INT8 latency check.")
@click.option("--speed-rounds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Alternating rounds (1 s each, own process) of the latency check.")
@json_option
@force_option
def quantize_command(model, output, precision, calib, val, val_split, mean, std, input_size, trt_table, layer_error,
                     threads, no_speed, speed_rounds, json_out, force, **option_values):
    """Quantize MODEL.onnx to INT8 (QDQ) or convert it to FP16; or MODEL (a zoo name or
    checkpoint) to an INT8 .pte / .tflite with --for executorch / litert (PT2E).

    \b
    INT8: edgecnn quantize m.onnx -o m_int8.onnx --calib images/
          edgecnn quantize run/best.pt --for executorch -o m_int8.pte --calib images/
    FP16: edgecnn quantize m.onnx -o m_fp16.onnx --precision fp16
    With an accuracy budget:
          edgecnn quantize m.onnx -o m_int8.onnx --calib data/ --calib-split train \\
              --val data/ --val-split 0.2 --max-drop 0.5
    Calibration reads images through the model's own preprocessing and caches its
    statistics under calib/cache, so another --method does not read the images again.
    """
    from ..fileio import atomic_path
    from ..quantize import quantize_model

    options = from_kwargs(QuantizeOptions, option_values, val_split=val_split) if precision == "int8" else None
    # --val is scored whole unless --val-split is given
    given = click.get_current_context().get_parameter_source("val_split") is not ParameterSource.DEFAULT
    val_split = val_split if given else None
    outcome = quantize_model(model, output, precision=precision, calib=calib, options=options, val=val,
                             val_split=val_split, mean=_floats(mean), std=_floats(std), input_size=input_size,
                             trt_table=trt_table, layer_error=layer_error, speed=not no_speed, threads=threads,
                             speed_rounds=speed_rounds, force=force, log=lambda line: click.echo(line, err=True))
    if outcome.fp16 is not None:
        _print_fp16(outcome.fp16)
    elif outcome.mobile is not None:
        _print_mobile(outcome)
        if outcome.budget is not None:
            _print_budget(outcome.budget)
    else:
        _print_report(outcome.report, trt_table)
        if outcome.budget is not None:
            _print_budget(outcome.budget)
        elif outcome.accuracy is not None:
            _print_accuracy(outcome.accuracy)
        if outcome.layer_error:
            from ..quantize.layer_error import layer_table

            click.echo(f"layers:    worst of {len(outcome.layer_rows)} quantized tensors (all in {outcome.layer_error}, "
                       f"plot {Path(outcome.layer_error).with_suffix('.png')}):")
            click.echo(layer_table(outcome.layer_rows))
        if outcome.latency_ms is not None:
            _print_speed(outcome)
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(outcome.to_dict(), indent=1, default=str))


def _print_mobile(outcome) -> None:
    from ..export.delegation import DelegationReport

    report, v = outcome.mobile, outcome.mobile.verification
    click.echo(f"file:      {report.path} ({report.size_bytes / 2**20:.2f} MiB, int8 {report.format})")
    if v is not None:
        top1 = "n/a" if v.top1_agreement is None else f"{100 * v.top1_agreement:.1f}%"
        click.echo(f"agreement: {v.runtime} INT8 vs PyTorch FP32 on {v.samples} calibration batches: top-1 {top1}, "
                   f"cosine {v.min_cosine:.5f}, max abs error {v.max_abs_error:.3g}")
    if report.delegation:
        click.echo(f"delegated: {DelegationReport.from_dict(report.delegation).summary()}")
    if outcome.accuracy:
        _print_accuracy(outcome.accuracy)


def _print_fp16(result: dict) -> None:
    a = result["agreement"]
    click.echo(f"file:      {result['path']} ({result['size_bytes'] / 2**20:.2f} MiB, "
               f"{result['size_bytes'] / result['fp32_size_bytes']:.2f}x FP32)")
    click.echo(f"verified:  cosine {a['cosine']:.6f}, max abs error {a['max_abs_error']:.3g}, top-1 agreement "
               f"{100 * a.get('top1_agreement', float('nan')):.1f}% on {a['samples']} random inputs")


def _print_report(report, trt_table) -> None:
    a = report.agreement
    click.echo(f"file:      {report.path} ({report.size_bytes / 2**20:.2f} MiB, "
               f"{report.size_bytes / report.fp32_size_bytes:.2f}x FP32)")
    click.echo(f"method:    {report.method}, {report.samples} samples; {report.quantized_nodes} nodes quantized"
               + (f"; left in float: {', '.join(f'{k} x{v}' for k, v in report.float_nodes.items())}"
                  if report.float_nodes else ""))
    if report.minmax_fallback:
        click.echo(f"ranges:    min/max for {len(report.minmax_fallback)} activations too narrow for a histogram "
                   f"(e.g. {report.minmax_fallback[0]}); {report.method} for the rest")
    if a:
        click.echo(f"vs FP32:   top-1 agreement {100 * a.get('top1_agreement', float('nan')):.1f}%, cosine "
                   f"{a['cosine']:.5f} on {a['samples']} calibration inputs")
    for engine, b in report.engine_agreement.items():
        top1 = "" if b.get("top1_agreement") is None else f"top-1 agreement {100 * b['top1_agreement']:.1f}%, "
        click.echo(f"on {engine}: {top1}cosine {b['cosine']:.5f} on {b['samples']} calibration inputs (the file run "
                   f"by {engine} itself)")
    if report.placement_note:
        click.echo(f"placement: {report.placement_note}")
    if trt_table:
        click.echo(f"TensorRT calibration table: {trt_table}")


def _print_accuracy(accuracy: dict) -> None:
    from ..core.paired import describe

    metric, fp32, int8 = accuracy["metric"], accuracy["fp32_top1"], accuracy["int8_top1"]
    click.echo(f"accuracy:  FP32 {metric} {100 * fp32:.2f}%, INT8 {metric} {100 * int8:.2f}% "
               f"(drop {accuracy['drop']:.2f} points) on {accuracy['images']} images")
    click.echo(f"           {describe(accuracy['difference'])}")


def _print_budget(report) -> None:
    status = "met" if report.met else "NOT met"
    click.echo(f"accuracy:  {report.metric}: FP32 {100 * report.fp32_top1:.2f}%, plain INT8 {100 * report.int8_top1:.2f}%, final "
               f"{100 * report.final_top1:.2f}% (drop {report.final_drop:.2f} points, budget {report.max_drop}: "
               f"{status}) on {report.images} images")
    from ..quantize.accuracy_aware import calibrations_tried

    tried = calibrations_tried(report.steps)
    if tried:
        chosen = report.calibration if report.calibration in tried else "the one asked for"
        click.echo(f"ranges:    also tried {', '.join(tried)} calibration; the model written uses {chosen}")
    if report.kept_float:
        click.echo(f"kept in float ({len(report.kept_float)}): {', '.join(report.kept_float)}")
    if report.difference:
        from ..core.paired import describe

        click.echo(f"           {describe(report.difference)}")


def _print_speed(outcome) -> None:
    latency, cpu, threads = outcome.latency_ms, outcome.cpu, outcome.speed_threads
    plain_text = f", plain INT8 {latency['int8 plain']:.2f} ms" if "int8 plain" in latency else ""
    click.echo(f"latency:   FP32 {latency['fp32']:.2f} ms, INT8 {latency['int8']:.2f} ms "
               f"({latency['int8'] / latency['fp32']:.2f}x){plain_text} at batch 1, {threads} threads, "
               f"{get_engine(outcome.speed_engine).title}; {cpu['model']}, VNNI {'yes' if cpu['vnni'] else 'no'}")
    for line in outcome.speed_notes:
        click.echo(f"note:      {line}")
