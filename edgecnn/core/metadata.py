"""How an ONNX file records what it is and how it was made (``metadata_props``).

Keys are prefixed ``edgecnn.``; structured values are JSON. The preprocessing
contract travels here, so every later stage (quantization calibration,
profiling accuracy, bundles) reads it instead of keeping a second copy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import onnx

from .onnx_io import load_onnx
from .preprocess import PreprocessSpec
from .versions import library_versions  # noqa: F401  (re-exported: metadata records them)

PREFIX = "edgecnn."
FORMAT_VERSION = "1"


@dataclass
class ModelMetadata:
    architecture: str
    task: str
    input_names: list[str]
    output_names: list[str]
    input_shape: list[Any]  # [batch or "batch", C, H, W]
    layout: str
    preprocess: PreprocessSpec
    labels: list[str]
    weights_sha256: str  # "" when the weights were randomly initialised
    weights_source: str
    versions: dict[str, str] = field(default_factory=dict)
    export: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)  # keys written by later stages

    def to_props(self) -> dict[str, str]:
        props = {
            "format_version": FORMAT_VERSION,
            "architecture": self.architecture,
            "task": self.task,
            "input_names": json.dumps(self.input_names),
            "output_names": json.dumps(self.output_names),
            "input_shape": json.dumps(self.input_shape),
            "layout": self.layout,
            "preprocess": self.preprocess.to_json(),
            "labels": json.dumps(self.labels),
            "num_classes": str(len(self.labels)),
            "weights_sha256": self.weights_sha256,
            "weights_source": self.weights_source,
            "versions": json.dumps(self.versions, sort_keys=True),
            "export": json.dumps(self.export, sort_keys=True),
        }
        props.update(self.extra)
        return {PREFIX + k: v for k, v in props.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> "ModelMetadata":
        ours = {k[len(PREFIX):]: v for k, v in props.items() if k.startswith(PREFIX)}
        if "architecture" not in ours or "preprocess" not in ours:
            raise KeyError("no edgecnn metadata")
        known = {"format_version", "architecture", "task", "input_names", "output_names", "input_shape",
                 "layout", "preprocess", "labels", "num_classes", "weights_sha256", "weights_source",
                 "versions", "export"}
        return cls(
            architecture=ours["architecture"],
            task=ours.get("task", "classification"),
            input_names=json.loads(ours.get("input_names", "[]")),
            output_names=json.loads(ours.get("output_names", "[]")),
            input_shape=json.loads(ours.get("input_shape", "[]")),
            layout=ours.get("layout", "NCHW"),
            preprocess=PreprocessSpec.from_dict(json.loads(ours["preprocess"])),
            labels=json.loads(ours.get("labels", "[]")),
            weights_sha256=ours.get("weights_sha256", ""),
            weights_source=ours.get("weights_source", ""),
            versions=json.loads(ours.get("versions", "{}")),
            export=json.loads(ours.get("export", "{}")),
            extra={k: v for k, v in ours.items() if k not in known},
        )


def write_metadata(model: onnx.ModelProto, metadata: ModelMetadata) -> None:
    """Replace the edgecnn keys of ``model.metadata_props`` with ``metadata``."""
    others = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for key, value in others + sorted(metadata.to_props().items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


def read_metadata(model: onnx.ModelProto | str | os.PathLike) -> ModelMetadata | None:
    """The edgecnn metadata of an ONNX model or file, or None if it has none."""
    if not isinstance(model, onnx.ModelProto):
        model = load_onnx(os.fspath(model), external_data=False)
    try:
        return ModelMetadata.from_props({p.key: p.value for p in model.metadata_props})
    except (KeyError, ValueError, TypeError):
        return None


def metadata_json(metadata: ModelMetadata) -> str:
    """The same keys as an ONNX file's ``metadata_props``, as one JSON object: what a ``.tflite`` carries in its
    flatbuffer metadata and a ``.pte`` in its sidecar (formats without string properties)."""
    return json.dumps(metadata.to_props(), sort_keys=True)


def metadata_from_json(text: str | bytes) -> ModelMetadata | None:
    """The inverse of :func:`metadata_json`; None when the text holds no edgecnn metadata."""
    try:
        return ModelMetadata.from_props(json.loads(text))
    except (KeyError, ValueError, TypeError, AttributeError):
        return None


def sidecar_path(artifact: str | os.PathLike) -> str:
    """Where the metadata of a file whose format has no room for it lives: ``model.pte`` -> ``model.pte.json``."""
    return os.fspath(artifact) + ".json"
