"""Tasks own what they know (issue 25): a task is one registry entry (edgecnn/tasks/registry.py) that is called.

Outside ``edgecnn/tasks`` no task name drives logic: no comparison with a task name (``task == "segmentation"``,
``task in ("classification", ...)``), no dict keyed by task names, no ``match`` on them. Code asks the entry
(``get_task(name)``, ``task_of(name)``, ``of_model(name)``) for its functions and facts instead. What stays outside
is data: a zoo spec declaring the task it solves (``task="segmentation"``), the zoo's and the metadata's default for a
model that names none.

The device side is the one place with per-task code outside ``edgecnn/tasks``: ``edgecnn/bundle/infer.py`` and
the package ``edgecnn/core/device/`` are shipped verbatim into bundles and import nothing of edgecnn's, so infer.py
keeps a handler table (``HANDLERS``) selected by data: the ``handler`` the bundle's preprocess.json records, which the
builder writes from the task's entry (``Task.bundle_handler``). That table is keyed by handler names, not task
names, so the scan below needs no exception for it; the test checks that it has every entry's handler.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from edgecnn.tasks.registry import TASKS, Task, get_task, task_of, training_modes

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edgecnn"
NAMES = set(TASKS)
# shipped verbatim (infer.py, and the package edgecnn/core/device/ as edgecnn_device/): select by data only
DEVICE_SIDE = {"edgecnn/bundle/infer.py",
               *(p.relative_to(ROOT).as_posix() for p in (PACKAGE / "core" / "device").glob("*.py"))}


def _outside_tasks():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith("edgecnn/tasks/"):
            yield relative, ast.parse(path.read_text())


def _literals(node) -> list[str]:
    """The task names among a node's string constants (the node itself, or the items of a tuple/list/set)."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [i.value for i in items if isinstance(i, ast.Constant) and i.value in NAMES]


def test_no_task_name_drives_logic_outside_edgecnn_tasks():
    offenders = []
    for relative, tree in _outside_tasks():
        for node in ast.walk(tree):
            found = []
            if isinstance(node, ast.Compare):  # ==, !=, in, not in against a task name
                found = [n for side in [node.left, *node.comparators] for n in _literals(side)]
            elif isinstance(node, ast.Dict):  # a table keyed by task names (not a record with a "similarity" score)
                found = [n for key in node.keys if key is not None for n in _literals(key)]
                if len(set(found)) < 2 and len(found) < len(node.keys):
                    found = []
            elif isinstance(node, ast.match_case):
                found = [n for sub in ast.walk(node.pattern) if isinstance(sub, ast.MatchValue)
                         for n in _literals(sub.value)]
            line = getattr(node, "lineno", None) or getattr(getattr(node, "pattern", None), "lineno", "?")
            offenders += [f"{relative}:{line} {name!r}" for name in found]
    assert not offenders, "task names drive logic outside edgecnn/tasks (ask the registry entry):\n" + \
        "\n".join(offenders)


def test_the_issues_grep_prints_nothing():
    """``git grep -nE "== *['\\"](classification|segmentation|similarity)['\\"]|in \\(['\\"](...)" -- edgecnn
    ':!edgecnn/tasks'``, as the issue states it, over the same files."""
    pattern = re.compile(r"""== *['"](classification|segmentation|similarity)['"]|"""
                         r"""in \(['"](classification|segmentation|similarity)""")
    hits = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            for path in sorted(PACKAGE.rglob("*.py")) if not path.relative_to(ROOT).as_posix().startswith("edgecnn/tasks/")
            for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, "\n".join(hits)


def test_the_zoo_keeps_no_task_list_and_every_spec_names_a_registry_task():
    from edgecnn.zoo import get_spec, list_models
    from edgecnn.zoo import registry as zoo_registry

    assert not hasattr(zoo_registry, "TASKS")  # the task list is edgecnn.tasks'
    assert zoo_registry.CLASSIFIER_TASK in TASKS and zoo_registry.ModelSpec.task in TASKS
    for name in list_models() + ["siamese:mobilenet_v1_025"]:
        assert get_spec(name).task in TASKS, name


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_role_an_entry_names_is_a_function(task):
    entry = get_task(task)
    for role in ("reader", "split", "held_out", "trainer", "evaluator", "eval_report", "profile_accuracy", "scorer",
                 "calibration") + (("comparison",) if entry.comparison else ()):
        assert callable(entry.function(role)), f"{task}.{role} = {getattr(entry, role)}"
    assert entry.training.name == task and entry.headline in entry.metrics
    assert entry.bundle_handler and entry.bundle_usage and entry.io(1)[0]
    assert training_modes()[task] is entry.training


def test_the_device_side_handler_table_has_every_entrys_handler():
    tree = ast.parse((PACKAGE / "bundle" / "infer.py").read_text())
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", None) == "HANDLERS" for t in node.targets))
    handlers = {key.value for key in table.keys}
    assert {t.bundle_handler for t in TASKS.values()} <= handlers
    assert not handlers & NAMES  # selected by the handler the bundle records, not by comparing task names
    for relative in DEVICE_SIDE:  # and the device side imports nothing of edgecnn's (edgecnn_device: its own copy)
        modules = []
        for n in ast.walk(ast.parse((ROOT / relative).read_text())):
            if isinstance(n, ast.Import):
                modules += [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom):
                modules.append("." * n.level + (n.module or ""))
        in_package = relative.startswith("edgecnn/core/device/")  # its modules import one another ("."), no further
        assert not [m for m in modules if (m.startswith(".") and not (in_package and not m.startswith("..")))
                    or m == "edgecnn" or m.startswith("edgecnn.")], relative


def test_an_unknown_or_missing_task_reads_as_the_default_and_a_strict_lookup_names_the_tasks():
    assert task_of(None) is task_of("detection") is TASKS["classification"]
    with pytest.raises(KeyError, match="classification, segmentation, similarity"):
        get_task("detection")


# ---------------------------------------------------------------- the entries are called
calls: list = []


def fake_trainer(config, *, resume=False, force=False, progress=True, log=print):
    calls.append((config.model, config.data, config.epochs, resume, force))

    class Result:
        def summary(self) -> str:
            return "trained by the entry's trainer"

    return Result()


def fake_report(runner, dataset, *, model, batch_size=32, other=None, threads=None, progress=True):
    calls.append((runner.info.architecture, len(dataset), batch_size))
    return "reported by the entry's eval_report", {}


def _swap(monkeypatch, task: str, **roles) -> None:
    monkeypatch.setitem(TASKS, task, replace(TASKS[task], **roles))


@pytest.mark.parametrize("model, task", [("unet_same", "segmentation"), ("siamese:mobilenet_v1_025", "similarity"),
                                         ("mobilenet_v1_025", "classification")])
def test_edgecnn_train_calls_the_models_task_entry(model, task, cli, monkeypatch, tmp_path):
    calls.clear()
    _swap(monkeypatch, task, trainer=f"{__name__}.fake_trainer")
    result = cli("train", model, "--data", "synthetic:shapes:8", "-o", tmp_path / "run", "--epochs", "2")
    assert result.exit_code == 0, result.output
    assert "trained by the entry's trainer" in result.stdout
    assert calls == [(model, "synthetic:shapes:8", 2, False, False)]


def test_resume_is_refused_for_a_task_whose_trainer_does_not_resume(cli, tmp_path):
    from conftest import one_line_error

    line = one_line_error(cli("train", "unet_same", "--data", "synthetic:shapes-seg:8", "-o", tmp_path / "u",
                              "--resume"))
    assert "--resume is for classification runs; segmentation training starts over" in line


def test_the_recipes_train_stage_calls_the_models_task_entry(monkeypatch, tmp_path):
    from edgecnn.recipe import stages
    from edgecnn.recipe.schema import DataSection, ModelSection
    from edgecnn.train_options import TrainOptions

    calls.clear()

    def trainer(config, *, resume=False, force=False, progress=True, log=print):
        calls.append((config.model, force))
        Path(config.output).mkdir(parents=True)
        for name in ("best.pt", "history.json"):
            (Path(config.output) / name).write_text("{}")

        class Result:
            def record(self) -> dict:
                return {"best_mean_iou": 0.5}

        return Result()

    monkeypatch.setattr(sys.modules[__name__], "recipe_trainer", trainer, raising=False)
    _swap(monkeypatch, "segmentation", trainer=f"{__name__}.recipe_trainer")

    class Context:
        work, progress, record = tmp_path / "work", False, {}

        def output(self, name):
            return tmp_path / name

        def note(self, line):
            pass

    ctx = Context()
    ctx.work.mkdir()
    stages.train(ctx, ModelSection(arch="unet_same"), DataSection(path="synthetic:shapes-seg:8"), TrainOptions())
    assert calls == [("unet_same", True)] and ctx.record == {"best_mean_iou": 0.5}
    assert (tmp_path / "model.pt").exists() and not (ctx.work / "train").exists()


def test_edgecnn_eval_calls_the_models_task_entry(cli, monkeypatch, tmp_path):
    from edgecnn.zoo import create_model
    from edgecnn.zoo.weights import save_checkpoint

    classes = ["circle", "cross", "diamond", "hexagon", "ring", "square", "star", "triangle"]  # synthetic:shapes'
    loaded = create_model("mobilenet_v1_025", num_classes=len(classes), input_size=32)
    save_checkpoint(tmp_path / "m.pt", loaded.model, arch="mobilenet_v1_025", classes=classes,
                    input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict())
    calls.clear()
    _swap(monkeypatch, "classification", eval_report=f"{__name__}.fake_report")
    result = cli("eval", tmp_path / "m.pt", "--data", "synthetic:shapes:20", "--split", "val", "--batch-size", "4")
    assert result.exit_code == 0, result.output
    assert "reported by the entry's eval_report" in result.stdout
    assert calls == [("mobilenet_v1_025", 8, 4)]  # the validation side (one of each class), as the entry splits


def test_a_task_is_a_frozen_dataclass_of_data_and_named_functions():
    assert Task.__dataclass_params__.frozen
