"""The environment block: CPU model, ISA flags, cores, governor and temperature, OS, Python, versions.

Self-contained (standard library only, no imports of this package): ``edgecnn device run`` sends this file's
source alone to a device to read its identity."""

from __future__ import annotations

from pathlib import Path

ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_int8", "amx_bf16", "amx_tile", "asimd", "asimddp", "asimdhp", "i8mm", "bf16", "sve", "sve2")


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip("\x00 \n")
    except OSError:
        return None


# A CPU's flags can be faked, for the tests that run every ISA branch on any machine and for planning for a
# device one does not have: EDGECNN_CPU_FLAGS replaces the flags /proc/cpuinfo lists (space- or comma-separated),
# EDGECNN_CPU_ARCH the architecture, EDGECNN_CPU_MODEL the model name. The block then says "faked": true.
FAKE_FLAGS_ENV, FAKE_ARCH_ENV, FAKE_MODEL_ENV = "EDGECNN_CPU_FLAGS", "EDGECNN_CPU_ARCH", "EDGECNN_CPU_MODEL"


def cpu_info(root: str | Path = "/") -> dict:
    """CPU model, ISA flags and cores; on ARM boards also the board (device tree) and the CPU part.
    ``root``: where /proc and /sys are (a test gives a fake tree)."""
    import os
    import platform

    root = Path(root)
    model, flags, part, implementer, family_model = "", set(), None, None, {}
    for line in (_read(root / "proc/cpuinfo") or "").splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key in ("model name", "Hardware", "cpu model") and not model:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key in ("cpu family", "model") and key not in family_model and value.isdigit():
            family_model[key] = value
        elif key == "CPU part" and part is None:
            part = value
        elif key == "CPU implementer" and implementer is None:
            implementer = value
    board = _read(root / "proc/device-tree/model")
    arch = platform.machine()
    faked = FAKE_FLAGS_ENV in os.environ
    if faked:
        flags = set(os.environ[FAKE_FLAGS_ENV].replace(",", " ").split())
        arch = os.environ.get(FAKE_ARCH_ENV, arch)
        model = os.environ.get(FAKE_MODEL_ENV, model)
    info = {
        "model": model or board or platform.processor() or arch,
        "arch": arch,
        "isa": [f for f in ISA_FLAGS if f in flags],
        "vnni": bool({"avx512_vnni", "avx_vnni", "asimddp"} & flags),
        "bf16": bool({"avx512_bf16", "amx_bf16", "bf16"} & flags),
        "amx": bool({"amx_int8", "amx_bf16"} & flags),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    }
    if faked:
        info["faked"] = True
    if len(family_model) == 2 and not faked:  # x86: a VM may hide the generation from the model name ("AMD EPYC")
        info["family_model"] = f"{family_model['cpu family']}/{family_model['model']}"
    if board:
        info["board"] = board
    if part:
        info["cpu_part"] = part if implementer is None else f"{implementer}:{part}"
    governor = _read(root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor:
        info["governor"] = governor
    temperature = _read(root / "sys/class/thermal/thermal_zone0/temp")
    if temperature and temperature.lstrip("-").isdigit():
        info["temperature_c"] = int(temperature) / 1000
    return info


X86_ONLY_FLAGS = ("sse4_2", "avx", "avx2", "avx512f")


def looks_emulated(cpu: dict) -> bool:
    """An ARM process reading an x86 CPU's flags (or the reverse): a user-mode emulator such as qemu-user 7,
    which passes the host's /proc/cpuinfo through; or an ARM CPU whose implementer is 0x00, which the ARM
    architecture reserves for software (qemu-user 8 and later write their own /proc/cpuinfo with it). Its
    latency is the emulator's, not the device's."""
    arch = str(cpu.get("arch", "")).lower()
    isa = set(cpu.get("isa", []))
    x86_flags = bool(isa & set(X86_ONLY_FLAGS))
    if arch.startswith(("aarch64", "arm")):
        software_implementer = str(cpu.get("cpu_part", "")).split(":")[0] in ("0x00", "0x0")
        return x86_flags or (":" in str(cpu.get("cpu_part", "")) and software_implementer)
    if arch in ("x86_64", "amd64", "i686", "i386"):
        return bool(isa) and not x86_flags and bool(isa & {"asimd", "asimddp", "sve"})
    return False


EMULATED_WARNING = "measured under an emulator: the latency is the emulator's, not the device's"


def environment_block(threads: int | None, versions: dict[str, str], cpu: dict | None = None) -> dict:
    """What a figure needs beside it to be comparable: CPU, ISA, cores, threads, OS, Python, versions."""
    import platform

    cpu = cpu or cpu_info()
    return {"cpu": cpu, "threads": threads, "os": platform.platform(), "python": platform.python_version(),
            "versions": dict(versions), "emulated": looks_emulated(cpu)}
