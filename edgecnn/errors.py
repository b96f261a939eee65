"""The exception tree every user-facing failure goes through.

Each error carries a message that says what was wrong and what to do about it.
The CLI prints ``str(error)`` on one line (exit code 2 for usage errors, 1 for
other failures) and shows a traceback only with ``--debug``.
"""

from __future__ import annotations


class EdgeCNNError(Exception):
    """Base class of every error edgecnn raises on purpose."""

    exit_code = 1


class UsageError(EdgeCNNError):
    """The request itself is wrong (bad option value, unknown name, ...)."""

    exit_code = 2


class UnknownModelError(UsageError):
    """A model name that is not in the registry."""


class WeightsError(EdgeCNNError):
    """A weights file is missing, unreadable, unsafe or does not fit the model."""


class HeadMismatchError(WeightsError):
    """A weights file whose classifier head does not fit the requested model."""


class OutputExistsError(UsageError):
    """The output file exists and ``--force`` was not given."""


class OutputPathError(EdgeCNNError):
    """The output path cannot be written."""


class ExportError(EdgeCNNError):
    """torch -> ONNX export, checking or simplification failed."""


class VerificationError(ExportError):
    """The exported model disagrees with PyTorch past the tolerance."""


class DependencyMissing(EdgeCNNError):
    """An optional dependency (timm, tensorrt, openvino, ...) is not installed."""

    def __init__(self, package: str, extra: str | None = None, purpose: str = ""):
        hint = f"pip install 'edgecnn[{extra}]'" if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"{package} is not installed{what}; install it with: {hint}")
        self.package = package


class EngineUnavailable(EdgeCNNError):
    """The engine cannot run here (library missing, no GPU)."""


class ModelFileError(EdgeCNNError):
    """A file given as a model is not a readable model (truncated, not ONNX, ...)."""
