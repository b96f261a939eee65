"""Stages declared as data, run as a dependency graph, each keyed by its declaration.

A :class:`Stage` says what it reads (artifacts other stages write, data sources), how it is
configured (an options dataclass or a dict), which libraries and whether the machine decide
its result, and what it writes. :class:`GraphRun` runs the stages in order, skips the ones
whose inputs did not come, and derives every cache key from the declaration alone:

    key = sha256(stage name, settings, digests of the input artifacts, digests of the data,
                 versions of the declared libraries, edgecnn's version and source digest,
                 the machine's identity for machine-bound stages, the identity a remote
                 device reports for stages measured on it)

so a setting cannot be left out of a key by hand. Outcomes are uniform: done, cached (with
the original duration), failed, unavailable (an engine that is not on this machine), skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..envinfo import cpu_info, gpu_info
from ..errors import DependencyMissing, EdgeCNNError, EngineUnavailable
from .cache import CacheEntry, StageCache, data_digest, key_versions, link_or_copy


@dataclass
class StageContext:
    """What a stage's body gets: where to write, where its inputs are, a record to fill, and logging."""

    work: Path
    inputs: dict[str, Path]
    record: dict
    log: Callable[[str], None]
    note: Callable[[str], None]  # run.log only
    progress: bool = False

    def input(self, name: str) -> Path:
        return self.inputs[name]

    def output(self, name: str) -> Path:
        """Where to write declared output ``name`` (entries are flat: the file name is kept)."""
        return self.work / Path(name).name


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[StageContext], None]
    outputs: tuple[str, ...] = ()  # paths relative to the run folder, e.g. artifacts/model_fp32.onnx
    needs: tuple[str, ...] = ()  # outputs of earlier stages
    settings: Any = None  # a dataclass or a JSON-able dict: part of the key
    data: dict[str, str] = field(default_factory=dict)  # name -> data source (folder, file, synthetic:...)
    libraries: tuple[str, ...] = ()
    machine: bool = False  # its result depends on this machine (timings, engines): keyed on its identity
    gpu: bool = False  # and on its GPU
    cached: bool = True
    check: Callable[[], None] | None = None  # raises EngineUnavailable before any input is read
    identity: Callable[[], dict] | None = None  # what a remote device reports about itself: part of the key


@dataclass
class StageOutcome:
    name: str
    status: str  # done | cached | failed | unavailable | skipped
    seconds: float = 0.0
    message: str = ""


def machine_identity(gpu: bool = False) -> dict:
    """What timings (and TensorRT engines) depend on besides the artifact: host, CPU, cores (and GPU)."""
    import socket

    cpu = cpu_info()
    identity = {"host": socket.gethostname(), "cpu": cpu["model"], "cores": cpu["usable_cores"]}
    if gpu:
        identity["gpu"] = (gpu_info() or {}).get("name")
    return identity


def _settings(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


def stage_key(stage: Stage, input_digests: dict[str, str], identity: dict | None = None) -> str:
    payload = {
        "stage": stage.name,
        "settings": _settings(stage.settings),
        "inputs": input_digests,
        "data": {name: data_digest(source) for name, source in sorted(stage.data.items()) if source},
        "versions": key_versions(stage.libraries),
        "machine": machine_identity(stage.gpu) if stage.machine else None,
        "device": identity,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class GraphRun:
    """Run ``stages`` (declared in dependency order) against ``cache``, linking outputs into ``run_dir``."""

    def __init__(self, stages: list[Stage], cache: StageCache, run_dir: Path, *, log: Callable[[str], None],
                 note: Callable[[str], None], force: bool = False, rerun: tuple[str, ...] = (),
                 progress: bool = False):
        self.stages, self.cache, self.run_dir = stages, cache, run_dir
        self.log, self.note, self.force, self.rerun, self.progress = log, note, force, tuple(rerun), progress
        self.producer: dict[str, Stage] = {}
        for stage in stages:
            for need in stage.needs:
                if need not in self.producer:
                    raise ValueError(f"stage {stage.name} needs {need}, which no earlier stage writes")
            for out in stage.outputs:
                if out in self.producer:
                    raise ValueError(f"{out} is written by both {self.producer[out].name} and {stage.name}")
                self.producer[out] = stage
        self.entries: dict[str, CacheEntry] = {}
        self.outcomes: list[StageOutcome] = []

    def run(self, until: Callable[[Stage], bool] = lambda stage: False) -> list[StageOutcome]:
        for stage in self.stages:
            if until(stage):
                break
            self.run_one(stage)
        return self.outcomes

    def _forced(self, name: str) -> bool:
        return self.force or any(name.startswith(prefix) for prefix in self.rerun)

    def path(self, output: str) -> Path:
        return self.run_dir / output

    def run_one(self, stage: Stage) -> StageOutcome:
        index = len(self.outcomes) + 1
        missing = sorted({self.producer[n].name for n in stage.needs if self.producer[n].name not in self.entries},
                         key=[s.name for s in self.stages].index)
        if missing:
            outcome = StageOutcome(stage.name, "skipped", message=f"needs {', '.join(missing)}, which did not finish")
        else:
            self.log(f"[{index}] {stage.name} ...")
            started = time.perf_counter()
            try:
                status, message = self._execute(stage)
            except (EngineUnavailable, DependencyMissing) as exc:
                status, message = "unavailable", str(exc)
            except EdgeCNNError as exc:
                status, message = "failed", str(exc)
                self.note(traceback.format_exc())
            except Exception as exc:  # an unanticipated error in one stage must not lose the others
                status, message = "failed", f"{type(exc).__name__}: {exc} (traceback in run.log)"
                self.note(traceback.format_exc())
            outcome = StageOutcome(stage.name, status, time.perf_counter() - started, message)
        self.outcomes.append(outcome)
        timing = f" in {outcome.seconds:.1f} s" if outcome.status in ("done", "cached") else ""
        line = f"[{index}] {stage.name}: {outcome.status}{timing}" + (f": {outcome.message}" if outcome.message else "")
        self.log(line)
        self.note(line)
        return outcome

    def _execute(self, stage: Stage) -> tuple[str, str]:
        if stage.check is not None:
            stage.check()
        inputs = {need: self.path(need) for need in stage.needs}
        if not stage.cached:
            stage.run(StageContext(self.run_dir, inputs, {}, self.log, self.note, self.progress))
            self.entries[stage.name] = CacheEntry(self.run_dir, {})
            return "done", ""
        digests = {need: self.entries[self.producer[need].name].record["files"][Path(need).name] for need in stage.needs}
        key = stage_key(stage, digests, stage.identity() if stage.identity else None)
        status, message = "done", ""
        with self.cache.lock(stage.name, key):  # a second run of the same recipe waits here, then reuses the entry
            entry, damage = (None, None) if self._forced(stage.name) else self.cache.check(stage.name, key)
            if damage:
                self.log(f"    note: the cached {stage.name} entry is damaged ({damage}); rebuilding it")
                self.note(f"damaged cache entry {stage.name}-{key[:20]}: {damage}")
                self.cache.discard(stage.name, key)
            if entry is not None:
                status = "cached"
                message = (f"reused from the cache (it ran in {entry.record.get('seconds', 0):.1f} s on "
                           f"{entry.record.get('finished', '?')})")
            else:
                with self.cache.produce(stage.name, key) as (work, record):
                    stage.run(StageContext(work, inputs, record, self.log, self.note, self.progress))
                    for out in stage.outputs:
                        produced = work / Path(out).name
                        if not produced.is_file():
                            raise EdgeCNNError(f"stage {stage.name} did not write {Path(out).name}")
                entry, damage = self.cache.check(stage.name, key)
                if entry is None:
                    raise EdgeCNNError(f"the {stage.name} cache entry was not readable right after it was written: "
                                       f"{damage}")
        for out in stage.outputs:
            link_or_copy(entry.file(Path(out).name), self.path(out))
        self.entries[stage.name] = entry
        return status, message
