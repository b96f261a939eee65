"""The package's shape: layers import only downward, and imports inside functions defer heavy libraries only.

The layer contract lives in pyproject.toml ([tool.importlinter]) and is checked by import-linter
here, so a new cycle between packages fails the suite. Imports inside functions are allowed for
one reason: deferring a heavy or optional library (torch, torchvision, timm, onnxruntime,
openvino, tensorrt, onnxsim, onnx-tool, matplotlib, ...) until the code that needs it runs, and,
in ``edgecnn/cli``, loading a command's module only when that command runs (so ``edgecnn --help``
does not start PyTorch). Everything else is imported at the top of its module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgecnn"
HEAVY = {"torch", "torchvision", "timm", "onnxruntime", "openvino", "tensorrt", "cuda", "onnxsim", "onnx_tool",
         "matplotlib", "onnxconverter_common", "nncf", "safetensors", "tqdm", "tabulate", "yaml", "fcntl",
         "executorch", "ai_edge_litert", "litert_torch", "torchao"}


def test_import_contracts_hold():
    """import-linter's own command on pyproject.toml's contracts (the layers, and device code importing nothing)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))"],
                          capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def _graph():
    """Top-level imports of every edgecnn module: (internal modules, external top-level packages)."""
    internal, external, lazy = {}, {}, []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        internal[module], external[module] = set(), set()
        top_level = set(map(id, tree.body))
        for node in ast.walk(tree):
            inside = id(node) not in top_level
            if isinstance(node, ast.ImportFrom) and node.level:
                target = _resolve(module, node, path.name == "__init__.py")
                targets = [target] + [f"{target}.{a.name}" for a in node.names]
                if inside:
                    lazy.append((module, targets, node.lineno))
                else:
                    internal[module].update(targets)
            elif isinstance(node, (ast.Import, ast.ImportFrom)) and not inside:
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                external[module].update(n.split(".")[0] for n in names)
    return internal, external, lazy


def test_imports_inside_functions_only_defer_heavy_libraries():
    internal, external, lazy = _graph()
    heavy: dict[str, bool] = {}

    def is_heavy(module: str, seen=()) -> bool:
        if module not in internal:
            return False
        if module not in heavy:
            heavy[module] = bool(external[module] & HEAVY) or any(
                is_heavy(m, seen + (module,)) for m in internal[module] if m not in seen)
        return heavy[module]

    offenders = []
    for module, targets, line in lazy:
        if module.startswith("edgecnn.cli"):
            continue  # a command's module loads when the command runs
        if not any(is_heavy(t) for t in targets if t in internal):
            offenders.append(f"{module}:{line} imports {targets[0]} inside a function")
    assert not offenders, "\n".join(offenders)


# ---------------------------------------------------------------- the device package bundles ship
DEVICE = PACKAGE / "core" / "device"
DEVICE_MAY_IMPORT = {"numpy", "PIL", "psutil"}  # besides the standard library; psutil only tried, where /proc is not


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in a file, at any depth (``from . import x``: (1, "x"))."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(0, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.level, node.module))
        elif isinstance(node, ast.ImportFrom):
            found += [(node.level, a.name) for a in node.names]
    return found


def test_each_device_module_imports_only_the_standard_library_numpy_pillow_and_its_own_package():
    import sys

    modules = sorted(DEVICE.glob("*.py"))
    assert len(modules) >= 10, modules  # one module a concern
    offenders = []
    for path in modules:
        for level, module in _imports(path):
            top = module.split(".")[0]
            if level > 1 or (level == 0 and top not in sys.stdlib_module_names and top not in DEVICE_MAY_IMPORT):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}: {'.' * level}{module}")
            if level == 1 and not (DEVICE / f"{top}.py").exists():
                offenders.append(f"{path.relative_to(PACKAGE.parent)}: .{module} is not a module of the package")
    assert not offenders, "the device package imports outside itself:\n" + "\n".join(offenders)
    # `edgecnn device run` sends environment.py's source alone to read a device's identity: it imports nothing
    # of its package either
    assert not [m for level, m in _imports(DEVICE / "environment.py") if level], "environment.py imports its package"


def test_the_forbidden_contract_names_every_other_module_of_core():
    import pytest

    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    contracts = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    device = next(c for c in contracts if c["type"] == "forbidden" and "edgecnn.core.device" in c["source_modules"])
    core = {f"edgecnn.core.{p.stem}" for p in (PACKAGE / "core").glob("*.py") if p.stem != "__init__"} | {
        f"edgecnn.core.{p.name}" for p in (PACKAGE / "core").iterdir() if (p / "__init__.py").exists()}
    assert core - {"edgecnn.core.device"} <= set(device["forbidden_modules"])
