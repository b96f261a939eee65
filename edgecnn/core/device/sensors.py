"""The machine's state while it is measured: CPU clock, temperature, throttling and energy, read from the kernel's
files (and a board's own tools), on the host and on the device alike.

Every reader takes ``root`` (default ``/``) so the tests feed it a fake ``/sys`` tree through the same parsing code:

* clock: ``sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq`` against ``cpuinfo_max_freq`` (kHz);
* temperature: ``sys/class/thermal/thermal_zone*/{type,temp}`` (millidegrees);
* energy: Intel/AMD RAPL, ``sys/class/powercap/intel-rapl:N/{name,energy_uj,max_energy_range_uj}`` (the package
  domains; the counter wraps at ``max_energy_range_uj``), and NVIDIA Jetson's INA3221 rails
  (``sys/class/hwmon/hwmon*/`` named ``ina3221``: ``in*_input`` mV and ``curr*_input`` mA, sampled);
* throttling: a Raspberry Pi's ``vcgencmd get_throttled`` bits; a Jetson's power mode from ``nvpmodel -q``.

A reading is taken before, between and after the timed calls, never beside them (no thread: the timed window
stays clean). Where a sensor is missing the result says "not measured: no sensor", never an estimate.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

CLOCK_DROP = 0.9  # a run whose clock fell below 90 % of the highest it showed is flagged
HOT_C = 80.0  # a temperature from which boards throttle (a Raspberry Pi's soft limit is 80 degrees C)
# vcgencmd get_throttled: bits 0-3 now, 16-19 since boot
THROTTLE_BITS = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit"}
NO_SENSOR = "not measured: no sensor"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _number(path: Path) -> float | None:
    text = _read(path)
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _sorted_paths(pattern: str) -> list[Path]:
    def key(path: str):
        digits = "".join(c if c.isdigit() else " " for c in path).split()
        return [int(d) for d in digits], path

    return [Path(p) for p in sorted(glob.glob(pattern), key=key)]


def read_cpufreq(root: str | os.PathLike = "/") -> dict[str, dict[str, float]]:
    """{cpu: {"cur_khz", "max_khz"}} for each CPU with a cpufreq folder ({} where the kernel exposes none, as in
    most VMs)."""
    found = {}
    for folder in _sorted_paths(str(Path(root) / "sys/devices/system/cpu/cpu[0-9]*/cpufreq")):
        cur = _number(folder / "scaling_cur_freq")
        if cur is None:
            continue
        entry = {"cur_khz": cur}
        top = _number(folder / "cpuinfo_max_freq")
        if top:
            entry["max_khz"] = top
        found[folder.parent.name] = entry
    return found


def read_thermal(root: str | os.PathLike = "/") -> dict[str, float]:
    """{zone type (or zone name): degrees C} of each thermal zone that reads."""
    found = {}
    for zone in _sorted_paths(str(Path(root) / "sys/class/thermal/thermal_zone[0-9]*")):
        value = _number(zone / "temp")
        if value is None:
            continue
        name = _read(zone / "type") or zone.name
        if name in found:
            name = f"{name} ({zone.name})"
        found[name] = value / 1000
    return found


def read_rapl(root: str | os.PathLike = "/") -> dict[str, tuple[float, float | None]]:
    """{domain name: (energy_uj, max_energy_range_uj)} of the top-level RAPL domains (a package each; their
    core/uncore/dram subdomains are parts of it and left out, so nothing is counted twice)."""
    found = {}
    for domain in _sorted_paths(str(Path(root) / "sys/class/powercap/intel-rapl:[0-9]*")):
        if domain.name.count(":") != 1:
            continue  # intel-rapl:0:0 (core) is inside intel-rapl:0 (package-0)
        energy = _number(domain / "energy_uj")
        if energy is None:  # unreadable (root only on recent kernels)
            continue
        found[_read(domain / "name") or domain.name] = (energy, _number(domain / "max_energy_range_uj"))
    return found


def read_power_rails(root: str | os.PathLike = "/") -> dict[str, float]:
    """{rail: milliwatts} of a Jetson's INA3221 monitors (hwmon: in*_input mV x curr*_input mA)."""
    found = {}
    for hwmon in _sorted_paths(str(Path(root) / "sys/class/hwmon/hwmon[0-9]*")):
        if (_read(hwmon / "name") or "") != "ina3221":
            continue
        for volts in _sorted_paths(str(hwmon / "in[0-9]*_input")):
            channel = volts.name[2:].split("_")[0]
            millivolts, milliamps = _number(volts), _number(hwmon / f"curr{channel}_input")
            if millivolts is None or milliamps is None:
                continue
            label = _read(hwmon / f"in{channel}_label") or f"{hwmon.name} channel {channel}"
            found[label] = millivolts * milliamps / 1000
    return found


def _run_tool(command: list[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def parse_throttled(text: str | None) -> int | None:
    """``throttled=0x50005`` (vcgencmd get_throttled) -> 0x50005."""
    if not text or "=" not in text:
        return None
    try:
        return int(text.strip().split("=", 1)[1], 16)
    except ValueError:
        return None


def throttle_words(bits: int, since_boot: bool = False) -> list[str]:
    """The conditions ``bits`` (vcgencmd get_throttled) says are on now, or have happened since boot."""
    shift = 16 if since_boot else 0
    return [word for bit, word in THROTTLE_BITS.items() if bits >> (bit + shift) & 1]


def parse_nvpmodel(text: str | None) -> str | None:
    """``NV Power Mode: MAXN\\n0`` (nvpmodel -q) -> "MAXN (mode 0)"."""
    if not text:
        return None
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("nv power mode")), None)
    number = next((ln for ln in lines if ln.isdigit()), None)
    if name is None:
        return None
    return f"{name} (mode {number})" if number is not None else name


class SensorLog:
    """Readings of one measurement: :meth:`read` before, between and after the timed calls; :meth:`summary` says
    what they show (the clock's lowest against its highest, the hottest zone, throttling, energy per inference).

    ``root`` is the file system's root (a fake tree in tests); ``tools`` runs the board tools (vcgencmd, nvpmodel)
    and returns their output or None (tests give their own)."""

    def __init__(self, root: str | os.PathLike = "/", tools=_run_tool):
        self.root, self.tools = Path(root), tools
        self.samples: list[dict] = []
        self.power_mode = parse_nvpmodel(tools(["nvpmodel", "-q"]))
        self._throttle_start = parse_throttled(tools(["vcgencmd", "get_throttled"]))
        self._rapl_start: dict | None = None
        self._started = None

    def read(self) -> dict:
        """One reading (clock, temperatures, power rails), kept with its time."""
        sample = {"t": time.perf_counter(), "cpufreq": read_cpufreq(self.root), "thermal": read_thermal(self.root)}
        rails = read_power_rails(self.root)
        if rails:
            sample["power_mw"] = rails
        self.samples.append(sample)
        return sample

    def start(self) -> None:
        """The timed window opens: a reading and the energy counters' start."""
        self.read()
        self._rapl_start = read_rapl(self.root)
        self._started = time.perf_counter()

    def stop(self, inferences: int) -> dict:
        """The timed window closed after ``inferences`` calls: a last reading and :meth:`summary`."""
        seconds = time.perf_counter() - (self._started or time.perf_counter())
        rapl_end = read_rapl(self.root)
        self.read()
        return self.summary(inferences, seconds, rapl_end)

    def summary(self, inferences: int, seconds: float, rapl_end: dict | None = None) -> dict:
        clocks = [c["cur_khz"] for s in self.samples for c in s["cpufreq"].values()]
        tops = [c["max_khz"] for s in self.samples for c in s["cpufreq"].values() if "max_khz" in c]
        temps = [t for s in self.samples for t in s["thermal"].values()]
        flags: list[str] = []
        out: dict = {"samples": len(self.samples)}
        if clocks:
            out["clock_mhz"] = {"min": min(clocks) / 1000, "max": max(clocks) / 1000,
                                **({"rated_max": max(tops) / 1000} if tops else {})}
            if min(clocks) < CLOCK_DROP * max(clocks):
                flags.append(f"clock dropped to {min(clocks) / 1000:.0f} MHz from {max(clocks) / 1000:.0f} MHz "
                             "during the run (throttling or a power-saving governor)")
        else:
            out["clock_mhz"] = NO_SENSOR
        if temps:
            out["temperature_c"] = {"start": max(self.samples[0]["thermal"].values(), default=None),
                                    "max": max(temps), "end": max(self.samples[-1]["thermal"].values(), default=None)}
            if max(temps) >= HOT_C:
                flags.append(f"{max(temps):.0f} degrees C during the run (boards throttle from about {HOT_C:.0f})")
        else:
            out["temperature_c"] = NO_SENSOR
        throttle_end = parse_throttled(self.tools(["vcgencmd", "get_throttled"]))
        if throttle_end is not None:
            out["throttled"] = hex(throttle_end)
            now = throttle_words(throttle_end)
            newly = [w for w in throttle_words(throttle_end, since_boot=True)
                     if self._throttle_start is None or w not in throttle_words(self._throttle_start, since_boot=True)]
            if now or newly:
                flags.append("throttled (vcgencmd): " + ", ".join(dict.fromkeys(now + newly)))
        if self.power_mode:
            out["power_mode"] = self.power_mode
        out["energy"] = self._energy(inferences, seconds, rapl_end)
        out["flags"] = flags
        return out

    def _energy(self, inferences: int, seconds: float, rapl_end: dict | None) -> dict:
        start = self._rapl_start or {}
        if start and rapl_end and inferences:
            joules = 0.0
            for name, (begin, wrap) in start.items():
                if name not in rapl_end:
                    continue
                end = rapl_end[name][0]
                delta = end - begin if end >= begin else end + (wrap or 0) - begin  # the counter wrapped
                joules += delta / 1e6
            return {"sensor": "RAPL " + " + ".join(start), "mj_per_inference": 1000 * joules / inferences,
                    "watts": joules / seconds if seconds > 0 else None, "seconds": seconds,
                    "note": "the whole package's energy over the timed window, shared with whatever else ran"}
        rails = [s["power_mw"] for s in self.samples if "power_mw" in s]
        if rails and inferences and seconds > 0:
            mean_mw = sum(sum(r.values()) for r in rails) / len(rails)
            return {"sensor": "INA3221 rails " + " + ".join(rails[0]), "mj_per_inference": mean_mw * seconds / inferences,
                    "watts": mean_mw / 1000, "seconds": seconds,
                    "note": f"mean of {len(rails)} readings of the rails' power between timed calls, times the window"}
        return {"sensor": None, "mj_per_inference": None, "note": NO_SENSOR}


__all__ = ["CLOCK_DROP", "HOT_C", "NO_SENSOR", "SensorLog", "parse_nvpmodel", "parse_throttled", "read_cpufreq",
           "read_power_rails", "read_rapl", "read_thermal", "throttle_words"]
