"""``edgecnn run``: a recipe from training to the report, as a graph of declared stages.

:func:`plan` turns a recipe into stages (each only where the recipe asks for it):

    train | model         artifacts/model.pt (trained on data.path, or built from model.weights)
    export                artifacts/model_fp32.onnx: verified, simplified
    quantize-fp16         artifacts/model_fp16.onnx (ONNX Runtime targets)
    quantize-int8         artifacts/model_int8.onnx: QDQ, calibrated on the training side of the split
                          (with quantize.max_drop: within that accuracy budget)
    quantize-int8-symmetric, build-trt-P    TensorRT engines (need TensorRT and an NVIDIA GPU); an engine
                          declares what it runs for each precision and what it builds here
    profile-E-P           profiles/E-P.json: latency, memory, accuracy of precision P on engine E,
                          each in a process of its own
    report                results.json, report.md, report.html, pareto.png, latency.png

:mod:`.graph` runs them: a stage's cache key is derived from its declaration (settings, input
digests, data digests, library versions, edgecnn's source digest, the machine for timings), a
stage whose inputs did not come is skipped, a failure is one line (traceback in ``run.log``)
and everything that does not need it still runs; an engine that is not on the machine is
*unavailable*, not a failure. Finished stages live in ``runs/<recipe>/cache``; the timestamped
run folder gets hard links to their files.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from ..data.datasets import is_synthetic
from ..engines.registry import CHECKPOINT, get_engine, placement_for_kind, placement_of
from ..engines.spec import SIDECAR_FORMATS, companion_files, kind_file, split_mobile_kind
from ..errors import EdgeCNNError
from ..report.best import pick_best
from ..report.differences import accuracy_differences
from ..report.results import build_results, merge_results, write_results
from ..tasks.registry import of_model
from . import stages as bodies
from .cache import StageCache
from .graph import GraphRun, Stage, StageOutcome
from .schema import Recipe, RecipeError, load_recipe

__all__ = ["RunResult", "StageOutcome", "plan", "preflight", "run_recipe", "Pipeline"]

# What each engine runs for each precision, which libraries decide its results and what its bundle ships are
# the engine's own declarations (edgecnn.engines.registry); the ONNX kinds they name are made here.
TORCH_LIBS = ("torch", "torchvision", "timm", "numpy", "pillow")
ONNX_LIBS = ("onnx", "onnxsim", "onnxruntime", "numpy")


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


def _weights_source(arch: str, weights: str | None) -> str | None:
    """model.weights as something to hash: a file, or a pretrained name's file in the offline torch hub cache."""
    if not weights or Path(weights).is_file():
        return weights
    from ..zoo import get_spec
    from ..zoo.weights import resolve_pretrained

    return str(resolve_pretrained(get_spec(arch), weights))


def artifact_for(recipe: Recipe, engine: str, precision: str) -> str:
    """The run-folder path of what ``engine`` runs for ``precision``: the checkpoint, the artifact it builds here
    (a TensorRT engine), or the ONNX it runs."""
    declared = get_engine(engine)
    if declared.build is not None:
        return f"artifacts/{declared.build.outputs(precision)[0]}"
    return f"artifacts/{kind_file(onnx_kind(recipe, engine, precision))}"


def onnx_kind(recipe: Recipe, engine: str, precision: str) -> str:
    """Which artifact kind ``engine`` runs, or builds from, for ``precision``: an ONNX kind (fp32, fp16, int8,
    int8_openvino, int8_sym; with quantize.max_drop the one the accuracy budget is met on), a mobile kind made from
    the checkpoint (fp32_tflite, int8_pte) or the checkpoint itself."""
    return get_engine(engine).source(precision, budget=recipe.quantize.max_drop is not None)


FP32 = ("artifacts/model_fp32.onnx",)


def plan(recipe: Recipe) -> list[Stage]:
    """The stages ``recipe`` asks for, in dependency order."""
    r = recipe
    wanted = [(t.engine, p) for t in r.targets for p in t.precisions]
    on_devices = [(d, t, p) for d in r.devices for t in d.targets for p in t.precisions]
    # what each target runs as it is (the checkpoint is no ONNX), and what artifacts built here are built from
    # (TensorRT 11 is strongly typed: FP16 engines come from the FP16 ONNX)
    run_kinds = {onnx_kind(r, *w) for w in wanted if get_engine(w[0]).build is None} - {CHECKPOINT}
    built_from = {(engine, p): onnx_kind(r, engine, p) for engine, p in wanted if get_engine(engine).build}
    device_kinds = device_sources(on_devices)
    kinds = run_kinds | device_kinds | set(built_from.values())
    kinds |= {f"fp32_{split_mobile_kind(k)[1]}" for k in kinds if split_mobile_kind(k) and k.startswith("fp16_")}
    stages = [_model_stage(r), Stage("export", partial(bodies.export, options=r.export),
                                     outputs=("artifacts/model_fp32.onnx",), needs=("artifacts/model.pt",),
                                     settings=r.export, libraries=TORCH_LIBS + ONNX_LIBS)]
    stages += _quantize_stages(r, kinds, run_kinds, device_kinds, built_from)
    stages += _mobile_stages(r, kinds)
    stages += _build_stages(r, built_from)
    stages += [_profile_stage(r, t, precision) for t in r.targets for precision in t.precisions]
    stages += device_stages(r, on_devices)
    return stages



def _model_stage(r: Recipe) -> Stage:
    """Training on the recipe's data, or the checkpoint of ``model.weights`` as they are."""
    weights = _weights_source(r.model.arch, r.model.weights)
    if r.train.enabled:
        return Stage("train", partial(bodies.train, model=r.model, data=r.data, options=r.train),
                     outputs=("artifacts/model.pt", "artifacts/history.json"),
                     settings={"model": asdict(r.model), "data": asdict(r.data), "train": asdict(r.train)},
                     data={"data": r.data.path, "val": r.data.val, "weights": weights}, libraries=TORCH_LIBS)
    return Stage("model", partial(bodies.checkpoint_without_training, model=r.model, data=r.data,
                                  img_size=r.train.img_size),
                 outputs=("artifacts/model.pt",),
                 settings={"model": asdict(r.model), "img_size": r.train.img_size, "data": r.data.path},
                 data={"weights": weights}, libraries=TORCH_LIBS)


def _quantize_stages(r: Recipe, kinds: set, run_kinds: set, device_kinds: set, built_from: dict) -> list[Stage]:
    """The FP16 and INT8 ONNX files some target, device or build needs (each made once)."""
    stages = []
    if "fp16" in kinds:
        stages.append(Stage("quantize-fp16", bodies.fp16, outputs=("artifacts/model_fp16.onnx",), needs=FP32,
                            settings={}, libraries=ONNX_LIBS + ("onnxconverter-common",)))
    if "int8" in kinds:
        calib, options = bodies.int8_options(r, symmetric=False)
        data = {"calib": calib, **({"data": r.data.path, "val": r.data.val} if options.max_drop is not None else {})}
        layer_error = ("artifacts/layer_error_int8.json", "artifacts/layer_error_int8.png") \
            if r.quantize.layer_error else ()
        qat_epochs = r.quantize.qat_epochs if options.max_drop is not None else 0
        stages.append(Stage("quantize-int8", partial(bodies.int8, calib=calib, options=options, data=r.data,
                                                     output="model_int8.onnx", layer_error=bool(layer_error),
                                                     qat_epochs=qat_epochs),
                            outputs=("artifacts/model_int8.onnx",) + layer_error,
                            needs=FP32 + (("artifacts/model.pt",) if qat_epochs else ()),
                            settings={"options": asdict(options), "data": asdict(r.data),
                                      "layer_error": bool(layer_error), "qat_epochs": qat_epochs}, data=data,
                            libraries=ONNX_LIBS + (TORCH_LIBS if qat_epochs else ())))
    if "int8_openvino" in kinds:  # placed by NNCF for the engine whose placement it is (OpenVINO)
        placed_for = placement_for_kind("int8_openvino")
        calib, options = bodies.int8_options(r, symmetric=False, placed_for=placed_for)
        stages.append(Stage("quantize-int8-openvino", partial(bodies.int8, calib=calib, options=options, data=r.data,
                                                              output="model_int8_openvino.onnx"),
                            outputs=("artifacts/model_int8_openvino.onnx",), needs=FP32,
                            settings={"options": asdict(options), "data": asdict(r.data)}, data={"calib": calib},
                            libraries=ONNX_LIBS + placement_of(placed_for).libraries))
    if "int8_sym" in kinds:  # symmetric INT8 Q/DQ: what TensorRT reads
        calib, options = bodies.int8_options(r, symmetric=True)
        # made here when a device or an engine here runs it, even where this machine cannot build from it
        only_to_build_here = "int8_sym" not in device_kinds and "int8_sym" not in run_kinds
        builders = [get_engine(e).build.check for (e, _), kind in built_from.items() if kind == "int8_sym"]
        stages.append(Stage("quantize-int8-symmetric", partial(bodies.int8, calib=calib, options=options, data=r.data,
                                                               output="model_int8_sym.onnx"),
                            outputs=("artifacts/model_int8_sym.onnx",), needs=FP32, settings=options,
                            data={"calib": calib}, libraries=ONNX_LIBS,
                            check=builders[0] if only_to_build_here and builders else None))
    return stages


def measured_by(profile) -> dict:
    """The profile section's keys that decide a measurement (its cache key): ``pick`` only chooses in the report."""
    return {k: v for k, v in asdict(profile).items() if k != "pick"}


def mobile_batch(r: Recipe, kind: str) -> int:
    """The fixed batch of the mobile file of ``kind``: the one batch its targets (here and on devices) ask for."""
    asked = {b for t in r.targets + [t for d in r.devices for t in d.targets] for p in t.precisions
             if onnx_kind(r, t.engine, p) == kind for b in t.batches}
    if len(asked) > 1:
        raise RecipeError(f"targets ask for batches {sorted(asked)} of one {kind_file(kind)}, whose batch is fixed: "
                          "give its targets one batch")
    return asked.pop() if asked else 1


def mobile_outputs(kind: str) -> tuple[str, ...]:
    """The run-folder files of a mobile kind: the file, and its sidecar for a format with no room for metadata."""
    name = f"artifacts/{kind_file(kind)}"
    sidecar = (f"{name}.json",) if split_mobile_kind(kind)[1] in SIDECAR_FORMATS else ()
    return (name, *companion_files(name), *sidecar)


def with_companions(artifact: str) -> tuple[str, ...]:
    """``artifact`` and the files that go with it (ncnn's .bin): what a stage reading it needs, since the .param
    alone does not change when only the weights do."""
    return (artifact, *companion_files(artifact))


def _mobile_stages(r: Recipe, kinds: set) -> list[Stage]:
    """The ``.tflite`` / ``.pte`` files the targets and devices run, made from the checkpoint: ``export-FORMAT`` for
    FP32, ``quantize-int8-FORMAT`` (PT2E with the runtime's quantizer, calibrated as ONNX INT8 is) for INT8."""
    stages = []
    order = ("fp32", "fp16", "bf16", "int8")  # the FP32 file first: FP16 is made from it
    for kind in sorted((k for k in kinds if split_mobile_kind(k)),
                       key=lambda k: (split_mobile_kind(k)[1], order.index(split_mobile_kind(k)[0]))):
        precision, fmt = split_mobile_kind(kind)
        engine = next(e.name for e in _engines_running(r) if kind in get_engine(e.name).sources.values())
        batch, outputs = mobile_batch(r, kind), mobile_outputs(kind)
        output = Path(outputs[0]).name
        libraries = TORCH_LIBS + get_engine(engine).libraries
        if precision == "fp16":  # float16 weights of the FP32 file
            source = f"artifacts/{kind_file(f'fp32_{fmt}')}"
            stages.append(Stage(f"quantize-fp16-{fmt}", partial(bodies.mobile_fp16, source=source, output=output),
                                outputs=outputs, needs=(source,), settings={},
                                libraries=get_engine(engine).libraries + ("ai-edge-quantizer",)))
        elif precision == "int8":
            calib, options = bodies.int8_options(r, symmetric=False, placed_for=engine)
            budget = options.max_drop is not None  # the recipe's quantize.max_drop, met on the validation side
            stages.append(Stage(f"quantize-int8-{fmt}", partial(bodies.mobile, fmt=fmt, precision=precision,
                                                                 batch=batch, calib=calib, options=options,
                                                                 output=output, data=r.data),
                                outputs=outputs, needs=("artifacts/model.pt",),
                                settings={"batch": batch, "options": asdict(options), "data": asdict(r.data)},
                                data={"calib": calib, **({"data": r.data.path, "val": r.data.val} if budget else {})},
                                libraries=libraries))
        else:
            stages.append(Stage(f"export-{fmt}", partial(bodies.mobile, fmt=fmt, precision=precision, batch=batch,
                                                          calib=None, options=None, output=output,
                                                          verify=r.export.verify),
                                outputs=outputs, needs=("artifacts/model.pt",),
                                settings={"batch": batch, "verify": r.export.verify}, libraries=libraries))
    return stages


def _engines_running(r: Recipe) -> list:
    """The engines of the recipe's targets, here and on its devices (each once, in order)."""
    names = dict.fromkeys(t.engine for t in r.targets + [t for d in r.devices for t in d.targets])
    return [get_engine(name) for name in names]


def _build_stages(r: Recipe, built_from: dict) -> list[Stage]:
    """One build per (engine, precision) of the engines that compile an artifact here (TensorRT), over every
    batch size their targets ask for."""
    builds: dict[tuple[str, str], list[int]] = {}
    for t in r.targets:
        if get_engine(t.engine).build is not None:
            for p in t.precisions:
                builds.setdefault((t.engine, p), []).extend(t.batches)
    stages = []
    for (engine, precision), batches in builds.items():
        build = get_engine(engine).build
        source = f"artifacts/{kind_file(built_from[(engine, precision)])}"
        spec = f"{min(batches)}:{min(batches)}:{max(batches)}"
        outs = tuple(f"artifacts/{name}" for name in build.outputs(precision))
        stages.append(Stage(f"build-{engine}-{precision}", partial(bodies.build, engine=engine, source=source,
                                                                   precision=precision, batch_spec=spec,
                                                                   output=Path(outs[0]).name),
                            outputs=outs, needs=(source,), settings=build.settings(precision, spec),
                            libraries=get_engine(engine).libraries, machine=True, gpu=get_engine(engine).gpu,
                            check=build.check))
    return stages


def _profile_stage(r: Recipe, t, precision: str) -> Stage:
    """Profiling one target's precision on this machine."""
    declared = get_engine(t.engine)
    artifact = artifact_for(r, t.engine, precision)
    needs = tuple(dict.fromkeys(with_companions(artifact) + FP32))  # the FP32 export says which size images are drawn at
    data = r.data if r.profile.accuracy else None
    return Stage(f"profile-{t.engine}-{precision}",
                 partial(bodies.profile, artifact=artifact, engine=t.engine, precision=precision,
                         batches=sorted(set(t.batches)), threads=t.threads, options=r.profile, data=data,
                         output=f"{t.engine}-{precision}.json", scenarios=list(t.scenarios),
                         streams=list(t.streams)),
                 outputs=(f"profiles/{t.engine}-{precision}.json",), needs=needs,
                 settings={"engine": t.engine, "precision": precision, "batches": sorted(set(t.batches)),
                           "threads": t.threads, "profile": measured_by(r.profile),
                           **({"scenarios": list(t.scenarios), "streams": list(t.streams)}
                              if list(t.scenarios) != ["single-stream"] else {}),  # today's keys stay as they were
                           "data": asdict(r.data) if data else None},
                 data={"data": r.data.path, "val": r.data.val} if data else {},
                 libraries=declared.libraries, machine=True, gpu=declared.gpu)


def device_bundle(target, precision: str) -> tuple[str, str]:
    """(bundle stage name, bundle file) of what a device target runs: the ONNX Runtime bundle of a precision, or
    for TensorRT the ONNX that TensorRT ``trt_version`` builds ``precision`` from (the engine is built there):
    the engine's device side names it."""
    side = get_engine(target.engine).device
    tag = side.tag(target) if side.tag else ""
    if tag:
        return f"bundle-{tag}-{precision}", f"bundles/model_{tag}_{precision}.tar.gz"
    return f"bundle-{precision}", f"bundles/model_{precision}.tar.gz"


def device_sources(on_devices: list) -> set[str]:
    """The ONNX kinds (fp32, fp16, int8, int8_sym) the devices' bundles are made from."""
    return {get_engine(t.engine).device_source(p, t) for _, t, p in on_devices}


def device_stages(r: Recipe, on_devices: list) -> list[Stage]:
    """Per precision (and TensorRT version) a bundle, built once and shared by the devices; per device and
    precision a measurement on the device, keyed by the bundle's digest and the identity the device reports."""
    stages: list[Stage] = []
    fp32 = "artifacts/model_fp32.onnx"
    bundles: dict[str, tuple] = {}
    for _, target, precision in on_devices:
        name, _ = device_bundle(target, precision)
        batches = bundles.get(name, (target, precision, []))[2] + list(target.batches)
        bundles[name] = (target, precision, batches)
    for name, (target, precision, batches) in bundles.items():
        declared = get_engine(target.engine)
        source = f"artifacts/{kind_file(declared.device_source(precision, target))}"
        # an engine built on the device: the settings of the plan the bundle ships
        build = declared.device.build(precision, target, batches) if declared.device.build else None
        output = device_bundle(target, precision)[1]
        stages.append(Stage(name, partial(bodies.bundle, source=source, output=Path(output).name,
                                          engine=target.engine, build=build, precision=precision),
                            outputs=(output,), needs=with_companions(source),
                            settings={"engine": target.engine, "build": build, "precision": precision},
                            libraries=("onnx",)))
    probes: dict[tuple, tuple[str, dict]] = {}  # one per device and runtime, however many precisions it measures

    def probe(device, engine: str) -> tuple[str, dict]:
        if (device.name, engine) not in probes:
            requirements = get_engine(engine).device.requirements
            probes[(device.name, engine)] = bodies.probe_device(device, "\n".join(requirements) + "\n",
                                                                log=lambda line: None)
        return probes[(device.name, engine)]

    for device, target, precision in on_devices:
        data = r.data if r.profile.accuracy else None
        prefix = get_engine(target.engine).device.label
        label = f"{prefix}-{precision}" if prefix else precision
        bundle = device_bundle(target, precision)[1]
        stages.append(Stage(f"device-{device.name}-{label}",
                            partial(bodies.device_profile, device=device, target=target, precision=precision,
                                    bundle_file=bundle, options=r.profile, data=data,
                                    output=f"{device.name}-{label}.json",
                                    runner=lambda device=device, engine=target.engine: probe(device, engine)[0]),
                            outputs=(f"devices/{device.name}-{label}.json",), needs=(bundle, fp32),
                            settings={"device": {k: v for k, v in asdict(device).items() if k not in ("keep", "targets")},
                                      "target": asdict(target), "profile": measured_by(r.profile),
                                      "data": asdict(r.data) if data else None},
                            data={"data": r.data.path, "val": r.data.val} if data else {},
                            identity=lambda device=device, engine=target.engine: probe(device, engine)[1]))
    return stages


def preflight(recipe: Recipe) -> None:
    """Refuse, before any work or folder is made, a recipe whose files are not there (paths: YAML paths)."""

    task = of_model(recipe.model.arch)
    if not task.qat and recipe.quantize.qat_epochs:
        raise RecipeError("quantize.qat_epochs: quantization-aware training fine-tunes classifiers; "
                          f"{recipe.model.arch} is a {task.name} model (its accuracy budget tries PTQ, then float "
                          "fallback)")
    checks = [("data.path", recipe.data.path), ("data.val", recipe.data.val), ("quantize.calib", recipe.quantize.calib),
              ("model.weights", recipe.model.weights)]
    for where, value in checks:
        if not value or is_synthetic(value):
            continue
        if where == "model.weights" and not Path(value).exists():
            _weights_source(recipe.model.arch, value)  # a pretrained name: is its file in the offline cache?
            continue
        if not Path(value).exists():
            raise RecipeError(f"{where}: {value} does not exist (relative paths are read from {Path.cwd()}); "
                              f"fix the recipe or pass --set {where}=PATH")
        if where == "model.weights":  # unreadable or foreign weights: one line now, not a failed stage later
            from ..zoo.weights import read_weights

            try:
                read_weights(value)
            except EdgeCNNError as exc:
                raise RecipeError(f"model.weights: {exc}") from None


def with_devices(host: dict, measured: list[dict]) -> dict:
    """The host's results with the devices' (one results file per device and precision) merged in: rows keyed
    by device, one environment per device; the run's training, budget and stages stay the host's."""
    if not measured:
        return host
    by_device: dict[str, dict] = {}
    for result in measured:
        name = result["device"]
        if name in by_device:
            by_device[name]["rows"] += result["rows"]
        else:
            by_device[name] = dict(result, rows=list(result["rows"]))
    merged = merge_results([host, *by_device.values()])
    kept = {k: host[k] for k in ("recipe", "model", "training", "recipe_settings", "accuracy_budget") if k in host}
    return {**merged, **kept, "stages": [dict(stage, device=merged["devices"][0]) for stage in host["stages"]]}


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


class Pipeline:
    """One run of a recipe: the planned stages, then the report (always written, from what finished)."""

    def __init__(self, recipe: Recipe, *, runs_dir: str | os.PathLike = "runs", force: bool = False,
                 rerun: tuple[str, ...] = (), device: str | None = None, log: Callable[[str], None] = print,
                 progress: bool = True):
        self.recipe, self.device, self.log = recipe, device, log
        preflight(recipe)
        self.stages = plan(recipe)
        self.run_dir = new_run_dir(runs_dir, recipe.name)
        self._log_file = open(self.run_dir / "run.log", "a")
        self.graph = GraphRun(self.stages + [Stage("report", self._report, cached=False)],
                              StageCache(Path(runs_dir) / recipe.name / "cache"), self.run_dir, log=log,
                              note=self._note, force=force, rerun=rerun, progress=progress)

    def _note(self, line: str) -> None:
        self._log_file.write(line + "\n")
        self._log_file.flush()

    def _report(self, ctx) -> None:
        import json

        from ..report.render import write_reports

        profiles = [json.loads(self.graph.path(s.outputs[0]).read_text()) for s in self.stages
                    if s.name.startswith("profile-") and s.name in self.graph.entries]
        train = self.graph.entries.get("train")
        training = {k: train.record.get(k) for k in ("best_top1", "best_mean_iou", "best_roc_auc", "threshold",
                                                      "best_epoch", "seconds")} if train else None
        budget = self.graph.entries.get("quantize-int8")
        results = build_results(self.recipe, profiles, [asdict(s) for s in self.graph.outcomes], device=self.device,
                                training=training)
        if budget is not None and budget.record.get("budget"):
            results["accuracy_budget"] = budget.record["budget"]
        measured = [json.loads(self.graph.path(s.outputs[0]).read_text()) for s in self.stages
                    if s.name.startswith("device-") and s.name in self.graph.entries]
        results = with_devices(results, measured)
        results["best"] = pick_best(results["rows"], self.recipe.quantize.max_drop,
                                    objective=self.recipe.profile.pick)
        results["accuracy_differences"] = accuracy_differences(results["rows"])
        if budget is not None and budget.record.get("layer_error"):
            results["layer_error"] = budget.record["layer_error"]
        placed = self.graph.entries.get("quantize-int8-openvino")
        if placed is not None and (placed.record.get("int8") or {}).get("placement_note"):
            results["placement_notes"] = {placement_for_kind("int8_openvino"): placed.record["int8"]["placement_note"]}
        write_results(results, self.run_dir / "results.json")
        write_reports(results, self.run_dir)

    def run(self) -> RunResult:
        started = time.perf_counter()
        import yaml

        (self.run_dir / "recipe.yaml").write_text(yaml.safe_dump(asdict(self.recipe), sort_keys=False))
        self.log(f"run: {self.run_dir}")
        if not self.recipe.train.enabled and not self.recipe.model.weights:
            self.log("note: train.enabled is false and model.weights is empty: the model has random weights, "
                     "so its accuracy is chance level")
        try:
            outcomes = self.graph.run()
        finally:
            self._log_file.close()
        return RunResult(self.run_dir, outcomes, time.perf_counter() - started)


def run_recipe(recipe: Recipe | str | os.PathLike, overrides: list[str] | tuple[str, ...] = (), *,
               runs_dir: str | os.PathLike = "runs", force: bool = False, rerun: tuple[str, ...] = (),
               device: str | None = None, log: Callable[[str], None] = print, progress: bool = True) -> RunResult:
    """Run a recipe end to end: train -> export -> quantize -> build -> profile -> report (``edgecnn run``).

    Args:
        recipe: a recipe file (``recipes/quickstart.yaml``), validated before any work, or a loaded
            :class:`~edgecnn.recipe.schema.Recipe`.
        overrides: ``KEY=VALUE`` changes to a recipe file, in YAML syntax (``["train.epochs=2"]``), as
            ``--set`` gives them.
        runs_dir: where ``<runs_dir>/<recipe name>/<timestamp>/`` and the stage cache go.
        force: ignore the stage cache: run every stage again (and refresh the cache).
        rerun: run the stages whose names start with these prefixes again even if cached (``("profile",)``).
        device: this device's name in the report (default: the CPU or GPU model).
        log: called with each stage's outcome line.
        progress: show progress bars.

    Returns:
        :class:`RunResult`: ``run_dir`` (artifacts/, results.json, report.md, report.html, plots), each stage's
        outcome, ``failed`` and the seconds taken. A stage that fails is reported and the others go on.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    elif overrides:
        raise RecipeError("overrides apply to a recipe file; change a loaded Recipe in Python instead")
    return Pipeline(recipe, runs_dir=runs_dir, force=force, rerun=rerun, device=device, log=log,
                    progress=progress).run()
