from __future__ import annotations

from pathlib import Path

import pytest

from edgecnn.recipe import RecipeError, load_recipe, parse_overrides

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def test_required_recipes_exist():
    names = {p.stem for p in RECIPES}
    assert {"quickstart", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18", "resnet50"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_shipped_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.name == path.stem and recipe.targets


def test_overrides_use_yaml_values():
    assert parse_overrides(["train.epochs=3", "data.path=photos/", "train.lr=0.01", "export.simplify=false"]) == {
        "train": {"epochs": 3, "lr": 0.01}, "data": {"path": "photos/"}, "export": {"simplify": False}}
    recipe = load_recipe(RECIPES[0], ["train.epochs=1", "data.seed=7", "train.lr=1e-3"])
    assert recipe.train.epochs == 1 and recipe.data.seed == 7 and recipe.train.lr == 0.001


QUICK = Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml"


@pytest.mark.parametrize("override,message", [
    ("train.epoch=3", "unknown key train.epoch; did you mean train.epochs?"),
    ("trian.epochs=3", "unknown key trian; did you mean train?"),
    ("train.epochs=ten", "train.epochs must be an integer, got 'ten'"),
    ("export.simplify=maybe", "export.simplify must be true or false"),
    ("targets=[{engine: torch, precisions: [int8]}]", "targets[0].precisions[0]: engine torch cannot run int8"),
    ("targets=[{engine: onnxrt}]", "targets[0].engine must be one of torch, ort, openvino, ort-cuda, ort-trt, trt, litert, executorch, ncnn, got 'onnxrt'; did you "
                                     "mean ort?"),
    ("model.arch=resnet5", "model.arch: unknown model 'resnet5'"),
    ("quantize.method=median", "quantize.method must be one of"),
    ("data.val_split=1.5", "data.val_split must be > 0 and < 1, got 1.5"),
    # every key with a constrained domain is refused at load time, with its YAML path (issue 11, part 4)
    ("train.freeze=most", "train.freeze must be none, head-only or a number of stages to freeze (0, 1, 2, ...), "
                          "got 'most'"),
    ("quantize.samples=0", "quantize.samples must be >= 1, got 0"),
    ("export.opset=5", "export.opset must be >= 11 and <= 20, got 5"),
    ("export.batch=0", "export.batch must be a positive integer or 'dynamic', got '0'"),
    ("train.optimizer=adam", "train.optimizer must be one of sgd, adamw, got 'adam'; did you mean adamw?"),
    ("train.epochs=-1", "train.epochs must be >= 0, got -1"),
    ("train.lr=0", "train.lr must be > 0, got 0.0"),
    ("train.label_smoothing=1", "train.label_smoothing must be >= 0 and < 1, got 1.0"),
    ("quantize.percentile=50", "quantize.percentile must be >= 90 and <= 100, got 50.0"),
    ("quantize.max_drop=-1", "quantize.max_drop must be >= 0, got -1.0"),
    ("quantize.calib_split=train", "unknown key quantize.calib_split"),
    ("targets=[{engine: ort, batches: [0]}]", "targets[0].batches must be positive integers, got [0]"),
    ("targets=[{engine: ort, threads: 0}]", "targets[0].threads must be >= 1, got 0"),
    ("targets=[{engine: ort, precisions: [int4]}]", "targets[0].precisions must be among fp32, fp16, bf16, int8, got 'int4'"),
    ("profile.min_runs=0", "profile.min_runs must be >= 1, got 0"),
    ("profile.batches=[1]", "unknown key profile.batches"),  # batch sizes are per target
    ("model.num_classes=0", "model.num_classes must be >= 1, got 0"),
    ("data.path=''", "data.path must not be empty"),
    ("train.epochs=0", "train.epochs plus finetune_epochs must be at least 1, got 0 + 0"),
])
def test_bad_recipes_are_refused_with_the_yaml_path(override, message):
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICK, [override])
    assert message in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(RecipeError, match="does not exist"):
        load_recipe(tmp_path / "none.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  arch: [resnet18\n")
    with pytest.raises(RecipeError, match="not valid YAML at line"):
        load_recipe(broken)
    with pytest.raises(RecipeError, match="KEY=VALUE"):
        parse_overrides(["train.epochs"])
