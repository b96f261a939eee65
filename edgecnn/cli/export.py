"""``edgecnn export``: PyTorch -> verified, simplified ONNX with metadata."""

from __future__ import annotations

import time

import click

from ..core.options import click_options, from_kwargs
from ..export.options import ExportOptions
from .options import force_option, input_size_option, num_classes_option, weights_option


@click.command("export")
@click.argument("model")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output file (default: MODEL.onnx, .pte, .tflite or .param as --format says, in the current "
                   "directory).")
@weights_option
@num_classes_option
@input_size_option
@click_options(ExportOptions)
@force_option
def export_command(model, output, weights, num_classes, input_size, force, **option_values):
    """Export MODEL (a zoo name or an edgecnn checkpoint) to ONNX, ExecuTorch, LiteRT or ncnn.

    \b
    ONNX: torch.onnx.export -> onnx.checker -> onnxsim -> metadata (architecture,
    input shape, preprocessing, labels, weights sha256, versions) -> ONNX Runtime vs
    PyTorch on random inputs (max abs error, cosine, top-1 agreement).
    --format pte: torch.export -> XNNPACK partitioner -> .pte (metadata and the
    delegation report in MODEL.pte.json beside it) -> ExecuTorch vs PyTorch.
    --format tflite: litert-torch -> .tflite (metadata inside) -> LiteRT vs PyTorch.
    --format ncnn: TorchScript -> pnnx -> MODEL.param + MODEL.bin (metadata in
    MODEL.param.json) -> ncnn vs PyTorch; batch 1 (ncnn has no batch dimension).
    INT8 .pte/.tflite: edgecnn quantize MODEL --for executorch|litert --calib DIR.
    The file is written only when every stage passes.
    """
    from ..export import export_model

    started = time.perf_counter()
    report = export_model(model, output, weights=weights, num_classes=num_classes, input_size=input_size,
                          options=from_kwargs(ExportOptions, option_values), force=force,
                          log=lambda line: click.echo(line, err=True),
                          on_stage=lambda name, seconds: click.echo(f"  {name:<9} done in {seconds:5.2f} s", err=True))
    nodes = f"{report.nodes_exported}" + (" operators" if report.format != "onnx" else "")
    if report.nodes_simplified is not None:
        nodes += f" -> {report.nodes_simplified} after onnxsim"
    lines = [
        f"file:      {report.path}",
        f"size:      {report.size_bytes / 2**20:.2f} MiB",
        f"nodes:     {nodes}",
    ]
    if report.verification is not None:
        v = report.verification
        top1 = "n/a" if v.top1_agreement is None else f"{100 * v.top1_agreement:.1f}%"
        lines.append(f"verified:  {v.runtime}, batch {', '.join(map(str, v.batch_sizes))} x {v.samples} inputs: max abs error "
                     f"{v.max_abs_error:.3g}, cosine {v.min_cosine:.6f}, top-1 agreement {top1}")
    else:
        lines.append("verified:  skipped (--no-verify)")
    if report.delegation is not None:
        from ..export.delegation import DelegationReport

        lines.append(f"delegated: {DelegationReport.from_dict(report.delegation).summary()}")
    if report.sidecar:
        lines.append(f"metadata:  {report.sidecar}")
    lines.append(f"time:      {time.perf_counter() - started:.1f} s")
    click.echo("\n".join(lines))
