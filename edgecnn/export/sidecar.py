"""The sidecar of a file whose format has no room for edgecnn's metadata (ExecuTorch's ``.pte``):
``MODEL.pte.json`` beside it, holding the metadata keys an ONNX file has and the export's delegation report.
Bundles ship it with the file. Light: no torch, no runtime."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..core.metadata import ModelMetadata, metadata_from_json, metadata_json, sidecar_path
from ..errors import UsageError
from ..fileio import atomic_path
from .delegation import DelegationReport


def write_sidecar(path: str, meta: ModelMetadata, delegation: DelegationReport | None, force: bool = True) -> None:
    """``MODEL.pte.json``: the metadata keys (as an ONNX file's) and the delegation report."""
    payload = {"metadata": json.loads(metadata_json(meta)),
               "delegation": delegation.to_dict() if delegation else None}
    with atomic_path(path, force=force) as tmp:
        tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))


def read_sidecar(artifact: str | os.PathLike) -> tuple[ModelMetadata | None, DelegationReport | None]:
    """The metadata and delegation report :func:`write_sidecar` left beside ``artifact`` (None, None without one)."""
    path = Path(sidecar_path(artifact))
    if not path.is_file():
        return None, None
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        raise UsageError(f"{path} is not a readable edgecnn sidecar (JSON)") from None
    meta = metadata_from_json(json.dumps(payload.get("metadata", {})))
    delegation = DelegationReport.from_dict(payload["delegation"]) if payload.get("delegation") else None
    return meta, delegation


__all__ = ["read_sidecar", "write_sidecar"]
