"""Every TensorRT name the code calls exists in the real TensorRT Python bindings, per version; cuda-python likewise.

TensorRT cannot run here (no GPU), and without its -libs wheels the module does not even import; but its
``tensorrt-cu12-bindings`` wheels are small, and the names pybind11 registers (classes, enum members, methods,
properties, keyword arguments) stand as NUL-terminated strings in ``tensorrt.so``. ``.ci/run`` downloads the versions
listed in ``.ci/tensorrt-bindings.txt`` into ``.ci/wheels/``; outside CI the tests skip without them, in CI
(``CI=true``) they fail.

The names the code uses are read from its source with ``ast``: attribute chains on the ``trt`` module and on the
objects made from it (builder, network, config, engine, context, ...), keyword arguments of their methods, and the
methods of classes that subclass a TensorRT class (TensorRT calls those by name). Names read through
``getattr(obj, "name", default)`` are optional. Code under ``if ... calibration_table`` (and what only that code
uses) is TensorRT 10's path: :func:`build_plan` refuses calibration tables for 11, a test below proves it. The
builder-flag names the code sets through ``getattr(trt.BuilderFlag, flag)`` come from :func:`build_plan`, run here
for each version.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
import types
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecnn.engines.trt_engine import TRT_REQUIREMENTS
from edgecnn.engines.trt_plan import PRECISIONS, build_plan
from edgecnn.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / ".ci" / "wheels"
VERSIONS = [line.strip() for line in (ROOT / ".ci" / "tensorrt-bindings.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
SOURCES = ["edgecnn/engines/trt_engine.py", "edgecnn/engines/trt_plan.py", "edgecnn/engines/gpu_timing.py",
           "edgecnn/bundle/infer.py"]
# NVIDIA's migration guides: Python APIs removed in TensorRT 10 (binding-based engine API, implicit-batch execution,
# the old builder entry points) and in 11 (weak typing, implicit INT8 calibration, device_memory_size).
REMOVED = {
    10: {"execute_async_v2", "get_binding_shape", "set_binding_shape", "get_binding_index", "get_binding_name",
         "get_binding_dtype", "binding_is_input", "num_bindings", "max_workspace_size", "build_engine"},
    11: {"EXPLICIT_BATCH", "FP16", "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "int8_calibrator",
         "set_calibration_profile", "get_calibration_profile", "set_quantization_flag", "quantization_flags",
         "IInt8Calibrator", "IInt8EntropyCalibrator2", "get_batch", "get_batch_size", "read_calibration_cache",
         "write_calibration_cache", "device_memory_size", "platform_has_fast_fp16"},  # with the calibrators' methods
}
CI = os.environ.get("CI", "").lower() == "true"


def removed_in(major: int) -> set[str]:
    return set().union(*(names for version, names in REMOVED.items() if version <= major))


# ---------------------------------------------------------------- the bindings' names
@dataclass
class Bindings:
    version: str
    so: bytes  # tensorrt.so: pybind11's registered names as NUL-terminated strings
    init: str  # the package's __init__.py: __version__ and a few Python helpers

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def has(self, name: str) -> bool:
        """``name`` as a NUL-terminated string: whole, or the tail of a longer one (the linker stores a short string
        inside a longer one that ends with it: ``INT8`` in ``UINT8``); or a top-level name of __init__.py."""
        if re.search(rb"(?:^|[\0A-Za-z0-9_])" + re.escape(name.encode()) + rb"\0", self.so):
            return True
        return re.search(rf"(?m)^(?:def |class )?{re.escape(name)}\b", self.init) is not None

    def whole(self, name: str) -> bool:
        """``name`` as a string of its own (NUL on both sides), not only inside a longer one."""
        return b"\0" + name.encode() + b"\0" in self.so


def bindings(version: str) -> Bindings:
    wheel = next(WHEELS.glob(f"tensorrt_cu12_bindings-{version}-*.whl"), None)
    if wheel is None:
        why = (f"no tensorrt-cu12-bindings {version} wheel in .ci/wheels (.ci/run downloads it: pip download "
               f"--no-deps --python-version 3.11 --only-binary=:all: tensorrt-cu12-bindings=={version} -d .ci/wheels)")
        if CI:
            pytest.fail(f"CI=true and {why}")
        pytest.skip(why)
    with zipfile.ZipFile(wheel) as archive:
        so = next(n for n in archive.namelist() if n.endswith("/tensorrt.so"))
        return Bindings(version, archive.read(so), archive.read(so.rsplit("/", 1)[0] + "/__init__.py").decode())


@pytest.fixture(params=VERSIONS, scope="module")
def trt_bindings(request) -> Bindings:
    return bindings(request.param)


# ---------------------------------------------------------------- the names the code uses
@dataclass(frozen=True)
class Use:
    name: str
    where: str  # file:line
    optional: bool = False  # getattr(obj, "name", default)
    trt10_only: bool = False  # under `if ... calibration_table`, or reached only from there


def _key(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return "self." + node.attr
    return None


def _is_trt(node: ast.AST, tracked: set[str]) -> bool:
    """Does ``node`` evaluate to the trt module or an object TensorRT made?"""
    if isinstance(node, ast.Name):
        return node.id == "trt" or node.id in tracked
    if isinstance(node, ast.Attribute):
        if _key(node) in tracked:
            return True
        return not node.attr.startswith("__") and _is_trt(node.value, tracked)
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Attribute) and _is_trt(node.func, tracked)
    return False


def _guarded_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes on TensorRT 10's path: under an ``if`` on a calibration table, and the bodies of functions
    and classes that are named only there."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "calibration_table" in ast.unparse(node.test):
            for child in node.body:
                guarded.update(id(n) for n in ast.walk(child))
    definitions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    changed = True
    while changed:
        changed = False
        for name, definition in definitions.items():
            if id(definition) in guarded:
                continue
            mentions = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name]
            if mentions and all(id(n) in guarded for n in mentions):
                guarded.update(id(n) for n in ast.walk(definition))
                changed = True
    return guarded


def _scopes(tree: ast.Module):
    """Each top-level function, and each class (its methods share what they keep in self.X)."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node


def trt_uses(path: str) -> list[Use]:
    tree = ast.parse((ROOT / path).read_text(), path)
    guarded = _guarded_nodes(tree)
    uses: list[Use] = []

    def use(name: str, node: ast.AST, optional: bool = False) -> None:
        uses.append(Use(name, f"{path}:{node.lineno}", optional, id(node) in guarded))

    for scope in _scopes(tree):
        tracked: set[str] = set()
        assigns = [n for n in ast.walk(scope) if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None]
        for _ in range(len(assigns) + 1):  # to a fixpoint: x = trt.Builder(...); y = x.create_network(0); ...
            before = len(tracked)
            for node in assigns:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                             and isinstance(node.value, ast.Tuple) else [(target, node.value)])
                    for left, right in pairs:
                        if _key(left) and _is_trt(right, tracked):
                            tracked.add(_key(left))
            if len(tracked) == before:
                break
        for node in ast.walk(scope):
            if isinstance(node, ast.Attribute) and not node.attr.startswith("__") and _is_trt(node.value, tracked):
                use(node.attr, node)
            elif isinstance(node, ast.Attribute) and node.attr == "__version__" and _is_trt(node.value, tracked):
                use("__version__", node)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_trt(node.func, tracked):
                for keyword in node.keywords:
                    if keyword.arg:
                        use(keyword.arg, node)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2 and _is_trt(node.args[0], tracked)
                    and isinstance(node.args[1], ast.Constant)):
                use(node.args[1].value, node, optional=node.func.id == "hasattr" or len(node.args) == 3)
            if isinstance(node, ast.ClassDef) and any(_is_trt(base, tracked) for base in node.bases):
                for method in node.body:  # overrides TensorRT calls by name (report_layer_time, get_batch, ...)
                    if isinstance(method, ast.FunctionDef) and not method.name.startswith("__"):
                        use(method.name, method)
    return uses


USES = {path: trt_uses(path) for path in SOURCES}
ALL_USES = [u for uses in USES.values() for u in uses]


def _model(kind: str) -> onnx.ModelProto:
    """A one-Conv model holding fp32, fp16 (by its metadata) or int8 (symmetric Q/DQ before the Conv)."""
    weight = numpy_helper.from_array(np.ones((4, 3, 3, 3), "float32"), "w")
    scale = numpy_helper.from_array(np.array(0.1, "float32"), "s")
    zero = numpy_helper.from_array(np.array(0, "int8"), "z")
    nodes = [helper.make_node("Conv", ["xq" if kind == "int8" else "x", "w"], ["y"], name="conv")]
    if kind == "int8":
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
                 helper.make_node("DequantizeLinear", ["q", "s", "z"], ["xq"], name="dq")] + nodes
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight, scale, zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if kind == "fp16":
        model.metadata_props.add(key="edgecnn.precision", value="fp16")
    return model


def plan_flags(major: int) -> tuple[set[str], set[str]]:
    """(builder flags, network creation flags) of every plan build_plan makes for TensorRT ``major``."""
    builder, creation = set(), set()
    for kind in ("fp32", "fp16", "int8"):
        for precision in PRECISIONS:
            for table in (None, "table.cache"):
                try:
                    plan = build_plan(_model(kind), precision, major, calibration_table=table)
                except UsageError:
                    continue
                builder.update(plan.builder_flags)
                creation.update(plan.creation_flags)
    return builder, creation


# ---------------------------------------------------------------- the tests
def test_the_collector_sees_the_tensorrt_calls():
    """Guards the ast reading: names that the code plainly calls are found, so an empty or broken reading fails."""
    names = {u.name for u in ALL_USES}
    for expected in ("Builder", "BuilderFlag", "Runtime", "deserialize_cuda_engine", "set_tensor_address",
                     "execute_async_v3", "get_tensor_shape", "set_input_shape", "report_layer_time",
                     "IInt8EntropyCalibrator2", "int8_calibrator", "read_calibration_cache", "ignore_mismatch",
                     "serialize", "set_memory_pool_limit", "__version__"):
        assert expected in names, f"the ast reading of {SOURCES} misses {expected}"
    assert {u.name for u in USES["edgecnn/bundle/infer.py"]} >= {"Runtime", "execute_async_v3", "set_flag"}
    trt10 = {u.name for u in ALL_USES if u.trt10_only}
    assert {"IInt8EntropyCalibrator2", "int8_calibrator", "get_batch"} <= trt10
    assert "execute_async_v3" not in trt10 and "BuilderFlag" not in trt10
    assert {u.name for u in ALL_USES if u.optional} == {"device_memory_size", "device_memory_size_v2"}


def test_calibration_tables_are_tensorrt_10_only():
    """What makes the `if ... calibration_table` code TensorRT 10's path: the plan refuses tables for 11."""
    assert build_plan(_model("fp32"), "int8", 10, calibration_table="t.cache").calibration_table == "t.cache"
    with pytest.raises(UsageError, match="TensorRT 11 removed implicit INT8 calibration"):
        build_plan(_model("fp32"), "int8", 11, calibration_table="t.cache")


def test_every_name_the_code_calls_exists_in_that_version(trt_bindings):
    major = trt_bindings.major
    path = [u for u in ALL_USES if not u.optional and (major < 11 or not u.trt10_only)]
    missing = sorted({f"{u.name} ({u.where})" for u in path if not trt_bindings.has(u.name)})
    assert not missing, f"TensorRT {trt_bindings.version} has none of: {', '.join(missing)}"
    builder, creation = plan_flags(major)
    assert builder or major >= 11, "no TensorRT 10 plan sets a builder flag: the plan check tests nothing"
    missing = sorted(f for f in builder | creation if not trt_bindings.has(f))
    assert not missing, f"TensorRT {trt_bindings.version} lacks the flags build_plan sets: {missing}"
    if major >= 11:
        assert not builder, f"TensorRT 11 has no precision builder flags; build_plan set {builder}"


def test_no_removed_name_is_used(trt_bindings):
    """The migration guides' removed names are gone from the bindings (so the string search can tell absence),
    and the code's path for that version uses none of them."""
    removed = removed_in(trt_bindings.major)
    still_there = sorted(n for n in removed if trt_bindings.has(n))
    assert not still_there, f"TensorRT {trt_bindings.version} still has {still_there}: the REMOVED list is wrong"
    path = [u for u in ALL_USES if not u.optional and (trt_bindings.major < 11 or not u.trt10_only)]
    used = sorted({f"{u.name} ({u.where})" for u in path if u.name in removed})
    flags = sorted(set().union(*plan_flags(trt_bindings.major)) & removed)
    assert not used and not flags, f"the TensorRT {trt_bindings.major} path uses removed names: {used + flags}"


def test_what_tensorrt_11_removed_from_our_code_path_is_only_what_nvidia_documents():
    """The TensorRT 10 path's names all exist in 10; those 11 lacks are in NVIDIA's 11.x removed list (the guard is
    needed, and for nothing else); device_memory_size, gone in 11, is read only with a default."""
    old = bindings(next(v for v in VERSIONS if v.startswith("10.")))
    new = bindings(next(v for v in VERSIONS if v.startswith("11.")))
    trt10 = {u.name for u in ALL_USES if u.trt10_only}
    assert not sorted(n for n in trt10 if not old.has(n))
    gone = {n for n in trt10 if not new.has(n)}
    assert gone and gone <= REMOVED[11], (sorted(gone), sorted(gone - REMOVED[11]))
    assert old.whole("device_memory_size") and not new.has("device_memory_size") and new.has("device_memory_size_v2")


# ---------------------------------------------------------------- the pins and cuda-python
def _pins(requirements) -> dict[str, str]:
    return {re.split(r"[<>=!~ ]", r, 1)[0]: r for r in requirements}


def test_the_pins_agree_everywhere():
    """pyproject's tensorrt extra, the bundle's requirements.txt and infer.py name one range; it holds every
    TensorRT version tested here, and nothing older than the oldest."""
    from packaging.specifiers import SpecifierSet

    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    extra, bundle, test = _pins(project["tensorrt"]), _pins(TRT_REQUIREMENTS), _pins(project["test"])
    assert extra["tensorrt"] == bundle["tensorrt"] and extra["cuda-python"] == bundle["cuda-python"]
    assert test["cuda-python"] == extra["cuda-python"] == load_infer().CUDA_PYTHON
    tensorrt = SpecifierSet(extra["tensorrt"].removeprefix("tensorrt"))
    assert all(v in tensorrt for v in VERSIONS), (extra["tensorrt"], VERSIONS)
    majors_minors = sorted(tuple(int(p) for p in v.split(".")[:2]) for v in VERSIONS)
    (major, minor), newest = majors_minors[0], majors_minors[-1][0]
    below = f"{major}.{minor - 1}.99" if minor else f"{major - 1}.99"
    assert below not in tensorrt and f"{newest + 1}.0" not in tensorrt, (extra["tensorrt"], below, newest + 1)


def load_infer() -> types.ModuleType:
    """edgecnn/bundle/infer.py as the bundle runs it (a standalone script), under a private name."""
    spec = importlib.util.spec_from_file_location("_edgecnn_bundle_infer", ROOT / "edgecnn/bundle/infer.py")
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def cuda_uses() -> list[tuple[str, ...]]:
    """Attribute chains on the cuda runtime module in infer.py: cudart.cudaMalloc, cudart.cudaMemcpyKind.X, ..."""
    tree = ast.parse((ROOT / "edgecnn/bundle/infer.py").read_text())
    chains = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts, value = [node.attr], node.value
            while isinstance(value, ast.Attribute) and not (_key(value) == "self.cudart"):
                parts.insert(0, value.attr)
                value = value.value
            if (isinstance(value, ast.Name) and value.id == "cudart") or _key(value) == "self.cudart":
                chains.add(tuple(parts))
    # keep the longest chains only (cudaMemcpyKind.cudaMemcpyHostToDevice covers cudaMemcpyKind)
    return sorted(c for c in chains if not any(o[:len(c)] == c and o != c for o in chains))


def test_cuda_python_is_installed_in_the_pinned_range():
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet

    pin = _pins(TRT_REQUIREMENTS)["cuda-python"]
    installed = version("cuda-python")
    assert installed in SpecifierSet(pin.removeprefix("cuda-python")), (installed, pin)
    import cuda.bindings.runtime  # noqa: F401  (the module infer.py asks for first)


def test_the_cuda_runtime_helper_returns_a_module_with_every_function_infer_calls():
    chains = cuda_uses()
    firsts = {c[0] for c in chains}
    assert {"cudaMalloc", "cudaFree", "cudaMemcpyAsync", "cudaStreamCreate", "cudaStreamSynchronize",
            "cudaStreamDestroy", "cudaMemcpyKind", "cudaError_t"} <= firsts, firsts
    runtime = load_infer().cuda_runtime()
    assert runtime.__name__ == "cuda.bindings.runtime"
    for chain in chains:
        value = runtime
        for part in chain:
            assert hasattr(value, part), f"{runtime.__name__} has no {'.'.join(chain)}"
            value = getattr(value, part)


def test_the_cuda_runtime_helper_falls_back_to_cudart_then_says_what_to_install(monkeypatch):
    infer = load_infer()
    old = types.ModuleType("cuda.cudart")
    monkeypatch.setitem(sys.modules, "cuda.bindings", None)  # an import of it raises ImportError
    monkeypatch.setitem(sys.modules, "cuda.cudart", old)
    import cuda

    monkeypatch.setattr(cuda, "cudart", old, raising=False)
    assert infer.cuda_runtime() is old
    monkeypatch.setitem(sys.modules, "cuda.cudart", None)
    monkeypatch.delattr(cuda, "cudart")
    with pytest.raises(SystemExit, match=re.escape(f"pip install '{infer.CUDA_PYTHON}'")):
        infer.cuda_runtime()


def test_cuda_python_is_imported_only_through_the_helper():
    """No `from cuda import cudart` (gone in cuda-python 13) or other cuda import outside cuda_runtime()."""
    tree = ast.parse((ROOT / "edgecnn/bundle/infer.py").read_text())
    helper_node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "cuda_runtime")
    inside = {id(n) for n in ast.walk(helper_node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        if any(n == "cuda" or n.startswith("cuda.") for n in names):
            assert id(node) in inside, f"infer.py:{node.lineno} imports {names} outside cuda_runtime()"
