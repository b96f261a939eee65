"""Verifying an exported file against the PyTorch model it came from, with the runtime that runs it (ONNX Runtime
for ONNX, ExecuTorch for .pte, LiteRT for .tflite).

Both run the same random inputs (standard normal: the scale of normalised
images). For every output we report the maximum absolute error, the cosine
similarity and, for classifiers and segmenters, top-1 agreement (per sample,
or per pixel). The check fails when the error passes ``atol + rtol * max|ref|``
(relative by default: randomly initialised networks in eval mode can have
logits of 1e-14, where any absolute tolerance would pass anything),
when cosine similarity falls below ``min_cosine``, or when top-1 disagrees
where the reference's top-2 margin is larger than the tolerance (near-ties in
randomly initialised models may flip without anything being wrong).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from ..core.compare import compare_outputs
from ..core.ort import make_session
from ..errors import VerificationError
from ..tasks.registry import DEFAULT, task_of


@dataclass
class OutputCheck:
    name: str
    max_abs_error: float
    tolerance: float
    cosine: float
    top1_agreement: float | None  # fraction, None when not a classification output
    decisive_disagreements: int = 0


@dataclass
class VerifyResult:
    batch_sizes: list[int]
    samples: int
    outputs: list[OutputCheck] = field(default_factory=list)
    passed: bool = True
    failures: list[str] = field(default_factory=list)
    runtime: str = "ONNX Runtime"  # what ran the exported file

    @property
    def max_abs_error(self) -> float:
        return max((o.max_abs_error for o in self.outputs), default=0.0)

    @property
    def min_cosine(self) -> float:
        return min((o.cosine for o in self.outputs), default=1.0)

    @property
    def top1_agreement(self) -> float | None:
        values = [o.top1_agreement for o in self.outputs if o.top1_agreement is not None]
        return min(values) if values else None

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(max_abs_error=self.max_abs_error, min_cosine=self.min_cosine, top1_agreement=self.top1_agreement)
        return data


def _as_list(out) -> list[np.ndarray]:
    if isinstance(out, torch.Tensor):
        return [out.detach().cpu().numpy()]
    return [o.detach().cpu().numpy() for o in out]


def verify_onnx(
    model: torch.nn.Module,
    onnx_path: str,
    input_shape: tuple[int, int, int],
    **settings,
) -> VerifyResult:
    """ONNX Runtime on ``onnx_path`` against ``model`` (see :func:`verify_runtime` for ``settings``)."""
    session = make_session(onnx_path)
    input_names = [i.name for i in session.get_inputs()]
    output_names = [o.name for o in session.get_outputs()]
    return verify_runtime(model, lambda feeds: session.run(None, dict(zip(input_names, feeds))), output_names,
                          input_shape, **settings)


def verify_runtime(
    model: torch.nn.Module,
    run: Callable[[list[np.ndarray]], list[np.ndarray]],
    output_names: list[str],
    input_shape: tuple[int, int, int],
    *,
    num_inputs: int = 1,
    task: str = DEFAULT.name,
    batch_sizes: tuple[int, ...] = (1,),
    samples: int = 3,
    rtol: float = 1e-3,
    atol: float = 0.0,
    min_cosine: float = 0.9999,
    seed: int = 0,
    runtime: str = "ONNX Runtime",
    inputs: list[list[np.ndarray]] | None = None,
) -> VerifyResult:
    """``run`` (a runtime on the exported file: inputs in, outputs out, in the graph's order) against the PyTorch
    ``model`` on the same inputs: random (standard normal), or ``inputs`` (a list of feeds, one array per model
    input: real images); the checks are the module docstring's."""
    generator = torch.Generator().manual_seed(seed)
    if inputs is None:
        batches = [[torch.randn(batch, *input_shape, generator=generator) for _ in range(num_inputs)]
                   for batch in batch_sizes for _ in range(samples)]
    else:
        batches = [[torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in feed] for feed in inputs]
        batch_sizes = tuple(dict.fromkeys(int(feed[0].shape[0]) for feed in batches))
        samples = len(batches)
    result = VerifyResult(batch_sizes=list(batch_sizes), samples=samples, runtime=runtime)
    refs: dict[int, list[np.ndarray]] = {i: [] for i in range(len(output_names))}
    outs: dict[int, list[np.ndarray]] = {i: [] for i in range(len(output_names))}
    model.eval()
    for feeds in batches:
        batch = int(feeds[0].shape[0])
        with torch.no_grad():
            reference = _as_list(model(*feeds))
        got = [np.asarray(g) for g in run([f.numpy() for f in feeds])]
        for i, (r, g) in enumerate(zip(reference, got)):
            if r.shape != g.shape:
                result.passed = False
                result.failures.append(f"{output_names[i]}: shape {list(g.shape)} in {runtime}, {list(r.shape)} "
                                       f"in PyTorch (batch {batch})")
                return result
            refs[i].append(r)
            outs[i].append(g)
    classify = task_of(task).class_scores  # an argmax of the outputs is a class (not of embeddings)
    for i, name in enumerate(output_names):
        ref = np.concatenate(refs[i])
        got = np.concatenate(outs[i])
        compared = compare_outputs(ref, got)
        error = compared["max_abs_error"]
        tolerance = atol + rtol * float(np.max(np.abs(ref))) if ref.size else atol
        check = OutputCheck(name=name, max_abs_error=error, tolerance=tolerance, cosine=compared["cosine"],
                            top1_agreement=None)
        if classify and compared["top1_agreement"] is not None:
            ref_top = ref.argmax(axis=1)
            got_top = got.argmax(axis=1)
            check.top1_agreement = compared["top1_agreement"]
            ordered = np.sort(ref, axis=1)
            margin = ordered[:, -1] - ordered[:, -2]
            check.decisive_disagreements = int(np.sum((ref_top != got_top) & (margin > 2 * tolerance)))
        result.outputs.append(check)
        if error > tolerance:
            result.failures.append(f"{name}: max abs error {error:.3g} > tolerance {tolerance:.3g}")
        if check.cosine < min_cosine:
            result.failures.append(f"{name}: cosine similarity {check.cosine:.6f} < {min_cosine}")
        if check.decisive_disagreements:
            result.failures.append(f"{name}: top-1 differs on {check.decisive_disagreements} clear-cut predictions")
    result.passed = not result.failures
    return result


def require_passed(result: VerifyResult) -> None:
    if not result.passed:
        raise VerificationError(
            f"{result.runtime} disagrees with PyTorch: " + "; ".join(result.failures)
            + " (use --no-verify to keep the file anyway)"
        )
