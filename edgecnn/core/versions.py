"""Versions of edgecnn and of the libraries that decide what an artifact holds."""

from __future__ import annotations

from importlib import metadata

__version__ = "0.1.0"  # edgecnn's own; edgecnn/__init__.py re-exports it

RECORDED = ("torch", "torchvision", "onnx", "onnxsim", "onnxruntime", "onnxruntime-gpu", "timm")


def installed_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def library_versions(packages: tuple[str, ...] = RECORDED) -> dict[str, str]:
    """edgecnn's version and those of ``packages`` that are installed."""
    versions = {"edgecnn": __version__}
    for package in packages:
        version = installed_version(package)
        if version is not None:
            versions[package] = version
    return versions
