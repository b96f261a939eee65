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
    ("targets=[{engine: onnxrt}]", "targets[0].engine: unknown engine 'onnxrt'; did you mean ort?"),
    ("model.arch=resnet5", "model.arch: unknown model 'resnet5'"),
    ("quantize.method=median", "quantize.method must be one of"),
    ("data.val_split=1.5", "data.val_split must be between 0 and 1"),
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
