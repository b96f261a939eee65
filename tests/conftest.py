from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _quiet_threads():
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def cli(runner):
    """Invoke the edgecnn CLI; returns click's Result (exit_code, stdout, stderr)."""
    from edgecnn.cli import main

    def invoke(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def interruptible() -> None:
    """``preexec_fn`` for a child process a test will Ctrl-C. A shell that starts the test run in the background
    (``pytest &`` in a script) leaves SIGINT ignored, children inherit that, and Python then never raises
    KeyboardInterrupt: restore the default so the test means the same wherever it is started."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def one_line_error(result) -> str:
    """Assert the CLI failed with exactly one 'error:' line and no traceback; return it."""
    assert result.exit_code != 0, result.output
    text = result.stderr.strip()
    assert "Traceback" not in result.output and "Traceback" not in text
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    return lines[0]


def partial_files(directory: Path) -> list[Path]:
    return [p for p in Path(directory).iterdir() if p.name.endswith(".partial")]
