"""Atomic artifact writes: a temp file beside the target, renamed into place.

An artifact is either complete or absent: an exception or Ctrl-C midway removes
the temp file, and an existing file is never replaced unless ``force`` is set.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputExistsError, OutputPathError


def check_output_path(path: str | os.PathLike, force: bool = False) -> Path:
    """Validate that ``path`` may be written; raise a one-line error if not."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"output path {path} is a directory; give a file name")
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass --force to overwrite it")
    parent = path.parent
    if not parent.exists():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputPathError(f"cannot create directory {parent}: {exc.strerror}") from None
    if not parent.is_dir():
        raise OutputPathError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise OutputPathError(f"cannot write to {parent}: permission denied")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``path`` on success.

    On any exception (KeyboardInterrupt included) the temporary file is removed
    and ``path`` is left as it was.
    """
    path = check_output_path(path, force)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise OutputPathError(f"cannot write to {path.parent}: {exc.strerror}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
