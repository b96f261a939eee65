"""One ``edgecnn device run``: bundle if needed, measure on every host, write one results file per device."""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from ..bundle.builder import build_bundle
from ..errors import UsageError
from ..fileio import atomic_path, check_output_path
from ..report.render import table_rows
from .hosts import make_host
from .run import DeviceOptions, DeviceResult, run_on_devices


@dataclass
class DeviceRunOutcome:
    results: list[DeviceResult] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[DeviceResult]:
        return [r for r in self.results if r.error]


def results_file(output: str | Path, host: str) -> Path:
    return Path(output) / f"device-{re.sub(r'[^A-Za-z0-9_.-]+', '_', host)}.json"


def device_run(artifact: str | Path, hosts: list[str], *, data: str | Path | None = None, python: str | None = None,
               ssh_config: str | None = None, options: DeviceOptions | None = None,
               device_names: dict[str, str] | None = None, output: str | Path = ".", force: bool = False,
               log=lambda line: None) -> DeviceRunOutcome:
    options = options or DeviceOptions()
    artifact = Path(artifact)
    if not hosts:
        raise UsageError("give at least one --host")
    for host in hosts:  # refuse an existing results file before anything runs
        check_output_path(results_file(output, host), force)
    data = Path(data) if data else None
    with tempfile.TemporaryDirectory(prefix="edgecnn-device-") as tmp:
        if artifact.is_dir():
            if not (artifact / "infer.py").exists() or not (artifact / "preprocess.json").exists():
                raise UsageError(f"{artifact} is not a bundle (no infer.py and preprocess.json); make one with "
                                 "'edgecnn bundle MODEL.onnx -o DIR' or pass the .onnx file")
            bundle = artifact
        else:
            bundle = Path(tmp) / "bundle"
            log(f"bundling {artifact}")
            build_bundle(artifact, bundle)
        targets = [make_host(h, python=python, ssh_config=ssh_config) for h in hosts]
        outcome = DeviceRunOutcome(run_on_devices(targets, bundle, data, options, device_names, log))
    for result in outcome.results:
        if result.error:
            outcome.lines.append(f"error: {result.error}")
            continue
        path = results_file(output, result.host)
        with atomic_path(path, force=force) as tmp_file:
            tmp_file.write_text(json.dumps(result.results, indent=1))
        outcome.files[result.host] = path
        headers, rows = table_rows(result.results)
        outcome.lines += [f"{result.host}: {result.results['device']}",
                          tabulate(rows, headers=headers, disable_numparse=True), f"results: {path}", ""]
    return outcome
