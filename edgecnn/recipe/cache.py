"""Stage cache: a finished stage's outputs, keyed by a hash of everything that decides them.

A stage's key hashes its name, its settings (the recipe sections it reads), the
sha256 of every input file (upstream artifacts, weights, images), and the
versions of edgecnn and the libraries that produce the artifact. Same key, same
outputs: a re-run of a recipe finds the entry and skips the stage; change one
setting, one image or one library and the stage (and everything after it) runs
again.

Entries are written to a temporary folder and renamed into place only when the
stage has finished, so a crash or Ctrl-C never leaves a half-written entry that
a later run would trust. The digest of every file is recorded with the entry and
checked when it is reused: a file changed or removed since (the run folders hold
hard links to these files) makes the entry damaged, reported and rebuilt. A
per-key lock lets two runs started at once share the work instead of racing.
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

from ..core.versions import __version__, installed_version
from ..data.datasets import is_synthetic
from ..fileio import sha256_file

MARKER = "stage.json"


def key_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """What a cache key records of the software: edgecnn's version and source digest, and each package's
    version ("absent" when it is not installed, so installing it later changes the key)."""
    versions = {"edgecnn": __version__, "edgecnn-source": source_digest()}
    versions.update({package: installed_version(package) or "absent" for package in packages})
    return versions


_source_digest: str | None = None


def source_digest() -> str:
    """A hash of edgecnn's own source files when it runs from a checkout (an editable install or a plain
    source tree), where the version number does not change with the code; "" for an installed release."""
    global _source_digest
    if _source_digest is None:
        _source_digest = _hash_sources() if _is_editable() else ""
    return _source_digest


def _is_editable() -> bool:
    """edgecnn runs from a source tree (an editable install, or a checkout on the path), not from an
    installed release: its code is not inside a site-packages folder."""
    package = Path(__file__).resolve().parents[1]
    return not any(part in ("site-packages", "dist-packages") for part in package.parts)


def _hash_sources() -> str:
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(f"{path.relative_to(package).as_posix()}\n".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:20]


_file_hashes: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (memoised per path, size and modification time within one process)."""

    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _file_hashes:
        _file_hashes[memo] = sha256_file(path)
    return _file_hashes[memo]


def data_digest(source: str) -> str:
    """Content hash of a data source: ``synthetic:...`` by its spec, a folder by its files' names and bytes."""

    if is_synthetic(source):
        return hashlib.sha256(source.encode()).hexdigest()
    root = Path(source)
    if root.is_file():
        return file_digest(root)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}|{file_digest(path)}\n".encode())
    return digest.hexdigest()


@dataclass
class CacheEntry:
    path: Path
    record: dict  # what the stage returned (JSON), plus its key, timing and the digests of its files

    def file(self, name: str) -> Path:
        return self.path / name


class StageCache:
    """``root/<stage>-<key>/``: a finished stage's files and ``stage.json`` (its record and file digests).

    Writers hold a per-key lock (``root/.locks``), so two runs of one recipe started at once build
    each entry once: the second waits and then reuses it. Readers check every file against the digest
    recorded when it was written; an entry changed or emptied afterwards is reported and rebuilt.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _dir(self, stage: str, key: str) -> Path:
        return self.root / f"{stage}-{key[:20]}"

    @contextlib.contextmanager
    def lock(self, stage: str, key: str) -> Iterator[None]:
        """Exclusive across processes for one stage key (POSIX advisory lock; a no-op where there is none)."""
        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{stage}-{key[:20]}.lock", "a+") as handle:
            try:
                import fcntl
            except ImportError:  # Windows: no cross-process lock; entries are still renamed into place whole
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def check(self, stage: str, key: str) -> tuple[CacheEntry | None, str | None]:
        """(the entry, None) when it is there and intact; (None, what is wrong) when it was damaged;
        (None, None) when there is none."""
        folder = self._dir(stage, key)
        marker = folder / MARKER
        if not folder.exists():
            return None, None
        try:
            record = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            return None, f"its {MARKER} is missing or unreadable"
        if record.get("key") != key:
            return None, "its key does not match its folder"
        for name, digest in record.get("files", {}).items():
            path = folder / name
            if not path.is_file():
                return None, f"{name} was removed after it was written"
            if file_digest(path) != digest:
                return None, f"{name} was changed after it was written"
        return CacheEntry(folder, record), None

    def discard(self, stage: str, key: str) -> None:
        shutil.rmtree(self._dir(stage, key), ignore_errors=True)

    @contextlib.contextmanager
    def produce(self, stage: str, key: str) -> Iterator[tuple[Path, dict]]:
        """Yield (work folder, record dict); on success the folder becomes the cache entry, whole."""
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{stage}-", suffix=".partial", dir=self.root))
        record: dict = {}
        started = time.perf_counter()
        try:
            yield work, record
            files = {p.relative_to(work).as_posix(): file_digest(p) for p in sorted(work.rglob("*")) if p.is_file()}
            record.update(key=key, stage=stage, seconds=time.perf_counter() - started,
                          finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), files=files)
            (work / MARKER).write_text(json.dumps(record, indent=1, default=str))
            final = self._dir(stage, key)
            if final.exists():  # --force, or a damaged entry: replace it
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
