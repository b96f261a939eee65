"""The engines edgecnn knows: the built-in modules in ``BUILTIN``, and any registered later.

Recipe planning, profiling, the report, bundles and the CLI ask this registry what an engine runs, how its
artifacts are made, what decides its results and what its bundle ships; nothing outside ``edgecnn/engines``
spells an engine's name. Adding an engine is one module declaring ``ENGINES`` (a tuple of
:class:`~edgecnn.engines.spec.Engine`) plus one line in ``BUILTIN``; or, without touching edgecnn:

    from edgecnn.engines.registry import register, unregister
    register(MY_ENGINE)          # in this process; unregister("my-engine") removes it

    EDGECNN_ENGINE_MODULES=my_pkg.my_engine,/path/to/other_engine.py:ENGINE edgecnn profile m.onnx --engine ...

Each entry of ``EDGECNN_ENGINE_MODULES`` (comma-separated) is a module, importable or a ``.py`` path, with
an optional ``:ATTR`` naming an Engine or a sequence of them (default: the module's ``ENGINES``, else its
``ENGINE``). They are registered when :mod:`edgecnn.engines` is imported, so they also reach the processes
edgecnn starts (recipe profile stages, ``profile --best`` rounds), which inherit the environment.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

from ..errors import UsageError
from . import (executorch_engine, litert_engine, ncnn_engine, openvino_engine, ort_engine, ort_gpu, torch_engine,
               trt_engine)
from .spec import CHECKPOINT, Build, DeviceSide, Engine, LoadRequest, Placement, artifact_kind

__all__ = ["BUILTIN", "CHECKPOINT", "ENGINES", "ENV", "Build", "DeviceSide", "Engine", "LoadRequest", "Placement",
           "builders", "capability_table", "cpu_onnx_engines", "default_engine", "default_placement",
           "device_engines", "engines", "get_engine", "gpu_engines", "names", "placement_for_kind", "placement_of",
           "placements", "register", "register_from_env", "runtime_libraries", "unregister", "validate_request"]

ENV = "EDGECNN_ENGINE_MODULES"
BUILTIN = (  # one line per engine module, in the order engines are listed and tried
    torch_engine,
    ort_engine,
    openvino_engine,
    ort_gpu,
    trt_engine,
    litert_engine,
    executorch_engine,
    ncnn_engine,
)
ENGINES: dict[str, Engine] = {}  # name -> Engine, in registration order (live: register/unregister change it)


def register(engine: Engine, replace: bool = False) -> Engine:
    """Add ``engine``; a second engine of the same name is refused unless ``replace``."""
    if not isinstance(engine, Engine):
        raise TypeError(f"register() takes an edgecnn.engines.spec.Engine, got {type(engine).__name__}")
    if engine.name in ENGINES and not replace and ENGINES[engine.name] != engine:
        raise ValueError(f"an engine named {engine.name!r} is registered already")
    ENGINES[engine.name] = engine
    return engine


def unregister(name: str) -> Engine:
    return ENGINES.pop(name)


def engines() -> list[Engine]:
    return list(ENGINES.values())


def names() -> tuple[str, ...]:
    return tuple(ENGINES)


def get_engine(name: str) -> Engine:
    if name not in ENGINES:
        raise UsageError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return ENGINES[name]


def default_engine(artifact: str) -> str:
    """The engine that runs ``artifact`` when none is named: the first that declares its file kind."""
    kind = artifact_kind(artifact)
    for engine in ENGINES.values():
        if kind in engine.default_for:
            return engine.name
    raise UsageError(f"no engine runs a {kind} artifact ({artifact}) by default; name one with --engine")


def validate_request(engine: str, precision: str | None = None, artifact: str | None = None) -> Engine:
    """Refuse what an engine cannot do, in one line, before any work starts."""
    declared = get_engine(engine)
    if precision is not None and precision not in declared.precisions:
        raise UsageError(f"engine {engine} cannot run precision {precision}; it supports "
                         f"{', '.join(declared.precisions)}")
    if artifact is not None:
        kind = artifact_kind(artifact)
        if kind not in declared.artifacts:
            raise UsageError(f"engine {engine} cannot run a {kind} artifact ({artifact}); it takes "
                             f"{', '.join(declared.artifacts)}")
    return declared


def delegating_engines() -> tuple[str, ...]:
    """The engines that report which operators their accelerated kernels took (``edgecnn check --engine``)."""
    return tuple(e.name for e in ENGINES.values() if e.delegation is not None)


def gpu_engines() -> tuple[str, ...]:
    return tuple(e.name for e in ENGINES.values() if e.gpu)


def cpu_onnx_engines() -> list[Engine]:
    """The engines that run an ONNX file on the CPU (what ``profile --best`` compares), in order."""
    return [e for e in ENGINES.values() if "onnx" in e.artifacts and "cpu" in e.devices]


def device_engines() -> tuple[str, ...]:
    """The engines a bundle can be made for (they declare a device side)."""
    return tuple(e.name for e in ENGINES.values() if e.device is not None)


def builders() -> tuple[str, ...]:
    """The engines whose artifact is built on this machine from an ONNX (``edgecnn build``)."""
    return tuple(e.name for e in ENGINES.values() if e.build is not None)


def placements() -> tuple[str, ...]:
    """The engines an INT8 placement can be made for (``edgecnn quantize --for``)."""
    return tuple(e.name for e in ENGINES.values() if e.placement is not None)


def placement_of(name: str) -> Placement:
    placement = get_engine(name).placement
    if placement is None:
        raise UsageError(f"no INT8 placement is made for {name}; choose one of {', '.join(placements())}")
    return placement


def placement_for_kind(kind: str) -> str:
    """The engine whose INT8 placement a recipe writes as ONNX kind ``kind``."""
    return next(e.name for e in ENGINES.values() if e.placement is not None and e.placement.kind == kind)


def default_placement() -> str:
    """The placement made when none is named: that of the engine that runs an ONNX file by default."""
    return default_engine("model.onnx")


def cpu_engine_for(name: str) -> str:
    """Where a placement made for ``name`` is timed on this machine: ``name`` itself when it runs ONNX files on
    the CPU, else the default ONNX engine."""
    return name if get_engine(name) in cpu_onnx_engines() else default_engine("model.onnx")


def device_modules(requirements: str) -> tuple[str, ...]:
    """The runtime modules a device needs for a bundle whose requirements.txt reads ``requirements``: those of
    the engine whose device requirements it lists (the most specific when several match)."""
    listed = {_package(line) for line in requirements.splitlines() if _package(line)}
    sides = [e.device for e in ENGINES.values() if e.device is not None]
    matching = [side for side in sides if {_package(r) for r in side.requirements} <= listed]
    chosen = max(matching, key=lambda side: len(side.requirements), default=None) or \
        get_engine(default_engine("model.onnx")).device
    return chosen.modules


def all_device_modules() -> tuple[str, ...]:
    """Every registered engine's runtime modules on a device (what a device's identity reports versions of)."""
    return tuple(dict.fromkeys(m for e in ENGINES.values() if e.device is not None for m in e.device.modules))


def _package(requirement: str) -> str:
    import re

    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def runtime_libraries() -> tuple[str, ...]:
    """The packages whose versions are the engines' runtimes' (the report's environment table)."""
    return tuple(dict.fromkeys(e.runtime_library for e in ENGINES.values() if e.runtime_library))


def colour(name: str) -> str:
    engine = ENGINES.get(name)
    return engine.colour if engine else Engine.colour


def capability_table() -> list[str]:
    """The capability table, one line per engine, as ``edgecnn profile --help`` prints it."""
    rows = [("engine", "runs", "precisions", "devices", "installed here")]
    for e in ENGINES.values():
        hint = f"pip install 'edgecnn[{e.extra}]'" if e.extra else e.install
        rows.append((e.name, ", ".join(e.artifacts), ", ".join(e.precisions), ", ".join(e.devices),
                     "yes" if e.available() else f"no: {hint}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]


def _module(spec: str):
    if spec.endswith(".py") or os.sep in spec:
        path = Path(spec).expanduser().resolve()
        name = f"edgecnn_extra_engine_{path.stem}"
        if name in sys.modules:
            return sys.modules[name]
        found = importlib.util.spec_from_file_location(name, path)
        if found is None or not path.is_file():
            raise UsageError(f"{ENV}: {spec} is not a Python file")
        module = importlib.util.module_from_spec(found)
        sys.modules[name] = module
        found.loader.exec_module(module)
        return module
    return importlib.import_module(spec)


def declared_in(module, attr: str | None = None) -> list[Engine]:
    """The engines a module declares: ``attr``, else its ``ENGINES``, else its ``ENGINE``."""
    value = getattr(module, attr) if attr else getattr(module, "ENGINES", None) or getattr(module, "ENGINE")
    return [value] if isinstance(value, Engine) else list(value)


def register_from_env(value: str | None = None) -> list[Engine]:
    """Register the engines the modules named in ``EDGECNN_ENGINE_MODULES`` (or ``value``) declare."""
    value = os.environ.get(ENV, "") if value is None else value
    added = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        spec, _, attr = entry.rpartition(":") if ":" in entry and not entry.endswith(".py") else (entry, "", "")
        try:
            module = _module(spec or entry)
            found = declared_in(module, attr or None)
        except (ImportError, AttributeError, OSError) as exc:
            raise UsageError(f"{ENV}: cannot load engines from {entry!r}: {type(exc).__name__}: {exc}") from None
        added += [register(engine, replace=True) for engine in found]
    return added


for _module_declaring in BUILTIN:
    for _engine in declared_in(_module_declaring):
        register(_engine)
