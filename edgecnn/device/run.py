"""``edgecnn device run``: measure a bundle on the device itself and bring the figures home.

For each host, one worker (several hosts run in parallel, never two measurements on one device):

1. check the device: reachable, a Python >= 3.9, enough disk space in its temporary folder;
2. make a fresh temporary folder there and copy the bundle (and the labelled images) into it;
3. with ``setup``: a venv from the bundle's requirements.txt, made once per device and requirements
   (``~/.cache/edgecnn/venv-<digest>``), reused after; without it the runtime must be importable;
4. run ``infer.py --profile`` there (edgecnn's own timing, memory and environment code, shipped in
   the bundle), read its results file back, and remove the temporary folder, also on failure and
   Ctrl-C (unless ``keep``).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..core.device import environment as device_environment
from ..core.device.options import BATCHES, THREADS, TIMING
from ..core.options import OptionError, check_options, opt
from ..engines.registry import all_device_modules, device_modules
from ..errors import UsageError
from ..profile.options import TargetShape, Timing
from .hosts import DeviceError, DeviceUnreachable, Host

MIN_PYTHON = (3, 9)


def _existing_file(value) -> str | None:
    import os

    return None if os.path.isfile(str(value)) else f"is not a file: {value}"


@dataclass
class DeviceConnection:
    """How a device is reached (``edgecnn device run``'s flags, a recipe device's keys)."""

    python: str | None = opt(None, "The interpreter on the device (default python3); with the host local any "
                                   "command, e.g. 'ROOT/qemu-aarch64 -L ROOT ROOT/usr/bin/python3' "
                                   "(benchmarks/emulated_aarch64.sh).", metavar="CMD")
    ssh_config: str | None = opt(None, "An ssh config file to use instead of ~/.ssh/config (ssh -F).",
                                 check=_existing_file, metavar="FILE")


@dataclass
class DeviceAccess:
    """How a device is used, whatever is measured on it (``edgecnn device run``'s flags, a recipe's devices)."""

    setup: bool = opt(False, "Create (once per device, then reuse) a venv with the bundle's requirements.txt.")
    keep: bool = opt(False, "Leave the temporary folder on the device (for debugging).")
    timeout_s: float = opt(1800.0, "Give up on a device after this many seconds.", min=1.0)
    emulated: bool = opt(False, "Mark the device's figures as measured under an emulator (detected by itself when "
                                "an ARM process reads x86 CPU flags, as under qemu-user 7, or a CPU implementer "
                                "0x00, as under qemu 8 and later).")
    per_layer: bool = opt(False, "Also the device's slowest layers (ONNX Runtime's profiler, after the timed runs); "
                                 "the report shows them beside the host's.")

    def __post_init__(self) -> None:
        check_options(self)


@dataclass
class DeviceOptions(Timing, TargetShape, DeviceAccess):
    """How a bundle is measured on a device: the profile's batch sizes, threads and timing, plus the access."""

    def __post_init__(self) -> None:
        TargetShape.__post_init__(self)
        check_options(self)
        if self.scenarios != ["single-stream"]:
            raise OptionError("scenarios", "must be single-stream on a device: infer.py --profile measures one "
                                           "request at a time", type(self))


@dataclass
class DeviceResult:
    host: str
    results: dict | None = None
    error: str | None = None
    log: list[str] = field(default_factory=list)


def _q(text: str) -> str:
    return shlex.quote(text)


def _python_version(host: Host, python: str) -> tuple[int, int]:
    done = host.run(f"{python} -c 'import sys; print(sys.version_info[0], sys.version_info[1])'", timeout=120)
    if done.returncode != 0:  # 127: the shell found no such command, so this device is not there
        error = DeviceUnreachable if done.returncode == 127 else DeviceError
        raise error(f"{host.name}: no Python as '{python}' ({done.stderr.strip()[-120:] or 'not found'}); "
                    "install Python >= 3.9 or pass --python")
    major, minor = (int(v) for v in done.stdout.split()[:2])
    if (major, minor) < MIN_PYTHON:
        raise DeviceError(f"{host.name}: Python {major}.{minor} is too old; infer.py needs Python >= 3.9 "
                          "(pass --python with a newer one)")
    return major, minor


def _free_kib(host: Host, folder: str) -> int | None:
    done = host.run(f"df -Pk {_q(folder)} | tail -1", timeout=60)
    try:
        return int(done.stdout.split()[3])
    except (IndexError, ValueError):
        return None


def _size_kib(path: Path | None) -> int:
    if path is None:
        return 0
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) // 1024 + 1


def _ensure_runtime(host: Host, python: str, requirements: str, setup: bool, log) -> str:
    """The interpreter that runs infer.py: ``python`` itself, or a venv with the bundle's ``requirements`` (``setup``)."""
    modules = ", ".join(("numpy", "PIL", *device_modules(requirements)))
    if setup:
        digest = hashlib.sha256(requirements.encode()).hexdigest()[:12]
        venv = f"$HOME/.cache/edgecnn/venv-{digest}"
        ready = host.run(f'test -x "{venv}/bin/python" && "{venv}/bin/python" -c "import {modules}"', timeout=300)
        if ready.returncode != 0:
            log(f"{host.name}: creating {venv} from requirements.txt (once for this device)")
            made = host.run(f'mkdir -p "$HOME/.cache/edgecnn" && {python} -m venv "{venv}" && '
                            f'"{venv}/bin/python" -m pip install -q -r /dev/stdin', timeout=3600,
                            stdin=requirements.encode())
            if made.returncode != 0:
                raise DeviceError(f"{host.name}: setting up the runtime failed: {made.stderr.strip()[-300:]}")
        return f'"{venv}/bin/python"'
    check = host.run(f"{python} -c 'import {modules}'", timeout=300)
    if check.returncode != 0:
        missing = check.stderr.strip().splitlines()[-1] if check.stderr.strip() else "an import failed"
        raise DeviceError(f"{host.name}: the runtime is missing ({missing}); pass --setup to install the bundle's "
                          "requirements.txt into a venv on the device")
    return python


# what a device's figures depend on besides the bundle; its temperature is not part of its identity
IDENTITY_SCRIPT = """
import json, platform
cpu = cpu_info()
cpu.pop("temperature_c", None)
runtime = {}
for name in RUNTIME_MODULES:
    try:
        runtime[name] = __import__(name).__version__
    except Exception:
        pass
print(json.dumps({"cpu": cpu, "python": platform.python_version(), "os": platform.system(), "runtime": runtime,
                  "emulated": looks_emulated(cpu)}))
"""


def device_identity(host: Host, runner: str) -> dict:
    """The identity the device reports (board, CPU, ISA, cores, governor, Python, runtime versions): what a
    cached device measurement is keyed on besides the bundle."""
    source = (Path(device_environment.__file__).read_text() + f"RUNTIME_MODULES = {all_device_modules()!r}\n"
              + IDENTITY_SCRIPT)  # self-contained: sent alone
    done = host.run(f"{runner} -", stdin=source.encode(), timeout=300)
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise DeviceError(f"{host.name}: reading the device's identity failed: {last[:300]}")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise DeviceError(f"{host.name}: the device's identity was not readable: {done.stdout[-200:]!r}") from None


def prepare(host: Host, requirements: str, setup: bool, log=lambda line: None) -> str:
    """Check the device (reachable, Python >= 3.9) and its runtime for a bundle's ``requirements`` (the text of
    its requirements.txt); return the interpreter that runs infer.py."""
    _python_version(host, host.python)
    return _ensure_runtime(host, host.python, requirements, setup, log)


def measure_on(host: Host, bundle: Path, data: Path | None, options: DeviceOptions, device_name: str | None,
               log=lambda line: None, runner: str | None = None) -> dict:
    """The protocol for one device; returns the results dict ``infer.py --profile`` wrote there.
    ``runner``: the interpreter :func:`prepare` returned (checked already), else it is checked here."""
    python = host.python
    if runner is None:
        _python_version(host, python)
    made = host.run("mktemp -d \"${TMPDIR:-/tmp}/edgecnn.XXXXXX\"", timeout=60)
    if made.returncode != 0 or not made.stdout.strip():
        raise DeviceError(f"{host.name}: cannot make a temporary folder: {made.stderr.strip()[-200:]}")
    remote = made.stdout.strip()
    try:
        free = _free_kib(host, remote)
        needed = _size_kib(bundle) + _size_kib(data) + 1024
        if free is not None and free < needed:
            raise DeviceError(f"{host.name}: no disk space: {free} KiB free in {remote}, {needed} KiB needed; free "
                              "some space or set TMPDIR on the device")
        if runner is None:
            runner = _ensure_runtime(host, python, (bundle / "requirements.txt").read_text(), options.setup, log)
        host.run(f"mkdir -p {_q(remote)}/bundle {_q(remote)}/data", timeout=60)
        host.put_folder(bundle, f"{remote}/bundle")
        if data is not None:
            host.put_folder(data, f"{remote}/data")
        # infer.py's flags for these options are built from the same declarations (edgecnn_device/options.py)
        args = ["--profile", "--results", f"{remote}/results.json",
                BATCHES.flag_name, ",".join(map(str, options.batches))]
        for declaration in TIMING:
            args += [declaration.flag_name, str(getattr(options, declaration.name))]
        if options.threads:
            args += [THREADS.flag_name, str(options.threads)]
        if data is not None:
            args += ["--data", f"{remote}/data"]
        if device_name:
            args += ["--device-name", device_name]
        if options.emulated:
            args += ["--emulated"]
        if options.per_layer:
            args += ["--per-layer"]
        log(f"{host.name}: measuring ({', '.join(f'batch {b}' for b in options.batches)})")
        done = host.run(f"cd {_q(remote)}/bundle && {runner} infer.py --verify {' '.join(_q(a) for a in args)}",
                        timeout=options.timeout_s)
        if done.returncode != 0:
            last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            if "No module named" in last:
                raise DeviceError(f"{host.name}: the runtime is missing ({last}); pass --setup")
            raise DeviceError(f"{host.name}: infer.py --profile failed: {last[:300]}")
        return json.loads(host.read_file(f"{remote}/results.json"))
    finally:
        if not options.keep:
            host.run(f"rm -rf {_q(remote)}", timeout=120)
        else:
            log(f"{host.name}: kept {remote}")


def run_on_devices(hosts: list[Host], bundle: Path, data: Path | None, options: DeviceOptions,
                   device_names: dict[str, str] | None = None, log=lambda line: None) -> list[DeviceResult]:
    """Every host in parallel, one worker each; a failure on one device does not stop the others."""
    if len({h.name for h in hosts}) != len(hosts):
        raise UsageError("each --host may be given once (one measurement per device at a time)")
    lock = threading.Lock()

    def say(line: str) -> None:
        with lock:
            log(line)

    def one(host: Host) -> DeviceResult:
        result = DeviceResult(host.name)
        try:
            result.results = measure_on(host, bundle, data, options, (device_names or {}).get(host.name), say)
        except DeviceError as exc:
            result.error = str(exc)
        return result

    pool = ThreadPoolExecutor(max_workers=len(hosts))
    futures = [pool.submit(one, host) for host in hosts]
    try:
        return [future.result() for future in futures]
    except KeyboardInterrupt:
        # Ctrl-C reached the ssh children too; each worker's cleanup (rm -rf of its folder) runs before we stop
        pool.shutdown(wait=True)
        raise
    finally:
        pool.shutdown(wait=True)
