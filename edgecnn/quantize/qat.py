"""Quantization-aware training: fine-tune a float checkpoint with the INT8 arithmetic it will be exported with
simulated, then export and quantize it the way every INT8 model is made (same metadata, same bundle).

What is simulated (fake quantization, gradients by the straight-through estimator):

* weights: per-channel symmetric INT8 (scale = max |w| / 127 per output channel) of the weight *as exported*:
  a convolution followed by a BatchNorm is quantized with the BatchNorm folded in (w * gamma / sigma), as the
  ONNX export folds it. BatchNorm statistics are frozen during QAT (the standard practice: the folded weight
  the quantizer sees then stays the one that is exported).
* activations: as asymmetric UINT8 (ONNX Runtime's default activation type on x86), or symmetric INT8 when the
  export will be (``symmetric_activations``, what TensorRT reads), each range an exponential moving average of
  the batches' min/max, at the places the exported INT8 model carries Q/DQ. Those places are read from the
  post-training INT8 model of the checkpoint itself, made with the same options (:func:`exported_points`):
  the weight, input and output (after its folded BatchNorm) of each convolution and fully-connected layer the
  export quantizes (layers the export keeps in float, e.g. the speed-aware SiLU regions, stay float), the
  output of every other module whose output the export quantizes (the residual Add of a block, a pooling,
  a Sigmoid, the SiLU's Mul, a squeeze-and-excitation's Mul) and the Sigmoid inside a SiLU. Quantized
  tensors inside a module's forward that are not its output (a functional flatten) are counted, not simulated.
  When the export's node names cannot be read as module paths, every convolution and fully-connected layer's
  weight, input and output are simulated instead.

After training, the simulation is removed (the fine-tuned float weights stay), the model is exported to ONNX
and quantized with post-training calibration (:func:`~edgecnn.quantize.int8.quantize_int8`): the INT8 file is
an ordinary Q/DQ model that ONNX Runtime, OpenVINO and TensorRT run like any PTQ one, with weights that learned
to tolerate their INT8 rounding. Its metadata records ``qat`` (epochs, learning rate, the source checkpoint).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..core.metadata import read_metadata, write_metadata
from ..core.onnx_io import load_onnx
from ..data.datasets import TorchImageDataset, train_val
from ..data.preprocess import torch_transform
from ..errors import UsageError
from ..export import export_onnx
from ..fileio import atomic_path, sha256_file
from ..optim import make_optimizer, make_schedule
from ..tasks.loop import EpochStats, batchnorm_frozen, fit, loader_signals_restored, validate_top1
from ..tasks.registry import get_task, names_where
from ..train_options import QAT, TrainOptions
from ..zoo import create_model
from ..zoo.weights import save_checkpoint
from .int8 import quantize_int8
from .options import QuantizeOptions



class FoldedWeightFakeQuant(nn.Module):
    """Parametrization of a conv / linear weight: fake-quantize it per output channel, symmetric INT8, as it
    will be exported (with the following BatchNorm folded in, then unfolded so the BatchNorm still applies)."""

    def __init__(self, bn: nn.BatchNorm2d | None = None):
        super().__init__()
        self.bn = [bn]  # a list: not a submodule (the BatchNorm stays where it is in the model)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        bn = self.bn[0]
        if bn is None:
            fold = torch.ones(weight.shape[0], dtype=weight.dtype, device=weight.device)
        else:
            gamma = bn.weight if bn.weight is not None else torch.ones_like(bn.running_var)
            fold = gamma / torch.sqrt(bn.running_var + bn.eps)
            fold = torch.where(fold.abs() < 1e-12, torch.full_like(fold, 1e-12), fold)
        shape = (-1,) + (1,) * (weight.dim() - 1)
        folded = weight * fold.reshape(shape)
        scale = (folded.detach().abs().amax(dim=tuple(range(1, weight.dim()))) / 127).clamp(min=1e-12)
        zero = torch.zeros_like(scale, dtype=torch.int32)
        quantized = torch.fake_quantize_per_channel_affine(folded, scale.float(), zero, 0, -127, 127)
        return quantized / fold.reshape(shape)


class ActivationFakeQuant:
    """Forward pre-hook: fake-quantize a layer's input as asymmetric UINT8 (or, ``symmetric``, as INT8 with zero
    point 0: what TensorRT reads) with a moving-average range."""

    def __init__(self, momentum: float = 0.1, symmetric: bool = False):
        self.momentum, self.low, self.high, self.symmetric = momentum, None, None, symmetric

    def __call__(self, module: nn.Module, args):
        return (self.quantize(module, args[0]),) + tuple(args[1:])

    def on_output(self, module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
        """Forward hook: the same on a layer's output (a module returning several tensors is left alone)."""
        return self.quantize(module, output) if isinstance(output, torch.Tensor) else output

    def quantize(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if module.training or self.low is None:
            low, high = float(x.detach().min().clamp(max=0)), float(x.detach().max().clamp(min=0))
            if self.low is None:
                self.low, self.high = low, high
            else:
                self.low += self.momentum * (low - self.low)
                self.high += self.momentum * (high - self.high)
        if self.symmetric:
            scale = max(max(-self.low, self.high) / 127, 1e-8)
            return torch.fake_quantize_per_tensor_affine(x, scale, 0, -128, 127)
        scale = max((self.high - self.low) / 255, 1e-8)
        zero = int(min(255, max(0, round(-self.low / scale))))
        return torch.fake_quantize_per_tensor_affine(x, scale, zero, 0, 255)


def conv_bn_pairs(model: nn.Module) -> dict[str, str]:
    """conv module name -> the BatchNorm that reads its output and nothing else (what the export folds), from an
    FX trace of the model; empty when the model cannot be traced (weights are then quantized unfolded)."""
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception:
        return {}
    modules = dict(model.named_modules())
    pairs = {}
    for node in traced.graph.nodes:
        if node.op == "call_module" and isinstance(modules.get(node.target), nn.BatchNorm2d):
            source = node.args[0]
            if getattr(source, "op", None) == "call_module" and isinstance(modules.get(source.target), nn.Conv2d) \
                    and len(source.users) == 1:
                pairs[source.target] = node.target
    return pairs


@dataclass
class ExportedPoints:
    """Where the exported INT8 model carries Q/DQ, as module names of the PyTorch model."""

    weights: set[str] = field(default_factory=set)  # conv / linear modules whose weight is INT8
    inputs: set[str] = field(default_factory=set)  # conv / linear modules whose input is quantized
    outputs: set[str] = field(default_factory=set)  # modules whose output is quantized
    silu_sigmoids: set[str] = field(default_factory=set)  # SiLU modules whose inner Sigmoid output is quantized
    quantized: int = 0  # quantized activation tensors in the export
    unmapped: int = 0  # of them, inside a module and not its output: not simulated

    def counts(self) -> dict:
        return {"weights": len(self.weights), "inputs": len(self.inputs), "outputs": len(self.outputs),
                "silu_sigmoids": len(self.silu_sigmoids), "quantized": self.quantized, "unmapped": self.unmapped}


def module_path(node_name: str) -> str | None:
    """The module an exported node came from, from the TorchScript exporter's scoped name
    (``/features/features.4/features.4.1/block/block.0/block.0.2/Sigmoid`` -> ``features.4.1.block.0.2``; ``""``
    for the model's own forward); None for a node the quantizer added (no scope)."""
    if not node_name.startswith("/"):
        return None
    path: list[str] = []
    for part in node_name.split("/")[1:-1]:
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    return ".".join(path)


def _inside(path: str | None, module: str) -> bool:
    return path is not None and (module == "" or path == module or path.startswith(module + "."))


def exported_points(model: nn.Module, int8_model) -> ExportedPoints:
    """:class:`ExportedPoints` of ``model`` from its post-training Q/DQ ONNX (``onnx.ModelProto``)."""
    graph = int8_model.graph
    initializers = {i.name for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    modules = dict(model.named_modules())
    points = ExportedPoints()

    def after_qdq(tensor: str) -> list:  # the computing nodes that read a tensor, through its Q/DQ pair
        found = []
        for node in consumers.get(tensor, []):
            if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
                found += after_qdq(node.output[0])
            else:
                found.append(node)
        return found

    def from_dequantize(tensor: str, weight: bool) -> bool:
        node = producer.get(tensor)
        if node is None or node.op_type != "DequantizeLinear":
            return False
        source = node.input[0]
        if source in initializers:
            return weight
        quantize = producer.get(source)
        return weight == bool(quantize is not None and quantize.op_type == "QuantizeLinear"
                              and quantize.input[0] in initializers)

    for node in graph.node:
        if node.op_type in ("Conv", "Gemm", "MatMul") and isinstance(modules.get(module_path(node.name) or "-"),
                                                                       (nn.Conv2d, nn.Linear)):
            name = module_path(node.name)
            if len(node.input) > 1 and from_dequantize(node.input[1], weight=True):
                points.weights.add(name)
            if from_dequantize(node.input[0], weight=False):
                points.inputs.add(name)
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in initializers:
            continue
        points.quantized += 1
        source = producer.get(node.input[0])
        if source is None:  # the graph input: the first layers' inputs (counted above)
            continue
        name = module_path(source.name)
        module = modules.get(name) if name is not None else None
        if module is None:
            points.unmapped += 1
        elif isinstance(module, nn.SiLU) and source.op_type == "Sigmoid":
            points.silu_sigmoids.add(name)
        elif name != "" and not any(_inside(module_path(n.name), name) for n in after_qdq(source.output[0])):
            points.outputs.add(name)  # read only outside the module: the module's output
        else:
            points.unmapped += 1
    return points


class _SiluWithQuantizedSigmoid:
    """Forward hook of an ``nn.SiLU``: x * fake_quant(sigmoid(x)), as the export runs it (Sigmoid, Q/DQ, Mul)."""

    def __init__(self, quantize: "ActivationFakeQuant"):
        self.quantize = quantize

    def __call__(self, module: nn.Module, args, output: torch.Tensor) -> torch.Tensor:
        return args[0] * self.quantize.quantize(module, torch.sigmoid(args[0]))


@dataclass
class Simulation:
    """The fake quantization installed on a model; :meth:`remove` gives the plain float model back."""

    model: nn.Module
    folded: int
    layers: list[nn.Module] = field(default_factory=list)
    hooks: list = field(default_factory=list)
    made_out_of_place: list[nn.Module] = field(default_factory=list)  # in-place SiLUs whose input the hook reads

    def remove(self) -> None:
        for hook in self.hooks:
            hook.remove()
        for module in self.made_out_of_place:
            module.inplace = True
        for layer in self.layers:
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=False)


def simulate_int8(model: nn.Module, symmetric_activations: bool = False,
                  points: ExportedPoints | None = None) -> Simulation:
    """Install fake quantization at ``points`` (the export's Q/DQ places), or, without them, on the weight, input
    and output of every convolution and fully-connected layer."""
    pairs = conv_bn_pairs(model)
    modules = dict(model.named_modules())
    simulation = Simulation(model, folded=len(pairs))

    def activation():
        return ActivationFakeQuant(symmetric=symmetric_activations)

    layers = {name for name, m in modules.items() if isinstance(m, (nn.Conv2d, nn.Linear))}
    for name, module in modules.items():
        if name in layers:
            bn = modules[pairs[name]] if name in pairs else None
            if points is None or name in points.weights:
                parametrize.register_parametrization(module, "weight", FoldedWeightFakeQuant(bn))
                simulation.layers.append(module)
            if points is None or name in points.inputs:
                simulation.hooks.append(module.register_forward_pre_hook(activation()))
            if points is None or name in points.outputs:  # QLinearConv writes INT8: after its folded BatchNorm
                simulation.hooks.append((bn or module).register_forward_hook(activation().on_output))
        elif points is not None:
            if name in points.silu_sigmoids:
                if getattr(module, "inplace", False):  # the hook recomputes from the input: keep it
                    module.inplace = False
                    simulation.made_out_of_place.append(module)
                simulation.hooks.append(module.register_forward_hook(_SiluWithQuantizedSigmoid(activation())))
            if name in points.outputs:
                simulation.hooks.append(module.register_forward_hook(activation().on_output))
    return simulation


@dataclass
class QatReport:
    checkpoint: str
    onnx: str
    epochs: int
    lr: float
    float_top1: float  # the checkpoint before QAT, in float, on the validation images
    simulated_top1_before: float  # the same with INT8 simulated: what PTQ-like rounding costs before fine-tuning
    simulated_top1: list[float]  # after each epoch, INT8 simulated
    folded_batchnorms: int
    seconds: float
    quantize: dict = field(default_factory=dict)
    simulated: dict = field(default_factory=dict)  # ExportedPoints.counts(); empty: every conv / linear layer

    def to_dict(self) -> dict:
        return asdict(self)


def _points_of_the_export(checkpoint, model: nn.Module, data: str, options: QuantizeOptions, progress: bool,
                         log) -> ExportedPoints | None:
    """Export the checkpoint and quantize it as the QAT model will be: where that INT8 model has Q/DQ."""
    with tempfile.TemporaryDirectory(prefix="edgecnn-qat-plan-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        export_onnx(create_model(str(checkpoint)), fp32)
        quantize_int8(fp32, Path(tmp) / "int8.onnx", data, options=options, progress=progress, log=log)
        points = exported_points(model, load_onnx(Path(tmp) / "int8.onnx", external_data=False))
    return points if points.weights else None


@loader_signals_restored()  # its validation loaders run before and after fit's epochs
def qat_finetune(checkpoint: str | os.PathLike, data: str, output_dir: str | os.PathLike, *,
                 options: TrainOptions | None = None, val: str | None = None, val_split: float, seed: int = 0,
                 quantize: QuantizeOptions | None = None, force: bool = False, progress: bool = True,
                 log=lambda line: None) -> QatReport:
    """QAT of ``checkpoint`` on ``data``; writes ``qat.pt``, ``model_qat_int8.onnx`` and ``qat.json`` into
    ``output_dir``. ``options``: epochs (default 3), optimizer, rate, schedule, batch size (QAT's defaults where
    unset: :data:`edgecnn.train_options.QAT`; an option QAT does not use is refused)."""
    started = time.perf_counter()
    training = (options or TrainOptions(epochs=3)).for_mode(QAT, Path(checkpoint).name)
    epochs, lr, optimizer, batch_size = training.epochs, training.lr, training.optimizer, training.batch_size
    out = Path(output_dir)
    targets = {"checkpoint": out / "qat.pt", "onnx": out / "model_qat_int8.onnx", "json": out / "qat.json"}
    taken = [str(p) for p in targets.values() if p.exists()]
    if taken and not force:
        raise UsageError(f"{taken[0]} exists; pass --force to replace it")
    loaded = create_model(str(checkpoint))
    if not get_task(loaded.spec.task).qat:
        raise UsageError(f"QAT supports {names_where('qat')} models; {loaded.spec.name} is a {loaded.spec.task} model")
    train_images, val_images = train_val(data, val=val, val_split=val_split, image_size=loaded.preprocess.resize,
                                         seed=seed, progress=progress)
    if list(train_images.classes) != list(loaded.labels):
        raise UsageError(f"{checkpoint} was trained on classes {loaded.labels[:4]}...; {data} holds "
                         f"{train_images.classes[:4]}...: QAT fine-tunes on the data the model was trained for")
    model = loaded.model
    train_loader = torch.utils.data.DataLoader(
        TorchImageDataset(train_images, torch_transform(loaded.preprocess, train=training.augment)),
        batch_size=batch_size, shuffle=True, num_workers=training.workers, generator=torch.Generator().manual_seed(seed))
    val_loader = torch.utils.data.DataLoader(
        TorchImageDataset(val_images, torch_transform(loaded.preprocess, train=False)), batch_size=batch_size * 2,
        num_workers=training.workers)
    float_top1 = validate_top1(model, val_loader)[1]
    options = quantize or QuantizeOptions(calib_split="train", val_split=val_split, seed=seed)
    points = _points_of_the_export(checkpoint, model, data, options, progress, log)
    simulation = simulate_int8(model, symmetric_activations=options.symmetric_activations, points=points)
    try:
        before = validate_top1(model, val_loader)[1]  # also sets each activation range from the first batch
        log(f"QAT of {loaded.spec.name}: float top-1 {100 * float_top1:.2f}%, INT8 simulated {100 * before:.2f}% "
            f"before fine-tuning ({simulation.folded} BatchNorms folded into their convolutions; simulated at "
            f"{_where(points)}); {epochs} epochs, {training.describe(QAT)}, BatchNorm statistics frozen")
        history = _fine_tune(model, training, train_loader, val_loader, seed, progress, log)
    finally:
        simulation.remove()
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(targets["checkpoint"], model, arch=loaded.spec.name, classes=list(loaded.labels),
                    input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict(),
                    metrics={"qat_simulated_top1": history[-1]}, qat={"epochs": epochs, "lr": lr,
                                                                      "source": str(checkpoint)})
    provenance = {"epochs": epochs, "lr": lr, "optimizer": optimizer, "source": Path(checkpoint).name,
                  "source_sha256": sha256_file(checkpoint)}
    report = _write_int8(targets["checkpoint"], targets["onnx"], data, options, provenance, progress, log)
    result = QatReport(checkpoint=str(targets["checkpoint"]), onnx=str(targets["onnx"]), epochs=epochs, lr=lr,
                       float_top1=float_top1, simulated_top1_before=before, simulated_top1=history,
                       folded_batchnorms=simulation.folded, seconds=time.perf_counter() - started,
                       quantize=report.to_dict(), simulated=points.counts() if points else {})
    with atomic_path(targets["json"], force=True) as final:
        final.write_text(json.dumps(result.to_dict(), indent=1))
    return result


def _where(points: ExportedPoints | None) -> str:
    """Where INT8 is simulated, in words."""
    if points is None:
        return "every convolution and fully-connected layer (the export's node names could not be read)"
    return (f"the export's Q/DQ places: {len(points.weights)} INT8 weights, {len(points.inputs)} layer inputs, "
            f"{len(points.outputs)} module outputs, {len(points.silu_sigmoids)} SiLU sigmoids"
            + (f"; {points.unmapped} of {points.quantized} quantized tensors inside a module, not simulated"
               if points.unmapped else ""))


def _fine_tune(model: nn.Module, training: TrainOptions, train_loader, val_loader, seed: int, progress: bool,
               log) -> list[float]:
    """The fine-tuning epochs with INT8 simulated and every BatchNorm frozen; the simulated top-1 after each."""
    epochs = training.epochs
    opt = make_optimizer(training, [p for p in model.parameters() if p.requires_grad])
    schedule = make_schedule(training, QAT, opt, epochs * len(train_loader),
                             round(training.warmup_epochs * len(train_loader)), log=log)
    criterion = nn.CrossEntropyLoss()
    torch.manual_seed(seed)
    history: list[float] = []

    def train_mode() -> None:
        model.train()
        batchnorm_frozen(model, every=True)

    def step(batch):
        images, labels = batch
        logits = model(images)
        return criterion(logits if isinstance(logits, torch.Tensor) else logits[0], labels), len(labels), None

    def end_epoch(stats: EpochStats) -> None:
        history.append(validate_top1(model, val_loader)[1])
        log(f"QAT epoch {stats.epoch + 1}/{epochs}: INT8 simulated top-1 {100 * history[-1]:.2f}%")

    fit(opt, schedule, range(epochs), batches=lambda epoch: train_loader, step=step, end_epoch=end_epoch,
        train_mode=train_mode, describe=lambda epoch: f"QAT epoch {epoch + 1}/{epochs}", progress=progress)
    return history


def _write_int8(checkpoint: Path, output: Path, data: str, options: QuantizeOptions, provenance: dict,
                progress: bool, log):
    """The fine-tuned checkpoint exported and quantized like any INT8 model (its ranges calibrated), with the QAT
    provenance in its metadata, written atomically to ``output``; the QuantizeReport."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="edgecnn-qat-") as tmp:
        fp32 = Path(tmp) / "model_qat_fp32.onnx"
        export_onnx(create_model(str(checkpoint)), fp32)
        report = quantize_int8(fp32, Path(tmp) / "int8.onnx", data, options=options, progress=progress, log=log)
        model_proto = load_onnx(Path(tmp) / "int8.onnx", external_data=False)
        meta = read_metadata(model_proto)
        meta.extra = {**meta.extra, "qat": json.dumps(provenance, sort_keys=True)}
        write_metadata(model_proto, meta)
        with atomic_path(output, force=True) as final:
            onnx.save(model_proto, str(final))
    return report
