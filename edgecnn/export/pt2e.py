"""PyTorch 2 Export quantization (PT2E), the INT8 path of the runtimes phones ship: ExecuTorch (the XNNPACK
quantizer) and LiteRT (litert-torch's PT2E quantizer) both quantize the exported graph with torchao's
``prepare_pt2e`` / ``convert_pt2e``; only the quantizer differs. Calibration batches are the same preprocessed
images ONNX INT8 calibrates on (``edgecnn.quantize.calibration``), handed in as arrays.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from ..errors import DependencyMissing, ExportError


def calibrated(module: torch.nn.Module, example: tuple[torch.Tensor, ...], quantizer: Any,
               batches: Iterable[tuple[np.ndarray, ...]], fold: bool = True) -> torch.nn.Module:
    """``module`` exported, observed by ``quantizer`` on every batch of ``batches`` (one array per model input),
    and converted to a Q/DQ graph module (``fold``: weights stored quantized, as ExecuTorch wants; litert-torch
    folds them itself and asks for ``fold=False``)."""
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError:
        raise DependencyMissing("torchao", purpose="PT2E INT8 quantization") from None
    try:
        graph = torch.export.export(module.eval(), example).module()
        prepared = prepare_pt2e(graph, quantizer)
        seen = 0
        with torch.no_grad():
            for batch in batches:
                prepared(*[torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)) for b in batch])
                seen += 1
        if not seen:
            raise ExportError("PT2E calibration got no batches")
        converted = convert_pt2e(prepared, fold_quantize=fold)
        try:  # an exported module keeps training=True; the converters warn on it (the graph is eval's anyway)
            from torchao.quantization.pt2e import move_exported_model_to_eval

            move_exported_model_to_eval(converted)
        except ImportError:
            pass
        return converted
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"PT2E quantization failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                          ) from exc


def batches_of(inputs: np.ndarray, batch: int, num_inputs: int = 1) -> list[tuple[np.ndarray, ...]]:
    """Calibration images ``(N, C, H, W)`` cut into the file's fixed batch (the last partial batch dropped, the
    exported graph being static); every model input sees the same images (a Siamese net's two branches)."""
    full = len(inputs) // batch * batch
    if not full:
        raise ExportError(f"{len(inputs)} calibration images are fewer than one batch of {batch}")
    return [tuple([inputs[i:i + batch]] * num_inputs) for i in range(0, full, batch)]


__all__ = ["batches_of", "calibrated"]
