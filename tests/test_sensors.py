"""The machine's state during a measurement, read from a fake /sys tree (a root prefix) by the real parsing code:
clock drops, heat, a Raspberry Pi's throttle bits, RAPL energy (with its counter wrapping), a Jetson's rails and
power mode, and a machine with none of them said to be "not measured"."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edgecnn.core.device.sensors import (
    NO_SENSOR,
    SensorLog,
    parse_nvpmodel,
    parse_throttled,
    read_cpufreq,
    read_power_rails,
    read_rapl,
    read_thermal,
    throttle_words,
)
from edgecnn.core.device.timing import time_calls


def write(root: Path, relative: str, value) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{value}\n")


def set_clock(root: Path, khz: int, cpus: int = 2, top: int = 2_400_000) -> None:
    for cpu in range(cpus):
        write(root, f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", khz)
        write(root, f"sys/devices/system/cpu/cpu{cpu}/cpufreq/cpuinfo_max_freq", top)


def no_tools(command):
    return None


def test_readers_parse_the_kernels_files(tmp_path):
    set_clock(tmp_path, 1_800_000)
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "cpu-thermal")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", 61234)
    write(tmp_path, "sys/class/thermal/thermal_zone1/type", "gpu-thermal")
    write(tmp_path, "sys/class/thermal/thermal_zone1/temp", 55000)
    write(tmp_path, "sys/class/powercap/intel-rapl:0/name", "package-0")
    write(tmp_path, "sys/class/powercap/intel-rapl:0/energy_uj", 123456)
    write(tmp_path, "sys/class/powercap/intel-rapl:0/max_energy_range_uj", 262143328850)
    write(tmp_path, "sys/class/powercap/intel-rapl:0:0/name", "core")  # inside package-0: not counted again
    write(tmp_path, "sys/class/powercap/intel-rapl:0:0/energy_uj", 100000)
    assert read_cpufreq(tmp_path) == {"cpu0": {"cur_khz": 1_800_000, "max_khz": 2_400_000},
                                      "cpu1": {"cur_khz": 1_800_000, "max_khz": 2_400_000}}
    assert read_thermal(tmp_path) == {"cpu-thermal": pytest.approx(61.234), "gpu-thermal": 55.0}
    assert read_rapl(tmp_path) == {"package-0": (123456, 262143328850)}


def test_a_clock_that_dropped_during_the_run_is_flagged(tmp_path):
    set_clock(tmp_path, 2_400_000)
    log = SensorLog(tmp_path, tools=no_tools)
    log.start()
    set_clock(tmp_path, 1_500_000)  # the board throttled mid-run
    log.read()
    state = log.stop(inferences=100)
    assert state["clock_mhz"] == {"min": 1500, "max": 2400, "rated_max": 2400}
    assert any("clock dropped to 1500 MHz from 2400 MHz" in flag for flag in state["flags"])


def test_a_steady_clock_and_a_cool_board_are_not_flagged(tmp_path):
    set_clock(tmp_path, 2_350_000)
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", 48000)
    log = SensorLog(tmp_path, tools=no_tools)
    log.start()
    set_clock(tmp_path, 2_300_000)  # within 10 %
    state = log.stop(inferences=10)
    assert state["flags"] == []
    assert state["temperature_c"] == {"start": 48.0, "max": 48.0, "end": 48.0}


def test_heat_is_flagged(tmp_path):
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", 70000)
    log = SensorLog(tmp_path, tools=no_tools)
    log.start()
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", 85200)
    state = log.stop(inferences=10)
    assert state["temperature_c"]["max"] == 85.2 and state["temperature_c"]["start"] == 70.0
    assert any("85 degrees C during the run" in flag for flag in state["flags"])


def test_raspberry_pi_throttle_bits(tmp_path):
    assert parse_throttled("throttled=0x50005\n") == 0x50005
    assert parse_throttled("garbage") is None and parse_throttled(None) is None
    assert throttle_words(0x50005) == ["under-voltage", "throttled"]
    assert throttle_words(0x50005, since_boot=True) == ["under-voltage", "throttled"]
    answers = iter(["throttled=0x0\n", "throttled=0x40004\n"])  # at the start, then at the end: throttled now

    def vcgencmd(command):
        return next(answers) if command[0] == "vcgencmd" else None

    log = SensorLog(tmp_path, tools=vcgencmd)
    log.start()
    state = log.stop(inferences=10)
    assert state["throttled"] == "0x40004"
    assert any(flag.startswith("throttled (vcgencmd): throttled") for flag in state["flags"])


def test_throttling_before_the_run_is_not_blamed_on_it(tmp_path):
    answers = iter(["throttled=0x50000\n", "throttled=0x50000\n"])  # happened since boot, not now, not during

    log = SensorLog(tmp_path, tools=lambda command: next(answers) if command[0] == "vcgencmd" else None)
    log.start()
    assert log.stop(inferences=10)["flags"] == []


def test_rapl_energy_per_inference_and_a_wrapped_counter(tmp_path):
    write(tmp_path, "sys/class/powercap/intel-rapl:0/name", "package-0")
    write(tmp_path, "sys/class/powercap/intel-rapl:0/max_energy_range_uj", 10_000_000)
    write(tmp_path, "sys/class/powercap/intel-rapl:0/energy_uj", 9_000_000)
    log = SensorLog(tmp_path, tools=no_tools)
    log.start()
    write(tmp_path, "sys/class/powercap/intel-rapl:0/energy_uj", 1_000_000)  # wrapped at 10 J: 2 J were used
    energy = log.stop(inferences=100)["energy"]
    assert energy["sensor"] == "RAPL package-0"
    assert energy["mj_per_inference"] == pytest.approx(20.0)  # 2 J / 100


def test_jetson_rails_and_power_mode(tmp_path):
    hwmon = "sys/class/hwmon/hwmon3"
    write(tmp_path, f"{hwmon}/name", "ina3221")
    write(tmp_path, f"{hwmon}/in1_label", "VDD_IN")
    write(tmp_path, f"{hwmon}/in1_input", 5000)  # mV
    write(tmp_path, f"{hwmon}/curr1_input", 1200)  # mA
    write(tmp_path, "sys/class/hwmon/hwmon0/name", "cpu_thermal")
    assert read_power_rails(tmp_path) == {"VDD_IN": 6000.0}
    assert parse_nvpmodel("NV Power Mode: MAXN\n0\n") == "MAXN (mode 0)"
    assert parse_nvpmodel("NV Power Mode: 15W\n") == "15W" and parse_nvpmodel(None) is None
    log = SensorLog(tmp_path, tools=lambda c: "NV Power Mode: 15W\n2\n" if c[0] == "nvpmodel" else None)
    log.start()
    log.read()
    state = log.stop(inferences=60)
    assert state["power_mode"] == "15W (mode 2)"
    energy = state["energy"]
    assert energy["sensor"] == "INA3221 rails VDD_IN" and energy["watts"] == pytest.approx(6.0)
    assert energy["mj_per_inference"] == pytest.approx(6000 * energy["seconds"] / 60)


def test_a_machine_without_sensors_says_not_measured(tmp_path):
    log = SensorLog(tmp_path, tools=no_tools)
    log.start()
    state = log.stop(inferences=10)
    assert state["clock_mhz"] == NO_SENSOR and state["temperature_c"] == NO_SENSOR
    assert state["energy"] == {"sensor": None, "mj_per_inference": None, "note": NO_SENSOR}
    assert state["flags"] == [] and "power_mode" not in state and "throttled" not in state


def test_readings_run_between_timed_calls_in_the_timing_thread():
    inside, overlaps, readers, starts = [False], [], [], []

    def call():
        inside[0] = True
        time.sleep(0.002)
        inside[0] = False

    def reading():
        overlaps.append(inside[0])
        readers.append(threading.current_thread().name)

    threads_before = threading.active_count()
    times = time_calls(call, warmup_s=0.0, min_runs=5, min_time_s=0.3, between=reading, every_s=0.05, starts=starts)
    assert len(readers) >= 3 and not any(overlaps)  # never while a call runs
    assert set(readers) == {threading.current_thread().name} and threading.active_count() == threads_before
    assert len(starts) == len(times) and starts == sorted(starts) and starts[0] < 0.01 and starts[-1] > 0.25
