"""PyTorch -> ExecuTorch ``.pte`` on the XNNPACK backend (``edgecnn export MODEL --format pte``).

``torch.export.export`` -> ``to_edge_transform_and_lower`` with the ``XnnpackPartitioner`` -> ``to_executorch``,
the path ExecuTorch documents for CPUs; INT8 is PT2E with its ``XNNPACKQuantizer`` (symmetric INT8 weights, per
channel by default, asymmetric INT8 activations), calibrated before lowering. The delegation report comes from
``get_delegation_info`` on the lowered program (a ``.pte`` cannot say it afterwards), and it travels with the
metadata in the sidecar ``MODEL.pte.json``. Verified with ExecuTorch's own runtime (``executorch.runtime``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DependencyMissing, UsageError
from .delegation import DelegationReport, from_counts
from .mobile import Lowered, MobileFormat

PACKAGE = EXTRA = "executorch"  # the pip package, and edgecnn's extra that installs it
LIBRARIES = (PACKAGE, "torchao")  # whose versions a .pte's metadata records


def require_executorch() -> None:
    try:
        import executorch.exir  # noqa: F401
        import executorch.runtime  # noqa: F401
    except ImportError:
        raise DependencyMissing(PACKAGE, extra=EXTRA, purpose="ExecuTorch .pte files") from None


def xnnpack_quantizer(per_channel: bool = True) -> Any:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )

    return XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel))


def lower(module, example: tuple, quantizer: Any = None) -> Lowered:
    """``module`` (a float model, or the Q/DQ graph PT2E made) as a ``.pte`` program on XNNPACK."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    if quantizer is not None:  # the out variants of (de)quantize for operators XNNPACK leaves to the portable kernels
        import executorch.kernels.quantized  # noqa: F401

    with torch.no_grad():
        exported = torch.export.export(module, example)
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    graph = edge.exported_program().graph_module
    report = delegation_of(graph)
    outside = [op for op in report.fallback_ops if "per_channel" in op]
    if outside:  # ExecuTorch 1.5's portable quantize_per_channel asserts (aborting the process) on float scales
        raise UsageError(f"ExecuTorch runs per-channel INT8 only inside XNNPACK, and {', '.join(report.fallback_ops)} "
                         "fall back to its portable kernels here: quantize with --per-tensor")
    return Lowered(content=bytes(edge.to_executorch().buffer), delegation=report,
                   nodes=report.delegated + report.fallback)


def delegation_of(graph_module) -> DelegationReport:
    """ExecuTorch's own count of the operators inside and outside XNNPACK's subgraphs."""
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    frame = info.get_operator_delegation_dataframe()
    counts = {str(row.op_type): (int(row.occurrences_in_delegated_graphs), int(row.occurrences_in_non_delegated_graphs))
              for row in frame.itertuples() if str(row.op_type) != "Total"}
    return from_counts("XNNPACK", int(info.num_delegated_subgraphs), counts,
                       "executorch.devtools.backend_debug.get_delegation_info at export")


def set_threads(threads: int | None) -> None:
    """ExecuTorch's thread pool is process-wide (XNNPACK uses it); by default it has every logical core."""
    if threads:
        from executorch.extension.pybindings import portable_lib

        portable_lib._unsafe_reset_threadpool(int(threads))


def runner(path: str, threads: int | None = None):
    """A call on input arrays -> output arrays, with ExecuTorch's runtime on ``path``."""
    import torch
    from executorch.runtime import Runtime

    set_threads(threads)
    method = Runtime.get().load_program(path).load_method("forward")

    def run(inputs: list[np.ndarray]) -> list[np.ndarray]:
        outs = method.execute([torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in inputs])
        return [o.numpy() for o in outs]

    return run


FORMAT = MobileFormat(name="pte", suffix=".pte", exporter=PACKAGE, runtime="ExecuTorch (XNNPACK)",
                      require=require_executorch, quantizer=xnnpack_quantizer, fold=True, lower=lower, embed=None,
                      runner=runner, libraries=LIBRARIES)

__all__ = ["FORMAT", "delegation_of", "lower", "require_executorch", "runner", "set_threads", "xnnpack_quantizer"]
