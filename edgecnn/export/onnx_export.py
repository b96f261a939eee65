"""torch -> ONNX: export, check, simplify, embed metadata, verify; written atomically.

Exporter choice: the TorchScript-based exporter (``torch.onnx.export(...,
dynamo=False)``). It needs no onnxscript, exports every architecture in the
zoo (grouped/depthwise convs, LRN, aux-headed GoogLeNet/Inception in eval mode,
the Siamese two-input graph) at any opset from 9, and its graphs are what
onnxsim, ONNX Runtime's quantizer and TensorRT's parser are most tested on.
A test exports the whole registry with it.
"""

from __future__ import annotations

import io
import os
import re
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import onnx
import torch

from ..core.metadata import ModelMetadata, write_metadata
from ..core.options import OptionError, options_or_keywords
from ..errors import ExportError, UsageError
from ..fileio import atomic_path, check_output_path
from ..tasks.registry import get_task
from ..zoo import LoadedModel, create_model
from .describe import describe
from .options import DEFAULT_OPSET, FORMATS, MAX_OPSET, MIN_OPSET, ExportOptions, parse_batch_value
from .patches import patch_for_export
from .simplify import count_nodes, simplify
from .verify import VerifyResult, require_passed, verify_onnx

DYNAMIC_VERIFY_BATCHES = (1, 4)


def io_names(task: str, num_inputs: int) -> tuple[list[str], list[str]]:
    """The graph's input and output names: the task's (its registry entry)."""
    return get_task(task).io(num_inputs)


def parse_batch(value: str | int) -> int | None:
    """``1``, ``8`` -> fixed batch; ``dynamic`` -> None."""
    try:
        return parse_batch_value(value)
    except ValueError:
        raise OptionError("batch", f"must be a positive integer or 'dynamic', got {value!r}") from None


@dataclass
class ExportReport:
    path: str
    size_bytes: int
    opset: int | None  # ONNX only
    batch: int | str
    nodes_exported: int
    nodes_simplified: int | None
    verification: VerifyResult | None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    format: str = "onnx"  # onnx, pte, tflite
    precision: str = "fp32"
    delegation: dict | None = None  # pte/tflite: which operators XNNPACK took (see export.delegation)
    sidecar: str | None = None  # pte: the metadata file written beside it

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verification"] = self.verification.to_dict() if self.verification else None
        return data


def torch_to_onnx_bytes(model: torch.nn.Module, input_shapes: list[tuple[int, ...]], input_names: list[str],
                        output_names: list[str], opset: int, dynamic_batch: bool) -> bytes:
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: "batch"} for name in input_names + output_names}
    args = tuple(torch.zeros(*shape) for shape in input_shapes)
    model, _ = patch_for_export(model, list(args))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, args, buffer, dynamo=False, opset_version=opset, input_names=input_names,
            output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True,
        )
    return buffer.getvalue()


def export_onnx(
    loaded: LoadedModel,
    output: str | os.PathLike,
    *,
    batch: int | str = 1,
    opset: int = DEFAULT_OPSET,
    do_simplify: bool = True,
    do_verify: bool = True,
    force: bool = False,
    on_stage: Callable[[str, float], None] | None = None,
) -> ExportReport:
    """Export ``loaded.model`` to ``output``; the file appears only when every stage passed."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise OptionError("opset", f"must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}")
    fixed_batch = parse_batch(batch)
    output = check_output_path(output, force)
    spec = loaded.spec
    input_names, output_names = io_names(spec.task, spec.num_inputs)
    export_batch = fixed_batch or 1
    seconds: dict[str, float] = {}

    def stage(name: str, started: float) -> None:
        seconds[name] = time.perf_counter() - started
        if on_stage:
            on_stage(name, seconds[name])

    with atomic_path(output, force=force) as tmp:
        started = time.perf_counter()
        proto = _exported(loaded, input_names, output_names, export_batch, opset, fixed_batch is None)
        nodes_exported = count_nodes(proto)
        stage("export", started)

        nodes_simplified = None
        if do_simplify:
            started = time.perf_counter()
            proto = simplify(proto)
            onnx.checker.check_model(proto)
            nodes_simplified = count_nodes(proto)
            stage("simplify", started)

        shape = ["batch" if fixed_batch is None else fixed_batch, *spec.input_size]
        write_metadata(proto, _metadata(loaded, input_names, output_names, shape, opset, do_simplify))
        proto.producer_name = "edgecnn"
        proto.doc_string = f"{spec.name} exported by edgecnn"
        onnx.save(proto, str(tmp))

        verification = None
        if do_verify:
            started = time.perf_counter()
            batches = DYNAMIC_VERIFY_BATCHES if fixed_batch is None else (fixed_batch,)
            verification = verify_onnx(loaded.model, str(tmp), spec.input_size, num_inputs=spec.num_inputs,
                                       task=spec.task, batch_sizes=batches)
            require_passed(verification)
            stage("verify", started)
    return ExportReport(
        path=str(output),
        size_bytes=Path(output).stat().st_size,
        opset=opset,
        batch="dynamic" if fixed_batch is None else fixed_batch,
        nodes_exported=nodes_exported,
        nodes_simplified=nodes_simplified,
        verification=verification,
        seconds=seconds,
        notes=list(loaded.notes),
    )


def _exported(loaded: LoadedModel, input_names, output_names, batch: int, opset: int, dynamic: bool):
    """The model through ``torch.onnx.export``, checked by ``onnx.checker``; a failure is one line."""
    spec = loaded.spec
    try:
        raw = torch_to_onnx_bytes(loaded.model, [(batch, *spec.input_size)] * spec.num_inputs, input_names,
                                  output_names, opset, dynamic)
    except Exception as exc:
        raise ExportError(f"torch.onnx.export failed for {spec.name}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc
    proto = onnx.load_from_string(raw)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejected the exported graph: {str(exc).splitlines()[0]}") from None
    return proto


def _metadata(loaded: LoadedModel, input_names, output_names, shape: list, opset: int,
              simplified: bool) -> ModelMetadata:
    return describe(loaded, input_names, output_names, shape,
                    {"exporter": "torchscript", "opset": opset, "simplified": simplified, "batch": shape[0]})


def default_output(model: str | os.PathLike, format: str = "onnx") -> str:
    """Where ``edgecnn export MODEL`` writes without ``-o``: ``MODEL.onnx`` (``.pte``, ``.tflite`` for those
    formats; a checkpoint: its stem) here."""
    stem = Path(model).stem if Path(model).suffix else str(model)
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem) + FORMATS[format]


def export_model(
    model: str | os.PathLike | LoadedModel,
    output: str | os.PathLike | None = None,
    *,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    input_size: str | int | tuple[int, int] | None = None,
    options: ExportOptions | None = None,
    force: bool = False,
    log: Callable[[str], None] = lambda line: None,
    on_stage: Callable[[str, float], None] | None = None,
    **option_values,
) -> ExportReport:
    """Export a zoo model or an edgecnn checkpoint to a verified, simplified ONNX file (``edgecnn export``), or
    with ``format="pte"`` / ``"tflite"`` to ExecuTorch / LiteRT (verified with their runtimes).

    Args:
        model: a zoo name (``"mobilenet_v2"``, ``"timm:NAME"``, ``"siamese:resnet18"``), the path of an edgecnn
            checkpoint (it knows its architecture, classes and preprocessing), or a
            :class:`~edgecnn.zoo.LoadedModel` already built.
        output: the ``.onnx`` file to write (default: ``MODEL.onnx`` in the current directory).
        weights: a state_dict file, an edgecnn checkpoint, or ``"imagenet"`` (torchvision's published weights,
            from the offline torch hub cache); default: random initialisation.
        num_classes: replace the classifier head with one of this many outputs.
        input_size: input height and width (``224``, ``"160x224"``, ``(160, 224)``); default: the model's own.
        options: an :class:`~edgecnn.export.options.ExportOptions`, or its fields as keywords instead:
            ``format`` (``"onnx"``, ``"pte"``, ``"tflite"``), ``batch`` (``1``, ``8`` or ``"dynamic"``), ``opset``,
            ``simplify``, ``verify``.
        force: replace an existing ``output``.
        log: called with each line worth showing (notes about the weights, what is being exported).
        on_stage: called with ``(stage name, seconds)`` after each stage (export, simplify, verify).

    Returns:
        :class:`ExportReport`: the path, size, node counts and the verification against PyTorch (max abs error,
        cosine, top-1 agreement). The file appears only when every stage passed.
    """
    options = options_or_keywords(ExportOptions, options, option_values)
    if output is None:
        if isinstance(model, LoadedModel):
            raise UsageError("give the output file for a model built in Python")
        output = default_output(model, options.format)
    check_output_path(output, force)  # fail before building anything
    if isinstance(model, LoadedModel):
        if weights is not None or num_classes is not None or input_size is not None:
            raise UsageError("weights, num_classes and input_size apply to a model name or checkpoint; a LoadedModel "
                             "is exported as it is")
        loaded = model
    else:
        loaded = create_model(str(model), weights=weights, num_classes=num_classes, input_size=input_size)
    for note in loaded.notes:
        log(f"note: {note}")
    c, h, w = loaded.input_size
    if options.format != "onnx":
        from .mobile import export_mobile, mobile_format

        log(f"exporting {loaded.spec.name} ({c}x{h}x{w}, batch {options.batch}) to {options.format}")
        return export_mobile(mobile_format(options.format), loaded, output, batch=options.batch,
                             do_verify=options.verify, force=force, on_stage=on_stage)
    log(f"exporting {loaded.spec.name} ({c}x{h}x{w}, batch {options.batch}, opset {options.opset})")
    return export_onnx(loaded, output, batch=options.batch, opset=options.opset, do_simplify=options.simplify,
                       do_verify=options.verify, force=force, on_stage=on_stage)
