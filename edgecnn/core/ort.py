"""ONNX Runtime sessions with edgecnn's settings: one factory for verification, quantization and the engine."""

from __future__ import annotations

import os


def make_session(path: str | os.PathLike, threads: int | None = None, providers: list[str] | None = None,
                 spinning: bool = True, profile_prefix: str | None = None, optimization: str | None = None):
    """An ONNX Runtime session with edgecnn's settings; providers are always explicit (CPU by default).
    ``optimization``: a ``GraphOptimizationLevel`` name (``ORT_ENABLE_BASIC``, ...); default ONNX Runtime's own."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spinning:  # spinning threads (ORT's default) disturb other runtimes in the same process
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if optimization:
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, optimization)
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"])
