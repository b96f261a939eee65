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


# ---------------------------------------------------------------- faked CPUs
# The CPUs edgecnn's ISA branches are decided for, as /proc/cpuinfo would list them. Every branch behind a CPU
# feature runs on every machine through these (core.device.cpu_info reads EDGECNN_CPU_FLAGS), so a branch never
# runs for the first time on someone else's CPU.
FAKE_CPUS = {
    "zen1": ("x86_64", "AMD EPYC 7551", "sse4_2 avx avx2 fma"),
    "zen4": ("x86_64", "AMD EPYC 9R14", "sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16"),
    "sapphire_rapids": ("x86_64", "Intel Xeon Platinum 8480+",
                        "sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx_vnni avx512_bf16 amx_tile amx_int8 "
                        "amx_bf16"),
    "cortex_a76": ("aarch64", "Raspberry Pi 5", "asimd asimddp asimdhp"),
    "graviton3": ("aarch64", "Neoverse-V1", "asimd asimddp asimdhp i8mm bf16 sve"),
}


@pytest.fixture
def fake_cpu(monkeypatch):
    """``fake_cpu("zen1")`` makes every cpu_info() in this process, and in the processes it starts, read that CPU's
    flags; returns the block cpu_info() then gives."""
    from edgecnn.core import device
    from edgecnn.envinfo import cpu_info

    def fake(name: str) -> dict:
        arch, model, flags = FAKE_CPUS[name]
        monkeypatch.setenv(device.FAKE_FLAGS_ENV, flags)
        monkeypatch.setenv(device.FAKE_ARCH_ENV, arch)
        monkeypatch.setenv(device.FAKE_MODEL_ENV, model)
        cpu_info.cache_clear()
        return cpu_info()

    yield fake
    monkeypatch.undo()
    cpu_info.cache_clear()


@pytest.fixture(autouse=True, scope="session")
def no_loader_workers_in_the_pytest_process():
    """The suite forks no DataLoader workers from its own process: on an AMX Xeon a kernel-sent SIGSEGV followed
    them (docs/testing.md). A test that trains in-process passes workers=0; one that needs workers runs a process
    of its own."""
    from torch.utils.data import dataloader

    original = dataloader._MultiProcessingDataLoaderIter.__init__

    def refuse(self, loader):
        raise AssertionError("a DataLoader with worker processes in the pytest process: pass workers=0, or run "
                             "the training in a subprocess (docs/testing.md)")

    dataloader._MultiProcessingDataLoaderIter.__init__ = refuse
    yield
    dataloader._MultiProcessingDataLoaderIter.__init__ = original
