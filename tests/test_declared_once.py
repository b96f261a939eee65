"""Each option is declared once (name, type, default, help, range): the click options, the recipe schema and the
library's dataclasses take it from that declaration (issue 25). ``val_split`` is the worked example; a train, a
quantize and a profile option are checked the same way."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgecnn.cli import main as cli
from edgecnn.core.options import option_info
from edgecnn.core.split import SplitOptions, default_val_split, split_help
from edgecnn.profile.options import ProfileOptions
from edgecnn.quantize.options import QuantizeOptions
from edgecnn.recipe.schema import DataSection, DeviceSection
from edgecnn.train_options import TrainConfig, TrainOptions

PACKAGE = Path(__file__).resolve().parent.parent / "edgecnn"
QUICK = PACKAGE.parent / "recipes" / "quickstart.yaml"


def _defaults_written(name: str) -> list[str]:
    """Where the source gives ``name`` a default of its own: a function parameter or class field with a literal
    default, or a command-line flag spelled --name by hand (click or argparse, the bundle's infer.py too)."""
    found = []
    flag = "--" + name.replace("_", "-")
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                positional = args.posonlyargs + args.args
                pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
                pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
                found += [f"{path.relative_to(PACKAGE)}:{node.lineno}" for a, d in pairs
                          if a.arg == name and isinstance(d, ast.Constant) and d.value is not None]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name \
                    and node.value is not None:
                call = node.value
                if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "same_as"):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("option", "add_argument") and any(
                    isinstance(a, ast.Constant) and a.value == flag for a in node.args):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} (a flag of its own)")
    return sorted(found)


def test_val_split_is_declared_once():
    written = _defaults_written("val_split")
    assert len(written) == 1 and written[0].startswith("core/split.py:"), written  # SplitOptions' opt(...) alone


@pytest.mark.parametrize("cls", [QuantizeOptions, DataSection, TrainConfig])
def test_every_holder_of_val_split_carries_the_one_declaration(cls):
    declared = {f.name: f for f in dataclasses.fields(SplitOptions)}["val_split"]
    field = {f.name: f for f in dataclasses.fields(cls)}["val_split"]
    assert field.default == declared.default == default_val_split()
    assert option_info(field).help == option_info(declared).help == split_help()
    assert option_info(field).domain == option_info(declared).domain


@pytest.mark.parametrize("command", ["train", "eval", "quantize"])
def test_the_commands_offer_the_declared_val_split(command):
    text = CliRunner().invoke(cli, [command, "--help"], terminal_width=400).output
    line = " ".join(text.split())
    assert "--val-split FLOAT RANGE" in line
    assert " ".join(split_help().split()) in line and "[default: 0.2;" in line


@pytest.mark.parametrize("value", ["0", "1", "1.5"])
def test_the_recipe_and_the_command_line_refuse_the_same_values(value):
    from edgecnn.recipe.schema import RecipeError, load_recipe

    with pytest.raises(RecipeError, match=f"data.val_split must be > 0 and < 1, got {float(value)}"):
        load_recipe(QUICK, [f"data.val_split={value}"])
    for command in (["train", "lenet5", "-o", "never"], ["eval", "x.onnx"]):
        result = CliRunner().invoke(cli, [*command, "--data", "synthetic:shapes", "--val-split", value])
        assert result.exit_code == 2 and f"Invalid value for '--val-split': {float(value)} is not in the range 0.0<x<1.0" \
            in " ".join(result.output.split())


@pytest.mark.parametrize("cls, name", [(TrainOptions, "lr"), (QuantizeOptions, "percentile"),
                                       (ProfileOptions, "min_runs")])
def test_three_more_options_are_declared_once(cls, name):
    assert len(_defaults_written(name)) <= 1, _defaults_written(name)
    assert option_info({f.name: f for f in dataclasses.fields(cls)}[name]).help


# ---------------------------------------------------------------- the device side: what infer.py takes
DECLARED_BAD = {"warmup_s": ("--warmup-s", "-1", -1.0), "min_runs": ("--min-runs", "0", 0),
                "min_time_s": ("--min-time-s", "-0.5", -0.5), "threads": ("--threads", "0", 0),
                "batches": ("--batch", "1,0", [1, 0])}
PARSED = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("infer", sys.argv[1])
infer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(infer)
args = infer.parse_args(sys.argv[2:])
print(json.dumps({k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, list, type(None)))}))
"""


@pytest.fixture(scope="module")
def infer_beside_its_package(tmp_path_factory):
    """infer.py with the device package beside it as a bundle ships them (no model: its flags are all we read)."""
    import shutil

    from edgecnn.bundle.builder import DEVICE_FOLDER, INFER_SCRIPT, device_modules

    folder = tmp_path_factory.mktemp("flags")
    shutil.copyfile(INFER_SCRIPT, folder / "infer.py")
    (folder / DEVICE_FOLDER).mkdir()
    for module in device_modules():
        shutil.copyfile(module, folder / DEVICE_FOLDER / module.name)
    (folder / "preprocess.json").write_text("{}")
    return folder / "infer.py"


def _infer(script: Path, *args: str, parsed: bool = False):
    import subprocess
    import sys

    argv = [sys.executable, "-c", PARSED, str(script), *args] if parsed else [sys.executable, str(script), *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd=script.parent)


@pytest.mark.parametrize("name", sorted(DECLARED_BAD))
def test_the_device_side_options_are_declared_once_in_the_package_bundles_ship(name, infer_beside_its_package):
    from edgecnn.core.device.options import DECLARATIONS
    from edgecnn.core.options import OptionError, flag_name

    declaration = DECLARATIONS[name]
    field = {f.name: f for f in dataclasses.fields(ProfileOptions)}[name]
    default = field.default_factory() if field.default is dataclasses.MISSING else field.default
    expected = list(declaration.default) if isinstance(declaration.default, tuple) else declaration.default
    assert default == expected and option_info(field).help == declaration.help
    assert flag_name(field) == declaration.flag_name and (option_info(field).domain.min == declaration.min
                                                          or option_info(field).domain.check is not None)
    written = _defaults_written(name)
    assert not [w for w in written if w.startswith("bundle/")], written  # infer.py restates none of it
    if name in ("min_runs", "min_time_s"):
        assert len(written) == 1 and written[0].startswith("profile/options.py:"), written  # Timing's field alone
    # infer.py: the flag, its help and default from the same declaration, the same range refused
    text = " ".join(_infer(infer_beside_its_package, "--help").stdout.split())
    assert declaration.flag_name in text and (name == "batches" or declaration.described() in text), text
    done = _infer(infer_beside_its_package, "--profile", parsed=True)
    assert done.returncode == 0, done.stderr
    parsed = json.loads(done.stdout)
    assert (parsed["batches"] if name == "batches" else parsed[name]) == expected
    flag, text_value, value = DECLARED_BAD[name]
    refused = _infer(infer_beside_its_package, "--profile", flag, text_value)
    assert refused.returncode == 2 and f"error: {flag} must be >= {declaration.min:g}" in refused.stderr, refused.stderr
    with pytest.raises(OptionError) as error:
        ProfileOptions(**{name: value})
    if name != "batches":  # edgecnn words a list's problem as a whole ("must be positive integers")
        assert f"{flag} {error.value.problem}" in refused.stderr


def test_the_device_connection_is_declared_once_for_the_command_and_the_recipe():
    from edgecnn.device.run import DeviceConnection

    declared = {f.name: option_info(f) for f in dataclasses.fields(DeviceConnection)}
    section = {f.name: option_info(f) for f in dataclasses.fields(DeviceSection)}
    text = " ".join(CliRunner().invoke(cli, ["device", "run", "--help"], terminal_width=400).output.split())
    for name, info in declared.items():
        assert section[name] == info  # the recipe's devices[].python / ssh_config are the same declaration
        assert " ".join(info.help.split()) in text, name
    assert "is not a file" in (declared["ssh_config"].domain.problem("/nonexistent/ssh_config") or "")
