"""The CPU block every figure carries, read from fake /proc trees, and each decision edgecnn takes from it
(VNNI, BF16, AMX, ARM dotprod, emulation) taken both ways on any machine."""

from __future__ import annotations

import pytest

from edgecnn.core.device import cpu_info, looks_emulated

SAPPHIRE_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni avx_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
ZEN1_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC 7551 32-Core Processor
flags\t\t: fpu sse4_2 avx avx2 fma
"""
PI5_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
CPU part\t: 0xd0b
"""


def _tree(root, cpuinfo: str, board: str | None = None, governor: str | None = None):
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "cpuinfo").write_text(cpuinfo)
    if board:
        (root / "proc" / "device-tree").mkdir()
        (root / "proc" / "device-tree" / "model").write_text(board + "\x00")
    if governor:
        folder = root / "sys/devices/system/cpu/cpu0/cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_governor").write_text(governor + "\n")
    return root


def test_cpu_info_reads_an_amx_xeon(tmp_path):
    cpu = cpu_info(_tree(tmp_path, SAPPHIRE_CPUINFO, governor="performance"))
    assert cpu["model"] == "Intel(R) Xeon(R) Platinum 8480+" and cpu["family_model"] == "6/143"
    assert cpu["vnni"] and cpu["bf16"] and cpu["amx"] and cpu["governor"] == "performance"
    assert {"avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16"} <= set(cpu["isa"]) and "faked" not in cpu


def test_cpu_info_reads_a_zen1(tmp_path):
    cpu = cpu_info(_tree(tmp_path, ZEN1_CPUINFO))
    assert cpu["family_model"] == "23/1" and cpu["isa"] == ["sse4_2", "avx", "avx2", "fma"]
    assert not cpu["vnni"] and not cpu["bf16"] and not cpu["amx"] and "governor" not in cpu


def test_cpu_info_reads_a_raspberry_pi_5(tmp_path):
    cpu = cpu_info(_tree(tmp_path, PI5_CPUINFO, board="Raspberry Pi 5 Model B Rev 1.0"))
    assert cpu["model"] == "Raspberry Pi 5 Model B Rev 1.0" and cpu["board"] == cpu["model"]
    assert cpu["cpu_part"] == "0x41:0xd0b" and cpu["vnni"] and not cpu["bf16"]  # dotprod counts as VNNI
    assert {"asimd", "asimddp", "asimdhp"} <= set(cpu["isa"])


def test_the_flags_can_be_faked(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECNN_CPU_FLAGS", "asimd,asimddp bf16")
    monkeypatch.setenv("EDGECNN_CPU_ARCH", "aarch64")
    cpu = cpu_info(_tree(tmp_path, SAPPHIRE_CPUINFO))
    assert cpu["faked"] and cpu["arch"] == "aarch64" and cpu["isa"] == ["asimd", "asimddp", "bf16"]
    assert cpu["bf16"] and cpu["vnni"] and not cpu["amx"] and "family_model" not in cpu


def test_a_missing_proc_is_not_an_error(tmp_path):
    cpu = cpu_info(tmp_path)
    assert cpu["isa"] == [] and not cpu["vnni"] and cpu["model"]


@pytest.mark.parametrize("arch, isa, emulated", [
    ("aarch64", ["sse4_2", "avx", "avx2"], True),  # qemu-user passes the x86 host's flags through
    ("aarch64", ["asimd", "asimddp"], False),
    ("x86_64", ["asimd", "asimddp"], True),
    ("x86_64", ["sse4_2", "avx2"], False),
    ("x86_64", [], False),
])
def test_emulation_is_told_by_flags_of_the_other_architecture(arch, isa, emulated):
    assert looks_emulated({"arch": arch, "isa": isa}) is emulated


@pytest.mark.parametrize("cpu_part, emulated", [
    ("0x00:0x051", True),  # qemu-user 8 and later write their own cpuinfo: implementer 0x00, reserved for software
    ("0x41:0xd0b", False),  # an Arm Cortex-A76 (a Raspberry Pi 5)
    ("0xd0b", False),  # no implementer line: nothing to tell by
])
def test_emulation_is_told_by_the_software_implementer_of_qemus_own_cpuinfo(cpu_part, emulated):
    assert looks_emulated({"arch": "aarch64", "isa": ["asimd", "asimddp", "sve2"], "cpu_part": cpu_part}) is emulated


@pytest.mark.parametrize("cpu, says_no_vnni", [("zen1", True), ("zen4", False), ("sapphire_rapids", False),
                                               ("cortex_a76", False)])
def test_int8_slowness_is_blamed_on_a_missing_vnni_only_where_it_is_missing(cpu, says_no_vnni, fake_cpu):
    from edgecnn.quantize.speed import explain

    fake_cpu(cpu)
    lines = explain(10.0, 11.0, {"Sigmoid": 16}, 10)
    assert any("has no VNNI" in line for line in lines) is says_no_vnni
    assert explain(10.0, 5.0, {}, 10) == []


def test_the_device_identity_runs_environment_py_alone_on_a_bare_interpreter():
    """``edgecnn device run`` reads a device's identity by sending edgecnn/core/device/environment.py's source alone
    to its Python: it needs nothing but the standard library (no site-packages here, no package around it)."""
    import shlex
    import sys

    from edgecnn.device.hosts import LocalHost
    from edgecnn.device.run import device_identity

    identity = device_identity(LocalHost(), f"{shlex.quote(sys.executable)} -I -S")
    mine = cpu_info()
    mine.pop("temperature_c", None)
    assert identity["cpu"] == mine and identity["emulated"] == looks_emulated(mine)
