"""An engine declared outside edgecnn: ONNX Runtime with only its basic graph optimizations (constant folding,
redundant-node elimination; no operator fusion), as the engine ``ort-basic``.

A real engine module, as an engine author would write one: it declares its Engine (here: ONNX Runtime's, with
another name, another session setting and the same setting on the device) and nothing in edgecnn names it.
tests/test_ownership.py registers it with :func:`edgecnn.engines.registry.register` and names this file in
``EDGECNN_ENGINE_MODULES`` so that the processes edgecnn starts (recipe profile stages) register it too.
Not collected by pytest (no ``test_`` prefix).
"""

from __future__ import annotations

from dataclasses import replace

from edgecnn.engines.ort_engine import ENGINE as ORT
from edgecnn.engines.ort_engine import OrtRunner, model_info_from_onnx
from edgecnn.engines.spec import LoadRequest

LEVEL = "ORT_ENABLE_BASIC"  # an onnxruntime.GraphOptimizationLevel name


def load(request: LoadRequest) -> OrtRunner:
    return OrtRunner(request.artifact, threads=request.threads, info=model_info_from_onnx(request.artifact),
                     optimization=LEVEL)


ENGINE = replace(
    ORT, name="ort-basic", title="ONNX Runtime CPU, basic graph optimizations", load=load,
    default_for=(),  # ort stays the default for ONNX files
    placement=None,  # it runs ONNX Runtime's INT8 placement (sources), it adds none of its own
    device=replace(ORT.device, options={"graph_optimization_level": LEVEL}),  # infer.py applies it on the device
    colour="#ff7f0e",
)
ENGINES = (ENGINE,)
