"""Code that must be identical on the host and on the device: edgecnn imports it, and every bundle ships this
package verbatim as the folder ``edgecnn_device/`` beside ``infer.py``.

It needs only the standard library, numpy and pillow (no torch, no onnx, no edgecnn: its modules import one
another relatively and nothing else), so it runs wherever a bundle runs (x86-64, aarch64 boards). What lives
here cannot drift between ``edgecnn profile`` on the host and ``infer.py`` on the device, one module a concern:

* ``preprocessing``: the preprocessing contract's numpy/PIL path (resize, crop, normalise, CHW float32);
* ``segmentation``, ``similarity``: the tasks' metrics, tiling, masks and pairs;
* ``manifest``: the bundle manifest check; ``stats``: the latency statistics; ``timing``: the timed loop;
* ``memory``: the peak RSS of a phase; ``environment``: the CPU and environment block;
* ``results``: the results schema's rows; ``options``: the device-side options' declarations;
* ``quantized_io``: float <-> INT8 for a model with integer inputs and outputs (a full-integer ``.tflite``);
* ``layers``: per-layer times (ONNX Runtime's profiler trace, ExecuTorch's ETDump) and their ranking;
* ``sensors``: the CPU clock, temperature, throttling and energy read before, between and after timed calls.
"""

from __future__ import annotations

from .environment import (
    EMULATED_WARNING,
    FAKE_ARCH_ENV,
    FAKE_FLAGS_ENV,
    FAKE_MODEL_ENV,
    ISA_FLAGS,
    X86_ONLY_FLAGS,
    cpu_info,
    environment_block,
    looks_emulated,
)
from .layers import etdump_rows, ort_node_times, rank_layers
from .manifest import MANIFEST, sha256_file, verify_manifest
from .memory import MEMORY_PASS_RUNS, SAMPLER_THREAD, PeakRss, current_rss, memory_pass
from .options import DECLARATIONS, Declaration
from .preprocessing import (
    IMAGE_EXTENSIONS,
    PIL_FILTERS,
    native_array,
    pil_filter,
    preprocess,
    resize_and_crop,
    resized_size,
    to_mode,
)
from .quantized_io import from_tensor, quantizer_of, to_tensor
from .results import MIB, RESULTS_SCHEMA, RESULTS_VERSION, device_label, results_row
from .segmentation import confusion, mask_classes, predict_tiled, read_mask_file, segmentation_metrics, tile_plan
from .similarity import best_threshold, cosine_similarity, draw_pairs, roc_auc, verification_metrics
from .stats import latency_stats
from .sensors import NO_SENSOR, SensorLog
from .timing import cold_start, process_age_s, time_calls
