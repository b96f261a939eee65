"""The bundle's files: sha256 digests and the check of manifest.sha256 (``infer.py --verify``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

MANIFEST = "manifest.sha256"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_manifest(folder: Path) -> list[str]:
    """Problems found checking every file named in manifest.sha256 (empty: all match)."""
    manifest = folder / MANIFEST
    if not manifest.exists():
        return [f"{MANIFEST} is missing"]
    problems = []
    listed = 0
    for line in manifest.read_text().splitlines():
        if not line.strip():
            continue
        expected, _, name = line.partition("  ")
        listed += 1
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != expected:
            problems.append(f"{name} does not match the manifest (it was modified or corrupted)")
    if listed == 0:
        problems.append(f"{MANIFEST} lists no files")
    return problems
