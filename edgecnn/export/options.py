"""The options of ONNX export, declared once (see :mod:`edgecnn.core.options`)."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.options import check_options, opt

FORMATS = {"onnx": ".onnx", "pte": ".pte", "tflite": ".tflite", "ncnn": ".param"}  # --format -> the file's suffix
DEFAULT_OPSET = 17
MIN_OPSET, MAX_OPSET = 11, 20  # the TorchScript exporter's range that onnxsim, ORT and TensorRT all read


def parse_batch_value(value) -> int | None:
    """``1``, ``"8"`` -> a fixed batch; ``"dynamic"`` -> None; anything else raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        batch = value
    elif str(value).strip().lower() == "dynamic":
        return None
    else:
        batch = int(str(value))
    if batch < 1:
        raise ValueError(value)
    return batch


def _batch_problem(value) -> str | None:
    try:
        parse_batch_value(value)
    except ValueError:
        return f"must be a positive integer or 'dynamic', got {value!r}"
    return None


@dataclass
class ExportOptions:
    format: str = opt("onnx", "File format: onnx; pte (ExecuTorch on XNNPACK, pip install 'edgecnn[executorch]'); "
                      "tflite (LiteRT, pip install 'edgecnn[litert]'); ncnn (MODEL.param + MODEL.bin, pip install "
                      "'edgecnn[ncnn]'). pte and tflite have a fixed batch, ncnn batch 1; --opset and --simplify "
                      "are ONNX's.", choices=tuple(FORMATS), recipe=False)
    batch: str = opt("1", "Fixed batch size, or 'dynamic' (verified at batch 1 and 4).", check=_batch_problem,
                     metavar="N|dynamic")
    opset: int = opt(DEFAULT_OPSET, "ONNX opset version.", min=MIN_OPSET, max=MAX_OPSET)
    simplify: bool = opt(True, "Simplify with onnxsim (constant folding, shape inference).",
                         flag="--simplify/--no-simplify")
    verify: bool = opt(True, "Check ONNX Runtime against PyTorch on random inputs.", flag="--verify/--no-verify")

    def __post_init__(self) -> None:
        self.batch = str(self.batch)
        check_options(self)
