"""Run the same inputs through two artifacts/engines and compare their outputs (classifiers; segmentation models:
also the mean IoU of one's masks against the other's; embeddings: cosine)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..core.compare import compare_outputs
from ..core.preprocess import preprocess_numpy
from ..data.datasets import load_images, pick
from ..data.segmentation import is_masked_source, load_masked
from ..engines.base import Runner
from ..errors import UsageError
from ..tasks.segmentation import mask_iou


@dataclass
class Comparison:
    a: str
    b: str
    samples: int
    max_abs_error: float
    mean_abs_error: float
    cosine: float
    top1_agreement: float | None  # segmentation: the share of pixels given the same class
    mask_iou: float | None = None  # segmentation: mean IoU of B's masks against A's

    def to_dict(self) -> dict:
        return asdict(self)


def compare_runners(a: Runner, b: Runner, inputs: np.ndarray, names: tuple[str, str]) -> Comparison:
    if tuple(a.info.input_size) != tuple(b.info.input_size):
        raise UsageError(f"{names[0]} takes {list(a.info.input_size)} but {names[1]} takes "
                         f"{list(b.info.input_size)}: they cannot see the same inputs")
    outs_a, outs_b = [], []
    fixed = [r.input_specs[0].shape[0] for r in (a, b)]
    step = next((f for f in fixed if isinstance(f, int) and f > 0), 8)
    with a, b:
        for start in range(0, len(inputs) - len(inputs) % step or len(inputs), step):
            chunk = inputs[start : start + step]
            if len(chunk) < step:
                break
            outs_a.append(a.infer_array(chunk))
            outs_b.append(b.infer_array(chunk))
    out_a, out_b = np.concatenate(outs_a), np.concatenate(outs_b)
    result = Comparison(a=names[0], b=names[1], **compare_outputs(out_a, out_b))
    if a.info.task == "similarity":  # embeddings: their cosine is the agreement; an argmax means nothing
        result.top1_agreement = None
    if a.info.task == "segmentation" and out_a.ndim == 4:
        result.mask_iou = mask_iou(out_a.argmax(1), out_b.argmax(1), out_a.shape[1])
    return result


def comparison_inputs(runner: Runner, samples: int, data: str | None = None, seed: int = 0) -> np.ndarray:
    if data:
        loader = load_masked if is_masked_source(data) else load_images  # segmentation data: its images
        images = loader(data, image_size=runner.info.preprocess.resize, seed=seed)
        return np.stack([preprocess_numpy(images.image(i), runner.info.preprocess)
                         for i in pick(len(images), samples, seed)]).astype(np.float32)
    return np.random.default_rng(seed).standard_normal((samples, *runner.info.input_size)).astype(np.float32)
