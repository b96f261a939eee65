"""Stage cache: a finished stage's outputs, keyed by a hash of everything that decides them.

A stage's key hashes its name, its settings (the recipe sections it reads), the
sha256 of every input file (upstream artifacts, weights, images), and the
versions of edgecnn and the libraries that produce the artifact. Same key, same
outputs: a re-run of a recipe finds the entry and skips the stage; change one
setting, one image or one library and the stage (and everything after it) runs
again.

Entries are written to a temporary folder and renamed into place only when the
stage has finished, so a crash or Ctrl-C never leaves a half-written entry that
a later run would trust.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

MARKER = "stage.json"


def _versions() -> dict:
    from ..export.metadata import library_versions

    return library_versions()


_file_hashes: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (memoised per path, size and modification time within one process)."""
    from ..fileio import sha256_file

    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _file_hashes:
        _file_hashes[memo] = sha256_file(path)
    return _file_hashes[memo]


def data_digest(source: str) -> str:
    """Content hash of a data source: ``synthetic:...`` by its spec, a folder by its files' names and bytes."""
    from ..data.datasets import is_synthetic

    if is_synthetic(source):
        return hashlib.sha256(source.encode()).hexdigest()
    root = Path(source)
    if root.is_file():
        return file_digest(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}|{file_digest(path)}\n".encode())
    return digest.hexdigest()


def stage_key(stage: str, settings: dict, inputs: dict[str, str] | None = None) -> str:
    """``inputs``: name -> content digest of each input (file_digest / data_digest)."""
    payload = {"stage": stage, "settings": settings, "inputs": inputs or {}, "versions": _versions()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class CacheEntry:
    path: Path
    record: dict  # what the stage returned (JSON), plus its key and timing

    def file(self, name: str) -> Path:
        return self.path / name


class StageCache:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _dir(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key[:20]}"

    def lookup(self, stage: str, key: str) -> CacheEntry | None:
        folder = self._dir(stage, key)
        marker = folder / MARKER
        if not marker.exists():
            return None
        try:
            record = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if record.get("key") != key:
            return None
        return CacheEntry(folder, record)

    @contextlib.contextmanager
    def produce(self, stage: str, key: str) -> Iterator[tuple[Path, dict]]:
        """Yield (work folder, record dict); on success the folder becomes the cache entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{stage}-", suffix=".partial", dir=self.root))
        record: dict = {}
        started = time.perf_counter()
        try:
            yield work, record
            record.update(key=key, stage=stage, seconds=time.perf_counter() - started,
                          finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            (work / MARKER).write_text(json.dumps(record, indent=1, default=str))
            final = self._dir(stage, key)
            if final.exists():  # --force, or a stale entry: replace it
                shutil.rmtree(final)
            os.replace(work, final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise


def link_or_copy(source: Path, target: Path) -> None:
    """Place ``source`` at ``target`` as a hard link (no extra disk) or, across filesystems, a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
