"""``edgecnn run``: a recipe from training to the report, stage by stage, cached by content hash.

Stages, in order (each only where the recipe asks for it):

    train | model      PyTorch checkpoint (trained on data.path, or built from model.weights)
    export             verified, simplified FP32 ONNX
    quantize-fp16      FP16 ONNX (ONNX Runtime targets)
    quantize-int8      INT8 QDQ ONNX, calibrated on the training side of the split
    build-trt-P        TensorRT engine (needs TensorRT and an NVIDIA GPU)
    profile-E-P        latency / memory / accuracy of precision P on engine E, in its own process
    report             results.json, report.md, report.html, pareto.png, latency.png

Every stage's outputs live in ``runs/<recipe>/cache/<stage>-<key>`` where the key
hashes the stage's settings, its inputs' bytes and the library versions
(:mod:`.cache`); the timestamped run folder gets hard links to them. A stage
whose key is already there is skipped. A stage that fails is reported in one
line (the traceback goes to ``run.log``), the stages that need its output are
skipped, and every other stage still runs. A missing engine (TensorRT without a
GPU, OpenVINO not installed) is reported as *unavailable*, not as a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Callable

from ..errors import DependencyMissing, EdgeCNNError, EngineUnavailable
from .cache import CacheEntry, StageCache, data_digest, file_digest, link_or_copy, stage_key
from .schema import Recipe, TargetSection

# what each engine runs for each precision: the artifact kind it needs
ONNX_FOR = {("ort", "fp32"): "fp32", ("ort", "fp16"): "fp16", ("ort", "int8"): "int8",
            ("openvino", "fp32"): "fp32", ("openvino", "fp16"): "fp32", ("openvino", "int8"): "int8"}


class StageFailed(Exception):
    """A stage could not run because a stage it needs did not finish."""


@dataclass
class StageOutcome:
    name: str
    status: str  # done | cached | failed | unavailable | skipped
    seconds: float = 0.0
    message: str = ""


@dataclass
class RunResult:
    run_dir: Path
    stages: list[StageOutcome] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[StageOutcome]:
        return [s for s in self.stages if s.status == "failed"]

    def stage(self, name: str) -> StageOutcome:
        return next(s for s in self.stages if s.name == name)


def new_run_dir(runs_dir: str | os.PathLike, name: str) -> Path:
    """A new ``runs_dir/name/<timestamp>[-n]`` folder; two runs started in the same second get two folders."""
    base = Path(runs_dir) / name / time.strftime("%Y%m%d-%H%M%S")
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            path.mkdir()  # atomic: exactly one process creates each name
            return path
        except FileExistsError:
            n += 1


def machine_identity(gpu: bool = False) -> dict:
    """What profiling figures (and TensorRT engines) depend on besides the artifact: the host, its CPU, its
    cores, and for GPU stages the GPU's name (an engine is built for one GPU model)."""
    from ..envinfo import cpu_info, gpu_info

    cpu = cpu_info()
    identity = {"host": socket.gethostname(), "cpu": cpu["model"], "cores": cpu["usable_cores"]}
    if gpu:
        identity["gpu"] = (gpu_info() or {}).get("name")
    return identity


def preflight(recipe: Recipe) -> None:
    """Refuse, before any work or folder is made, a recipe whose files are not there (paths: YAML paths)."""
    from ..data.datasets import is_synthetic
    from .schema import RecipeError

    checks = [("data.path", recipe.data.path), ("data.val", recipe.data.val), ("quantize.calib", recipe.quantize.calib),
              ("model.weights", recipe.model.weights)]
    for where, value in checks:
        if not value or is_synthetic(value):
            continue
        if where == "model.weights" and not Path(value).exists():
            _weights_digest(recipe.model.arch, value)  # a pretrained name: is its file in the offline cache?
            continue
        if not Path(value).exists():
            raise RecipeError(f"{where}: {value} does not exist (relative paths are read from {Path.cwd()}); "
                              f"fix the recipe or pass --set {where}=PATH")
        if where == "model.weights":  # unreadable or foreign weights: one line now, not a failed stage later
            from ..errors import EdgeCNNError
            from ..zoo.weights import read_weights

            try:
                read_weights(value)
            except EdgeCNNError as exc:
                raise RecipeError(f"model.weights: {exc}") from None


def _weights_digest(arch: str, weights: str) -> str:
    """Content hash of model.weights: a file, or a pretrained name resolved in the offline torch hub cache."""
    if Path(weights).is_file():
        return file_digest(weights)
    from ..zoo import get_spec
    from ..zoo.weights import resolve_pretrained

    return file_digest(resolve_pretrained(get_spec(arch), weights))


class Pipeline:
    def __init__(self, recipe: Recipe, *, runs_dir: str | os.PathLike = "runs", force: bool = False,
                 rerun: tuple[str, ...] = (), device: str | None = None, log: Callable[[str], None] = print,
                 progress: bool = True):
        self.recipe = recipe
        self.force = force
        self.rerun = tuple(rerun)  # stage-name prefixes to run again even when cached (e.g. "profile")
        self.device = device
        self.log = log
        self.progress = progress
        preflight(recipe)
        self.cache = StageCache(Path(runs_dir) / recipe.name / "cache")
        self.run_dir = new_run_dir(runs_dir, recipe.name)
        self.artifacts = self.run_dir / "artifacts"
        self.result = RunResult(self.run_dir)
        self.entries: dict[str, CacheEntry] = {}
        self.profiles: list[dict] = []
        self._log_file = open(self.run_dir / "run.log", "a")

    # ------------------------------------------------------------ plumbing
    def _forced(self, stage: str) -> bool:
        return self.force or any(stage.startswith(prefix) for prefix in self.rerun)

    def _note(self, line: str) -> None:
        self._log_file.write(line + "\n")
        self._log_file.flush()

    def _cached_stage(self, name: str, settings: dict, inputs: dict[str, str], body, outputs: list[str]) -> CacheEntry:
        key = stage_key(name, settings, inputs)
        with self.cache.lock(name, key):  # a second run of the same recipe waits here, then reuses the entry
            entry, damage = (None, None) if self._forced(name) else self.cache.check(name, key)
            if damage:
                self.log(f"    note: the cached {name} entry is damaged ({damage}); rebuilding it")
                self._note(f"damaged cache entry {name}-{key[:20]}: {damage}")
                self.cache.discard(name, key)
            self._cache_hit = entry is not None
            if entry is not None:
                self._cached_note = f"reused from the cache (it ran in {entry.record.get('seconds', 0):.1f} s " \
                                    f"on {entry.record.get('finished', '?')})"
            else:
                with self.cache.produce(name, key) as (work, record):
                    body(work, record)
                entry, damage = self.cache.check(name, key)
                if entry is None:
                    raise EdgeCNNError(f"the {name} cache entry was not readable right after it was written: {damage}")
        for out in outputs:
            link_or_copy(entry.file(out), self.artifacts / out)
        self.entries[name] = entry
        return entry

    def _run(self, name: str, fn: Callable[[], None], needs: tuple[str, ...] = ()) -> None:
        """Run one stage: print its outcome on one line; failures do not stop the others."""
        index = len(self.result.stages) + 1
        missing = [n for n in needs if n not in self.entries]
        if missing:
            outcome = StageOutcome(name, "skipped", message=f"needs {', '.join(missing)}, which did not finish")
        else:
            self.log(f"[{index}] {name} ...")
            started = time.perf_counter()
            self._cache_hit = False
            try:
                fn()
                status, message = ("cached", self._cached_note) if self._cache_hit else ("done", "")
            except (EngineUnavailable, DependencyMissing) as exc:
                status, message = "unavailable", str(exc)
            except EdgeCNNError as exc:
                status, message = "failed", str(exc)
                self._note(traceback.format_exc())
            except Exception as exc:  # an unanticipated error in one stage must not lose the others
                status, message = "failed", f"{type(exc).__name__}: {exc} (traceback in run.log)"
                self._note(traceback.format_exc())
            outcome = StageOutcome(name, status, time.perf_counter() - started, message)
        self.result.stages.append(outcome)
        timing = f" in {outcome.seconds:.1f} s" if outcome.status in ("done", "cached") else ""
        line = f"[{index}] {name}: {outcome.status}{timing}" + (f": {outcome.message}" if outcome.message else "")
        self.log(line)
        self._note(line)

    # ------------------------------------------------------------ stages
    def _data_inputs(self) -> dict[str, str]:
        data = self.recipe.data
        inputs = {"data": data_digest(data.path)}
        if data.val:
            inputs["val"] = data_digest(data.val)
        return inputs

    def stage_train(self) -> None:
        from ..train import TrainConfig, TrainOptions, train

        r = self.recipe
        settings = {"model": asdict(r.model), "data": asdict(r.data), "train": asdict(r.train)}
        inputs = self._data_inputs()
        if r.model.weights:
            inputs["weights"] = _weights_digest(r.model.arch, r.model.weights)

        def body(work: Path, record: dict) -> None:
            # the train section is TrainOptions (plus enabled); the rest comes from model and data
            shared = {f.name: getattr(r.train, f.name) for f in fields(TrainOptions)}
            config = TrainConfig(model=r.model.arch, data=r.data.path, output=str(work / "train"), val=r.data.val,
                                 val_split=r.data.val_split, weights=r.model.weights, seed=r.data.seed, **shared)
            result = train(config, force=True, progress=self.progress, log=self._note)
            os.replace(work / "train" / "best.pt", work / "model.pt")
            os.replace(work / "train" / "history.json", work / "history.json")
            shutil.rmtree(work / "train")  # last.pt (optimizer state) is not needed downstream
            record.update(best_top1=result.best_top1, best_epoch=result.best_epoch + 1, seconds=result.seconds)

        self._cached_stage("train", settings, inputs, body, ["model.pt", "history.json"])

    def stage_model(self) -> None:
        """No training: an edgecnn checkpoint from model.weights (or random weights, with a warning)."""
        from ..data.datasets import load_images
        from ..zoo import create_model
        from ..zoo.weights import save_checkpoint

        r = self.recipe
        settings = {"model": asdict(r.model), "img_size": r.train.img_size, "data": r.data.path}
        inputs = {"weights": _weights_digest(r.model.arch, r.model.weights)} if r.model.weights else {}

        def body(work: Path, record: dict) -> None:
            loaded = create_model(r.model.arch, weights=r.model.weights, num_classes=r.model.num_classes,
                                  input_size=r.train.img_size)
            classes = load_images(r.data.path, image_size=loaded.preprocess.resize, seed=r.data.seed).classes
            labels = classes if len(classes) == loaded.num_classes else loaded.labels
            save_checkpoint(work / "model.pt", loaded.model, arch=loaded.spec.name, classes=labels,
                            input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict())
            record["notes"] = loaded.notes

        if not r.model.weights:
            self.log("note: train.enabled is false and model.weights is empty: the model has random weights, "
                     "so its accuracy is chance level")
        self._cached_stage("model", settings, inputs, body, ["model.pt"])

    @property
    def checkpoint(self) -> Path:
        return self.artifacts / "model.pt"

    def stage_export(self, source: str) -> None:
        from ..export import export_onnx
        from ..zoo import create_model

        settings = asdict(self.recipe.export)

        def body(work: Path, record: dict) -> None:
            loaded = create_model(str(self.checkpoint))
            report = export_onnx(loaded, work / "model_fp32.onnx", batch=settings["batch"], opset=settings["opset"],
                                 do_simplify=settings["simplify"], do_verify=settings["verify"], force=True)
            record["export"] = report.to_dict()

        self._cached_stage("export", settings, {source: file_digest(self.checkpoint)}, body, ["model_fp32.onnx"])

    def stage_fp16(self) -> None:
        from ..quantize.fp16 import convert_fp16

        fp32 = self.artifacts / "model_fp32.onnx"

        def body(work: Path, record: dict) -> None:
            record["fp16"] = convert_fp16(fp32, work / "model_fp16.onnx", force=True)

        self._cached_stage("quantize-fp16", {}, {"fp32": file_digest(fp32)}, body, ["model_fp16.onnx"])

    def _int8_options(self, symmetric: bool):
        from ..quantize.options import QuantizeOptions

        r = self.recipe
        calib = r.quantize.calib or r.data.path
        # calibrate on the training side of the split, never on the images that measure accuracy
        split = "train" if calib == r.data.path and not r.data.val else "all"
        declared = {f.name: getattr(r.quantize, f.name) for f in fields(QuantizeOptions)}
        declared.update(symmetric_activations=symmetric or r.quantize.symmetric_activations, seed=r.data.seed,
                        calib_split=split, val_split=r.data.val_split)
        if symmetric:  # the TensorRT artifact: its own budget would need TensorRT to measure
            declared["max_drop"] = None
        return calib, QuantizeOptions(**declared)

    def stage_int8(self, symmetric: bool = False) -> None:
        from ..quantize.int8 import quantize_int8

        fp32 = self.artifacts / "model_fp32.onnx"
        calib, options = self._int8_options(symmetric)
        name = "quantize-int8-symmetric" if symmetric else "quantize-int8"
        out = "model_int8_sym.onnx" if symmetric else "model_int8.onnx"

        def body(work: Path, record: dict) -> None:
            if options.max_drop is None:
                report = quantize_int8(fp32, work / out, calib, options=options, force=True, progress=self.progress,
                                       log=self._note)
                record["int8"] = report.to_dict()
                return
            from ..quantize.accuracy_aware import quantize_with_budget

            budget = quantize_with_budget(str(fp32), str(work / out), calib, self._validation_images(), options=options,
                                          force=True, log=self._note, progress=self.progress)
            record["int8"] = budget.quantize
            record["budget"] = budget.to_dict()
            kept = f"; kept in float: {', '.join(budget.kept_float)}" if budget.kept_float else ""
            self.log(f"    accuracy budget {budget.max_drop} points: FP32 {100 * budget.fp32_top1:.2f}%, plain INT8 "
                     f"{100 * budget.int8_top1:.2f}%, final {100 * budget.final_top1:.2f}% (drop {budget.final_drop:.2f}, "
                     f"{'met' if budget.met else 'NOT met'}){kept}")

        inputs = {"fp32": file_digest(fp32), "calib": data_digest(calib)}
        if options.max_drop is not None:
            inputs.update(self._data_inputs())  # the budget is measured on the validation images
        self._cached_stage(name, asdict(options), inputs, body, [out])

    def stage_build_trt(self, precision: str, batches: list[int]) -> None:
        from ..engines.trt_engine import build_engine, require_tensorrt
        from ..engines.trt_plan import parse_batch_spec

        require_tensorrt()  # before quantizing for it: say "unavailable" at once
        if precision == "int8":
            if "quantize-int8-symmetric" not in self.entries:
                self.stage_int8(symmetric=True)
            source = self.artifacts / "model_int8_sym.onnx"
        else:
            source = self.artifacts / "model_fp32.onnx"
        spec = f"{min(batches)}:{min(batches)}:{max(batches)}"
        out = f"model_{precision}.engine"

        def body(work: Path, record: dict) -> None:
            record["sidecar"] = build_engine(source, work / out, precision=precision, batch=parse_batch_spec(spec),
                                             force=True, log=self._note)

        self._cached_stage(f"build-trt-{precision}", {"precision": precision, "batch": spec,
                                                      "machine": machine_identity(gpu=True)},
                           {"onnx": file_digest(source)}, body, [out, out + ".json"])

    def artifact_for(self, engine: str, precision: str) -> tuple[Path, str]:
        """(artifact path, the stage that makes it)."""
        if engine == "torch":
            return self.checkpoint, "train" if self.recipe.train.enabled else "model"
        if engine == "trt":
            return self.artifacts / f"model_{precision}.engine", f"build-trt-{precision}"
        kind = ONNX_FOR[(engine, precision)]
        stage = {"fp32": "export", "fp16": "quantize-fp16", "int8": "quantize-int8"}[kind]
        return self.artifacts / f"model_{kind}.onnx", stage

    def _validation_images(self):
        """The validation side of the data: what accuracy (and an accuracy budget) is measured on."""
        from ..data.datasets import train_val

        d = self.recipe.data
        return train_val(d.path, val=d.val, val_split=d.val_split, image_size=self._image_size, seed=d.seed)[1]

    @cached_property
    def _image_size(self) -> int:
        """The size validation images are drawn at (synthetic data): the exported model's resize."""
        from ..export.metadata import read_metadata

        return read_metadata(str(self.artifacts / "model_fp32.onnx")).preprocess.resize

    def stage_profile(self, target: TargetSection, precision: str) -> None:
        r = self.recipe
        artifact, _ = self.artifact_for(target.engine, precision)
        name = f"profile-{target.engine}-{precision}"
        val = None
        if r.profile.accuracy:
            val = {"source": r.data.path, "val": r.data.val, "val_split": r.data.val_split, "seed": r.data.seed,
                   "image_size": self._image_size}
        settings = {"engine": target.engine, "precision": precision, "batches": sorted(set(target.batches)),
                    "threads": target.threads, "profile": asdict(r.profile), "val": val,
                    "machine": machine_identity()}
        inputs = {"artifact": file_digest(artifact), **(self._data_inputs() if val else {})}

        def body(work: Path, record: dict) -> None:
            args = {"artifact": str(artifact), "engine": target.engine, "precision": precision,
                    "batches": settings["batches"], "threads": target.threads, "warmup_s": r.profile.warmup_s,
                    "min_runs": r.profile.min_runs, "min_time_s": r.profile.min_time_s, "val": val,
                    "output": str(work / "profile.json")}
            done = subprocess.run([sys.executable, "-m", "edgecnn.recipe.profile_worker", json.dumps(args)],
                                  capture_output=True, text=True)
            self._note(done.stdout + done.stderr)
            if done.returncode != 0:
                lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()] or ["no output"]
                last = lines[-1].removeprefix("error: ")
                if done.returncode == 3:
                    raise EngineUnavailable(last)
                raise EdgeCNNError(f"profiling {target.engine} {precision} failed: {last}")

        entry = self._cached_stage(name, settings, inputs, body, [])
        profile = json.loads(entry.file("profile.json").read_text())
        link_or_copy(entry.file("profile.json"), self.run_dir / "profiles" / f"{target.engine}-{precision}.json")
        self.profiles.append(profile)

    def stage_report(self) -> None:
        from ..report.results import build_results, write_results
        from ..report.render import write_reports

        results = build_results(self.recipe, self.profiles, [asdict(s) for s in self.result.stages],
                                device=self.device, training=self._training_record())
        write_results(results, self.run_dir / "results.json")
        write_reports(results, self.run_dir)

    def _training_record(self) -> dict | None:
        entry = self.entries.get("train")
        if entry is None:
            return None
        return {k: entry.record.get(k) for k in ("best_top1", "best_epoch", "seconds")}

    # ------------------------------------------------------------ the whole run
    def run(self) -> RunResult:
        started = time.perf_counter()
        r = self.recipe
        (self.run_dir / "recipe.yaml").write_text(_recipe_yaml(r))
        self.log(f"run: {self.run_dir}")
        try:
            source = "train" if r.train.enabled else "model"
            self._run(source, self.stage_train if r.train.enabled else self.stage_model)
            self._run("export", lambda: self.stage_export(source), needs=(source,))
            wanted = {(t.engine, p) for t in r.targets for p in t.precisions}
            onnx_kinds = {ONNX_FOR[w] for w in wanted if w in ONNX_FOR}
            if "fp16" in onnx_kinds:
                self._run("quantize-fp16", self.stage_fp16, needs=("export",))
            if "int8" in onnx_kinds:
                self._run("quantize-int8", self.stage_int8, needs=("export",))
            trt_batches: dict[str, list[int]] = {}
            for t in r.targets:
                if t.engine == "trt":
                    for p in t.precisions:
                        trt_batches.setdefault(p, []).extend(t.batches)
            for precision, batches in trt_batches.items():
                self._run(f"build-trt-{precision}", lambda p=precision, b=batches: self.stage_build_trt(p, b),
                          needs=("export",))
            for t in r.targets:
                for p in t.precisions:
                    _, maker = self.artifact_for(t.engine, p)
                    needs = (maker, "export") if maker != "export" else ("export",)
                    self._run(f"profile-{t.engine}-{p}", lambda t=t, p=p: self.stage_profile(t, p), needs=needs)
            self._run("report", self.stage_report)
        finally:
            self._log_file.close()
        self.result.seconds = time.perf_counter() - started
        return self.result


def _recipe_yaml(recipe: Recipe) -> str:
    import yaml

    return yaml.safe_dump(asdict(recipe), sort_keys=False)


def run_recipe(recipe: Recipe, **kwargs) -> RunResult:
    """Run every stage of ``recipe``; see :class:`Pipeline` for the keyword arguments."""
    return Pipeline(recipe, **kwargs).run()
