"""The options of INT8 quantization, declared once (see :mod:`edgecnn.core.options`).

``edgecnn quantize`` takes them as flags, a recipe's ``quantize:`` section as keys, and
:func:`edgecnn.quantize.int8.quantize_int8` / :func:`edgecnn.quantize.budget.quantize_to_budget`
as this dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.options import OptionError, check_options, opt, same_as
from ..core.split import SplitOptions
from ..engines.registry import default_placement, placement_of, placements

METHODS = ("minmax", "entropy", "percentile")
DEFAULT_METHOD = "percentile"


def _placement_help() -> str:
    """--for's help: each engine's placement in its own words (edgecnn.engines.registry.placements)."""
    return ("The engine the Q/DQ placement is made for: "
            + ", ".join(f"{name} ({placement_of(name).help})" for name in placements()) + ".")


@dataclass
class QuantizeOptions:
    method: str = opt(DEFAULT_METHOD, "How activation ranges are chosen from the calibration statistics.",
                      choices=METHODS)
    samples: int = opt(256, "Calibration images.", min=1)
    percentile: float = opt(99.99, "For method percentile: the percentile of each activation's range kept.",
                            min=90.0, max=100.0)
    per_channel: bool = opt(True, "One weight scale per output channel (else one per tensor).",
                            flag="--per-channel/--per-tensor")
    symmetric_activations: bool = opt(False, "Symmetric INT8 activations (what TensorRT requires); default "
                                             "asymmetric UINT8, the fastest form on x86 CPUs.")
    symmetric_weights: bool = opt(True, "INT8 weights with zero point 0. ONNX Runtime then runs each convolution on "
                                        "its indirect-convolution kernels (AVX2, AVX512-VNNI); asymmetric weights "
                                        "(one zero point per tensor: with --per-tensor) take its quantized-GEMM path, "
                                        "the only one with AMX kernels.",
                                  flag="--symmetric-weights/--asymmetric-weights")
    op_types: list[str] | None = opt(None, "Only quantize these op types.", metavar="Conv,Gemm,...")
    exclude: list[str] = opt([], "Keep these nodes in float.", metavar="NODE,...")
    speed_aware: bool = opt(True, "Keep the high-resolution stages of SiLU networks in float (faster on CPUs; "
                                  "see edgecnn/quantize/selection.py).", flag="--speed-aware/--no-speed-aware")
    placed_for: str = opt(default_placement(), _placement_help(), choices=placements, flag="--for", recipe=False)
    max_drop: float | None = opt(None, "Accuracy budget in points of the task's metric (top-1; mean IoU; "
                                       "verification accuracy): keep the most sensitive nodes in float until the "
                                       "drop from FP32 is within it (needs labelled validation images).",
                                 min=0.0)
    seed: int = opt(0, "Seed of the calibration sample and of the split.", recipe=False)
    calib_split: str = opt("all", "'train': calibrate only on the training side of the stratified split "
                                  "(the validation side then measures accuracy).", choices=("all", "train"),
                           recipe=False)
    val_split: float = same_as(SplitOptions, "val_split", cli=False, recipe=False)  # the recipe's data.val_split

    def __post_init__(self) -> None:
        check_options(self)
        if not self.symmetric_weights and self.per_channel:
            raise OptionError("symmetric_weights", "must stay on with per-channel weights: ONNX Runtime's QLinearConv "
                                                   "takes one weight zero point per convolution (per-tensor weights: "
                                                   "--per-tensor, quantize.per_channel: false)", type(self))
        placement = placement_of(self.placed_for)
        if not placement.budget and self.max_drop is not None:
            default = default_placement()
            raise OptionError("max_drop", f"is met on {default}'s placement (--for {default}); {placement.quantizer}'s "
                                          f"placement for {self.placed_for} has no accuracy budget in edgecnn yet",
                              type(self))
