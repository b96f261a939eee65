"""Activation ranges from the calibration tensors: ONNX Runtime's calibrators, with a min/max fallback.

The histogram methods (percentile, entropy) build one histogram per activation. An activation that spans almost
no range (a near-constant branch; the random weights of a model-zoo "light" test model) cannot have one: numpy
refuses bins narrower than float32 can tell apart ("Too many bins for data range"). Exactly those tensors keep
their min/max range, what ``--method minmax`` would give them, and every other tensor keeps the method asked for.

The ranges are written to ONNX Runtime's calibration cache (``quantize_static`` then reads them instead of
calibrating), so a fallback travels with them: a tensor without a histogram in a histogram method's cache is one
that fell back (:func:`minmax_fallback`), and a re-run from the cache reports the same.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

HISTOGRAM_METHODS = ("percentile", "entropy")


def _collector_class():
    from onnxruntime.quantization.calibrate import HistogramCollector, TensorData

    class FallbackCollector(HistogramCollector):
        """ORT's histogram collector, one tensor at a time; a tensor whose histogram cannot be built keeps its
        min/max over all the calibration data (the batches before the failure included)."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.minmax: dict[str, tuple] = {}

        def collect(self, name_to_arr):
            for name, arrays in name_to_arr.items():
                if name not in self.minmax:
                    try:
                        super().collect({name: arrays})
                        continue
                    except (ValueError, MemoryError):  # the bins this tensor's span needs cannot exist
                        old = self.histogram_dict.pop(name, None)
                        self.minmax[name] = (old[2], old[3]) if old is not None else None
                self._widen(name, arrays)

        def _widen(self, name, arrays) -> None:
            data = np.concatenate([np.asarray(a).ravel() for a in arrays])
            if data.size == 0:
                return
            low, high = np.nanmin(data), np.nanmax(data)
            old = self.minmax[name]
            self.minmax[name] = (low, high) if old is None else (min(old[0], low), max(old[1], high))

        def compute_collection_result(self):
            result = super().compute_collection_result() if self.histogram_dict else {}
            for name, pair in self.minmax.items():
                if pair is not None:
                    result[name] = TensorData(lowest=pair[0], highest=pair[1])
            return result

    return FallbackCollector


def calibrate(model_path: str | Path, reader, method: str, cache_path: str | Path, *,
              op_types: list[str] | None = None, percentile: float, stride: int | None = None) -> None:
    """The ranges of ``model_path``'s activations on ``reader``'s batches by ``method``, into ORT's calibration
    cache at ``cache_path``: what ``quantize_static`` computes, with the min/max fallback above."""
    from onnxruntime.quantization import CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    calibrate_method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                        "percentile": CalibrationMethod.Percentile}[method]
    op_types = op_types or sorted(set(QLinearOpsRegistry) | set(QDQRegistry))  # quantize_static's default
    with tempfile.TemporaryDirectory(prefix="edgecnn-calib-") as tmp:
        calibrator = create_calibrator(Path(model_path), op_types, str(Path(tmp) / "augmented.onnx"),
                                       calibrate_method=calibrate_method,
                                       extra_options={"percentile": percentile} if method == "percentile" else {})
        if method in HISTOGRAM_METHODS:
            calibrator.collector = _collector_class()(
                method=calibrator.method, symmetric=calibrator.symmetric, num_bins=calibrator.num_bins,
                num_quantized_bins=calibrator.num_quantized_bins, percentile=calibrator.percentile,
                scenario=calibrator.scenario)
        batches = len(reader)
        stride = stride or batches
        for start in range(0, batches, stride):  # one chunk of activations in memory at a time
            reader.set_range(start_index=start, end_index=start + stride)
            calibrator.collect_data(reader)
        tensors = calibrator.compute_data()
        del calibrator
    save_tensors_data(tensors, cache_path)


def minmax_fallback(tensors, method: str) -> list[str]:
    """The tensors of a calibration cache that kept their min/max range instead of ``method``'s (none for minmax)."""
    if method not in HISTOGRAM_METHODS:
        return []
    return sorted(name for name, data in tensors.items() if not hasattr(data, "hist"))
