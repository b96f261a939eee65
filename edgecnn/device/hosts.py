"""Where a bundle is measured: a host reached with the user's own OpenSSH, or this machine with another Python.

A :class:`Host` runs a shell command in a folder and moves files in and out; nothing else.
:class:`SshHost` calls the ``ssh`` program (never a library), so ``~/.ssh/config`` aliases, keys,
the agent and jump hosts work exactly as they do in the user's shell. Files travel as a tar
stream over the same connection (no scp/sftp subsystem needed on the device).
:class:`LocalHost` runs the same protocol in a local temporary folder, with any interpreter
command (a second venv, ``qemu-aarch64-static -L ROOT ROOT/usr/bin/python3``).
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EdgeCNNError, EngineUnavailable


class DeviceError(EdgeCNNError):
    """A device could not be reached or used; the message names the cause and the fix."""


class DeviceUnreachable(DeviceError, EngineUnavailable):
    """ssh itself failed (no answer, login refused): in a recipe run, the device is *unavailable*."""


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


def explain_ssh_failure(host: str, stderr: str) -> str:
    """One line for what OpenSSH said when it could not log in."""
    text = stderr.strip()
    low = text.lower()
    if "permission denied" in low or "too many authentication failures" in low:
        return (f"{host}: authentication refused (the key was not accepted); check the key in ~/.ssh/config or "
                f"'ssh-copy-id {host}', and that 'ssh {host} true' works without a password")
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return f"{host}: its host key is unknown or changed; connect once with 'ssh {host}' to check and accept it"
    for words in ("could not resolve hostname", "name or service not known", "connection refused",
                  "connection timed out", "no route to host", "network is unreachable", "operation timed out",
                  "connection closed", "kex_exchange_identification"):
        if words in low:
            return f"{host}: host unreachable ({words}); check the name, that it is on and that sshd runs"
    last = text.splitlines()[-1] if text else "no message"
    return f"{host}: ssh failed: {last[:200]}"


class Host:
    name: str = "?"
    python: str = "python3"

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | None = None) -> Completed:
        raise NotImplementedError

    def put_folder(self, local: Path, remote: str) -> None:
        """Copy the contents of ``local`` into the (existing) folder ``remote``."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(Path(local).rglob("*")):
                tar.add(path, arcname=str(path.relative_to(local)), recursive=False)
        done = self.run(f"tar xzf - -C {shlex.quote(remote)}", stdin=buffer.getvalue())
        if done.returncode != 0:
            raise DeviceError(f"{self.name}: copying {local} failed: {done.stderr.strip()[-200:]}")

    def read_file(self, remote: str) -> bytes:
        done = self.run(f"cat {shlex.quote(remote)}")
        if done.returncode != 0:
            raise DeviceError(f"{self.name}: {remote} could not be read back: {done.stderr.strip()[-200:]}")
        return done.stdout.encode()


@dataclass
class SshHost(Host):
    """A device reached as ``ssh HOST``: aliases, keys, agent and jump hosts from the user's ssh config."""

    name: str
    python: str = "python3"
    ssh_config: str | None = None  # ssh -F FILE (default: the user's ~/.ssh/config)
    connect_timeout: int = 10
    extra: list[str] = field(default_factory=list)

    def _argv(self, command: str) -> list[str]:
        argv = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}"]
        if self.ssh_config:
            argv += ["-F", self.ssh_config]
        return argv + self.extra + [self.name, "--", command]

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | None = None) -> Completed:
        if shutil.which("ssh") is None:
            raise DeviceError("the OpenSSH client (ssh) is not installed here; install it (apt install "
                              "openssh-client) to measure on devices")
        try:
            done = subprocess.run(self._argv(command), input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"{self.name}: no answer within {timeout:.0f} s") from None
        out = Completed(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))
        if done.returncode == 255:  # ssh's own failure, not the command's
            raise DeviceUnreachable(explain_ssh_failure(self.name, out.stderr))
        return out


@dataclass
class LocalHost(Host):
    """This machine, with ``python`` (a command line: another venv's python, or an emulator running one)."""

    python: str = "python3"
    name: str = "local"

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | None = None) -> Completed:
        try:
            done = subprocess.run(["/bin/sh", "-c", command], input=stdin, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DeviceError(f"local: the command did not finish within {timeout:.0f} s") from None
        return Completed(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


def make_host(spec: str, python: str | None = None, ssh_config: str | None = None) -> Host:
    if spec == "local":
        return LocalHost(python=python or os.environ.get("PYTHON", "python3"))
    return SshHost(spec, python=python or "python3", ssh_config=ssh_config)


def local_temp_parent() -> str:
    return tempfile.gettempdir()
