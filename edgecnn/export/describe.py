"""What an exported file says of itself, whatever its format: architecture, task, I/O, preprocessing contract,
labels and provenance (:class:`~edgecnn.core.metadata.ModelMetadata`). ONNX keeps it in ``metadata_props``,
a ``.tflite`` in its flatbuffer metadata, a ``.pte`` in a sidecar (:func:`~edgecnn.core.metadata.sidecar_path`)."""

from __future__ import annotations

from ..core.metadata import ModelMetadata, library_versions
from ..core.versions import RECORDED
from ..zoo import LoadedModel


def describe(loaded: LoadedModel, input_names: list[str], output_names: list[str], shape: list,
             export: dict, layout: str = "NCHW", libraries: tuple[str, ...] = ()) -> ModelMetadata:
    """The metadata of a file exported from ``loaded``; ``export`` says how (exporter, opset or backend, batch);
    ``libraries``: the versions to record besides the usual ones (the format's converter and runtime)."""
    spec = loaded.spec
    checkpoint = loaded.weights.checkpoint or {} if loaded.weights else {}
    return ModelMetadata(
        architecture=spec.name, task=spec.task, input_names=input_names, output_names=output_names,
        input_shape=shape, layout=layout, preprocess=spec.preprocess, labels=loaded.labels,
        weights_sha256=loaded.weights.sha256 if loaded.weights else "",
        weights_source=loaded.weights.path.name if loaded.weights else "random init",
        versions=library_versions(RECORDED + libraries),
        export={**export, "num_classes": loaded.num_classes},
        # a Siamese net's decision threshold, chosen on validation pairs when it was trained
        extra={"threshold": str(checkpoint["threshold"])} if "threshold" in checkpoint else {},
    )
