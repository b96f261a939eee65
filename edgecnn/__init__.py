"""edgecnn: take convolutional networks from PyTorch to edge devices.

The Python API mirrors the command line::

    from edgecnn.zoo import create_model
    from edgecnn.export import export_onnx

    loaded = create_model("mobilenet_v2", num_classes=12)
    report = export_onnx(loaded, "mobilenet_v2.onnx", batch="dynamic")
"""

from .core.versions import __version__  # noqa: F401
