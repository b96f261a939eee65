"""Run the same inputs through two artifacts/engines and compare their outputs (classifiers)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..engines.base import Runner
from ..numeric import cosine


@dataclass
class Comparison:
    a: str
    b: str
    samples: int
    max_abs_error: float
    mean_abs_error: float
    cosine: float
    top1_agreement: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def compare_runners(a: Runner, b: Runner, inputs: np.ndarray, names: tuple[str, str]) -> Comparison:
    from ..errors import UsageError

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
    x, y = np.concatenate(outs_a).astype(np.float64), np.concatenate(outs_b).astype(np.float64)
    agreement = float(np.mean(x.argmax(1) == y.argmax(1))) if x.ndim >= 2 and x.shape[1] > 1 else None
    return Comparison(a=names[0], b=names[1], samples=len(x), max_abs_error=float(np.max(np.abs(x - y))),
                      mean_abs_error=float(np.mean(np.abs(x - y))), cosine=cosine(x, y), top1_agreement=agreement)


def comparison_inputs(runner: Runner, samples: int, data: str | None = None, seed: int = 0) -> np.ndarray:
    if data:
        from ..data.datasets import load_images
        from ..data.preprocess import preprocess_numpy
        from ..quantize.calibration import pick

        images = load_images(data, image_size=runner.info.preprocess.resize, seed=seed)
        return np.stack([preprocess_numpy(images.image(i), runner.info.preprocess)
                         for i in pick(len(images), samples, seed)]).astype(np.float32)
    return np.random.default_rng(seed).standard_normal((samples, *runner.info.input_size)).astype(np.float32)
