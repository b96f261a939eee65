"""torch -> ONNX export, verification against PyTorch, onnxsim, metadata."""

from .metadata import ModelMetadata, read_metadata, write_metadata
from .onnx_export import DEFAULT_OPSET, ExportReport, export_onnx, parse_batch
from .verify import VerifyResult, verify_onnx

__all__ = [
    "DEFAULT_OPSET", "ExportReport", "ModelMetadata", "VerifyResult", "export_onnx", "parse_batch",
    "read_metadata", "verify_onnx", "write_metadata",
]
