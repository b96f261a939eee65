"""``edgecnn profile`` and ``edgecnn compare``."""

from __future__ import annotations

from pathlib import Path

import click

from ..core.options import LiveChoice, click_options, from_kwargs
from ..engines.registry import capability_table, cpu_onnx_engines, names
from ..engines.spec import PRECISIONS
from ..errors import UsageError
from ..profile.options import ProfileOptions
from .options import json_option


class _WithCapabilityTable(click.Command):
    """Its help ends with the capability table, read from the engine registry when the help is shown."""

    def format_epilog(self, ctx, formatter) -> None:
        super().format_epilog(ctx, formatter)
        with formatter.section("Engines (what each can run; an engine refuses anything else before any work)"):
            for line in capability_table():
                formatter.write(" " * formatter.current_indent + line + "\n")


@click.command("profile", cls=_WithCapabilityTable)
@click.argument("artifacts", nargs=-1, required=True, metavar="ARTIFACT...")
@click.option("--engine", type=LiveChoice(names), default=None,
              help="Default: ort for .onnx, trt for .engine, torch for a zoo name or checkpoint (the table below).")
@click.option("--precision", type=click.Choice(list(PRECISIONS)), default=None,
              help="Check the artifact holds this precision (never converted silently); openvino also runs an FP32 "
                   "ONNX in fp16 or bf16, torch a model in bf16 (autocast); bf16 needs AVX512-BF16 or AMX.")
@click_options(ProfileOptions)
@click.option("--data", default=None, metavar="DIR", help="Labelled images: also measure top-1/top-5.")
@click.option("--best", is_flag=True,
              help="Pick for me: time every ONNX file given on every CPU engine installed (ort, openvino; openvino "
                   "bf16 too where the CPU has it), and each .tflite / .pte on LiteRT / ExecuTorch, in alternating "
                   "rounds, each in its own process, and name the fastest whose top-1 on --data is within --max-drop "
                   "of the best FP32.")
@click.option("--max-drop", type=click.FloatRange(min=0), default=None, metavar="POINTS",
              help="With --best: the accuracy budget in top-1 points (default 1.0).")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="With --best: alternating rounds (the median is reported).")
@click.option("--plot", "plot_out", default=None, type=click.Path(dir_okay=False), metavar="FILE.png",
              help="With --sustained: write the latency-over-time plot (with the clock and temperature) here.")
@json_option
def profile_command(artifacts, engine, precision, data, best, max_drop, rounds, plot_out, json_out,
                    **option_values):
    """Latency percentiles, memory, accuracy and per-layer times of ARTIFACT on one engine.

    ARTIFACT is a .onnx file (ort, openvino), a TensorRT .engine (trt), a .tflite
    (litert), a .pte (executorch), an ncnn .param (ncnn; --precision fp16 for its fp16
    options), or a zoo name / checkpoint (torch). Runs until both
    --min-runs and --min-time-s are met, after --warmup-s of warm-up.

    With --best, several files (e.g. model.onnx model_int8.onnx model_int8_openvino.onnx
    model_int8.tflite model_int8.pte) are compared across engines and precisions and the fastest
    within the accuracy budget is named.
    """
    from ..profile.run import profile
    from ..profile.text import format_profile

    settings = from_kwargs(ProfileOptions, option_values)
    if best:
        _profile_best(artifacts, engine, precision, data, max_drop, rounds, settings, json_out)
        return
    if len(artifacts) > 1:
        raise UsageError(f"profile takes one ARTIFACT ({len(artifacts)} given); --best compares several")
    if max_drop is not None:
        raise UsageError("--max-drop is the budget of --best; add --best")
    if plot_out and not settings.sustained_s:
        raise UsageError("--plot draws a sustained run: add --sustained SECONDS")
    artifact = artifacts[0]
    result = profile(artifact, engine, precision=precision, settings=settings, data=data,
                     log=lambda line: click.echo(line, err=True))
    click.echo(format_profile(result))
    if plot_out:
        from ..report.plots import plot_sustained, save_figure

        save_figure(plot_sustained(result.timeline, f"{Path(artifact).name} on {result.engine}, "
                                                    f"{result.environment.get('cpu', {}).get('model', '')}"), plot_out)
        click.echo(f"plot: {plot_out}")
    if json_out:
        result.write_json(json_out)


def _profile_best(artifacts, engine, precision, data, max_drop, rounds, settings, json_out):
    import json

    from ..fileio import atomic_path
    from ..report.profile_best import format_best, profile_best

    if precision is not None:
        raise UsageError("--best tries every precision the files hold; drop --precision")
    cpu_engines = [e.name for e in cpu_onnx_engines()]
    if engine is not None and engine not in cpu_engines:
        raise UsageError(f"--best compares the CPU engines ({', '.join(cpu_engines)}); {engine} is not one")
    if data is None:
        raise UsageError("--best needs --data DIR (labelled images): without accuracy nothing can be held to a budget")
    result = profile_best(list(artifacts), data, threads=settings.threads or 2, rounds=rounds,
                          round_s=settings.min_time_s / 3, max_drop=max_drop, engines=[engine] if engine else None,
                          log=lambda line: click.echo(line, err=True))
    click.echo(format_best(result))
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(result, indent=1))


def _compare_layers(a, b, inputs, top, json_out, data) -> None:
    from ..core.onnx_io import load_onnx
    from ..quantize.int8 import is_quantized
    from ..quantize.layer_error import layer_errors, layer_table, write_layer_report

    if not (a.endswith(".onnx") and b.endswith(".onnx")):
        raise UsageError("--per-layer compares two ONNX files: the FP32 model (A) and its INT8 Q/DQ model (B)")
    if is_quantized(load_onnx(a, external_data=False)) or not is_quantized(load_onnx(b, external_data=False)):
        raise UsageError(f"--per-layer needs the FP32 model first and its INT8 Q/DQ model second; {a} and {b} are "
                         "not in that order (or B is not quantized)")
    rows = layer_errors(a, b, inputs, samples=len(inputs))
    if not rows:
        raise UsageError(f"no intermediate tensor of {b} matches one of {a} by name: are they the same network?")
    where = f"{len(inputs)} images of {data}" if data else f"{len(inputs)} random inputs (--data DIR: real images)"
    click.echo(f"{len(rows)} quantized tensors matched by name on {where}; worst first:")
    click.echo(layer_table(rows, top=top))
    if json_out:
        saved, plot = write_layer_report(rows, json_out)
        click.echo(f"every row: {saved}; plot: {plot}")


@click.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--engine", default=None, metavar="ENGINE[,ENGINE]", help="Engine for A and B (e.g. ort,openvino).")
@click.option("--samples", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--data", default=None, metavar="DIR",
              help="Use real images (A's preprocessing) instead of random inputs; labelled class folders also give "
                   "B's top-1 difference from A's with its paired 95 % interval and McNemar test.")
@click.option("--per-layer", is_flag=True,
              help="A is an FP32 ONNX and B its INT8 Q/DQ model: match their intermediate tensors by name (ONNX "
                   "Runtime's qdq_loss_debug) and rank the quantized tensors by error (SQNR of each Q/DQ, drift from "
                   "FP32, weight SQNR); with --json, every row there and a depth plot beside it.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Rows shown with --per-layer.")
@json_option
def compare_command(a, b, engine, samples, data, per_layer, top, json_out):
    """Run the same inputs through A and B: max abs error, cosine similarity, top-1 agreement."""
    import json

    from ..fileio import atomic_path
    from ..profile.compare_outputs import compare_models, comparison_inputs, load_pair
    from ..tasks.registry import task_of

    if per_layer:
        runners = load_pair(a, b, engine)
        inputs, _ = comparison_inputs(runners[0], samples, data)
        _compare_layers(a, b, inputs, top, json_out, data)
        return
    result = compare_models(a, b, engine=engine, samples=samples, data=data)
    agreement = "n/a" if result.top1_agreement is None else f"{100 * result.top1_agreement:.1f}%"
    what = "pixels given the same class" if result.mask_iou is not None else "top-1 agreement"
    if result.top1_agreement is None and not task_of(result.task).class_scores:
        what, agreement = "embedding cosine is the agreement of a Siamese net:", "see cosine"
    masks = "" if result.mask_iou is None else f", mask IoU {100 * result.mask_iou:.2f}%"
    click.echo(f"{result.samples} inputs: max abs error {result.max_abs_error:.4g}, mean abs error "
               f"{result.mean_abs_error:.4g}, cosine {result.cosine:.6f}, {what} {agreement}{masks}")
    if result.difference:
        from ..core.paired import describe

        click.echo(describe(result.difference, "A", "B"))
    if json_out:
        with atomic_path(json_out, force=True) as tmp:
            tmp.write_text(json.dumps(result.to_dict(), indent=1))
