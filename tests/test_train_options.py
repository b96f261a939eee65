"""Training options are honoured or refused, never dropped; every schedule holds any run of at least one step; the
defaults are the training mode's own (classifiers, U-Nets, Siamese nets, QAT) and printed at the start."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch

from conftest import one_line_error
from edgecnn.core.options import OptionError
from edgecnn.optim import make_optimizer, make_schedule, onecycle_fits
from edgecnn.tasks.registry import training_modes
from edgecnn.train_options import TrainOptions

MODES = training_modes()  # each task's training (its registry entry) and QAT's


def test_every_mode_names_only_real_options():
    names = {f.name for f in fields(TrainOptions)}
    for mode in MODES.values():
        assert mode.takes <= names and {"epochs", "lr", "optimizer"} <= mode.takes


def test_the_defaults_are_the_modes_own():
    classifier, unet, siamese, qat = (TrainOptions().for_mode(MODES[m]) for m in ("classification", "segmentation",
                                                                                   "similarity", "qat"))
    assert (classifier.optimizer, classifier.lr, classifier.weight_decay, classifier.schedule) == \
        ("sgd", 0.05, 5e-4, "onecycle")
    assert (unet.optimizer, unet.lr, unet.weight_decay) == ("adamw", 1e-3, 1e-4)
    assert (siamese.optimizer, siamese.lr, siamese.schedule) == ("adamw", 1e-3, "cosine")
    assert (qat.optimizer, qat.lr, qat.weight_decay, qat.schedule) == ("sgd", 1e-4, 0.0, "cosine")
    assert TrainOptions(optimizer="adamw").for_mode(MODES["qat"]).lr == 2e-5
    assert TrainOptions(optimizer="adamw").for_mode(MODES["classification"]).weight_decay == 0.05
    assert TrainOptions(lr=0.3).for_mode(MODES["qat"]).lr == 0.3  # what is given is kept
    assert "sgd lr 0.0001" in qat.describe(MODES["qat"]) and "cosine schedule" in qat.describe(MODES["qat"])


@pytest.mark.parametrize("mode, given, option", [
    ("segmentation", {"freeze": "head-only"}, "freeze"),
    ("segmentation", {"finetune_epochs": 2}, "finetune_epochs"),
    ("segmentation", {"label_smoothing": 0.0}, "label_smoothing"),
    ("similarity", {"batch_size": 64}, "batch_size"),
    ("similarity", {"bn_momentum": 0.01}, "bn_momentum"),
    ("similarity", {"workers": 0}, "workers"),
    ("qat", {"img_size": 64}, "img_size"),
    ("qat", {"freeze": "2"}, "freeze"),
    ("classification", {"optimizer": "adamw", "momentum": 0.5}, "momentum"),
    ("classification", {"warmup_epochs": 1.0}, "warmup_epochs"),  # one-cycle warms up by itself
    ("classification", {"finetune_lr": 1e-3}, "finetune_lr"),  # without a fine-tune phase
])
def test_an_option_the_mode_does_not_use_is_refused(mode, given, option):
    with pytest.raises(OptionError) as caught:
        TrainOptions(**given).for_mode(MODES[mode], "m")
    assert caught.value.option == option


def test_what_a_mode_uses_is_accepted():
    TrainOptions(optimizer="sgd", momentum=0.5, schedule="cosine", warmup_epochs=1).for_mode(MODES["segmentation"])
    TrainOptions(augment=False, img_size=32).for_mode(MODES["similarity"])
    TrainOptions(freeze="head-only", finetune_epochs=1, finetune_lr=1e-3).for_mode(MODES["classification"])


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_every_schedule_runs_any_number_of_steps(mode, schedule):
    """OneCycleLR divides by each phase's length: 10 to 19 steps at a 0.1 warm-up share was a ZeroDivisionError."""
    for total in range(1, 61):
        options = TrainOptions(schedule=schedule, warmup_epochs=0.5 if schedule == "cosine" else 0.0).for_mode(MODES[mode])
        weight = torch.nn.Parameter(torch.zeros(1))
        optimizer = make_optimizer(options, [weight])
        scheduler = make_schedule(options, MODES[mode], optimizer, total, warmup_steps=total // 2)
        rates = []
        for _ in range(total):
            optimizer.step()
            scheduler.step()
            rates.append(optimizer.param_groups[0]["lr"])
        assert all(0 <= r <= options.lr * 1.0001 for r in rates), (mode, schedule, total)
        uses_onecycle = isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
        assert uses_onecycle == (schedule == "onecycle" and onecycle_fits(total, MODES[mode].onecycle_warmup))
    assert not onecycle_fits(15, 0.1) and onecycle_fits(20, 0.1)


def test_one_step_classifier_run_with_every_schedule(cli, tmp_path):
    for schedule in ("onecycle", "cosine"):
        result = cli("train", "mobilenet_v1_025", "--data", "synthetic:shapes:16", "-o", tmp_path / schedule,
                     "--epochs", "1", "--img-size", "32", "--batch-size", "16", "--workers", "0", "--schedule",
                     schedule)
        assert result.exit_code == 0, result.output
        assert f"sgd lr 0.05, weight decay 0.0005, momentum 0.9, {schedule} schedule" in result.stderr
        history = json.loads((tmp_path / schedule / "history.json").read_text())
        assert len(history["history"]) == 1


def test_one_epoch_unet_whose_step_count_broke_one_cycle(cli, tmp_path):
    """32 training images x 4 tiles / batch 8 = 16 steps: a zero-length warm-up at U-Net's 0.1 share before."""
    result = cli("train", "unet_same", "--data", "synthetic:shapes-seg:40", "-o", tmp_path / "u", "--epochs", "1",
                 "--img-size", "32", "--batch-size", "8", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert "adamw lr 0.001, weight decay 0.0001, onecycle schedule" in result.stderr
    assert "16 steps are too few for one-cycle" in result.stderr  # and the run says what it did instead
    assert (tmp_path / "u" / "best.pt").exists()


def test_one_epoch_siamese_run(cli, tmp_path):
    result = cli("train", "siamese:mobilenet_v1_025", "--data", "synthetic:shapes:96", "-o", tmp_path / "s",
                 "--epochs", "1", "--img-size", "32", "--no-augment")
    assert result.exit_code == 0, result.output
    assert "adamw lr 0.001, weight decay 0.0001, cosine schedule" in result.stderr
    assert (tmp_path / "s" / "best.pt").exists()


@pytest.mark.parametrize("args, option, words", [
    (["unet_same", "--data", "synthetic:shapes-seg:8", "--freeze", "head-only"], "--freeze", "segmentation"),
    (["unet_same", "--data", "synthetic:shapes-seg:8", "--finetune-epochs", "2"], "--finetune-epochs",
     "segmentation"),
    (["siamese:mobilenet_v1_025", "--data", "synthetic:shapes:16", "--batch-size", "64"], "--batch-size",
     "Siamese"),
    (["mobilenet_v1_025", "--data", "synthetic:shapes:16", "--optimizer", "adamw", "--momentum", "0.5"],
     "--momentum", "SGD"),
])
def test_cli_refuses_an_option_the_task_does_not_use(args, option, words, cli, tmp_path):
    line = one_line_error(cli("train", *args, "-o", tmp_path / "out", "--epochs", "1"))
    assert option in line and words in line
    assert not (tmp_path / "out").exists()  # refused before any work


def test_qat_refuses_what_it_does_not_use_before_any_work(cli, tmp_path):
    from edgecnn.zoo import create_model
    from edgecnn.zoo.weights import save_checkpoint

    loaded = create_model("mobilenet_v1_025", num_classes=8, input_size=32)
    save_checkpoint(tmp_path / "m.pt", loaded.model, arch="mobilenet_v1_025", classes=list("abcdefgh"),
                    input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict())
    for flag, value in (("--finetune-epochs", "2"), ("--freeze", "head-only"), ("--img-size", "64")):
        line = one_line_error(cli("train", tmp_path / "m.pt", "--qat", "--data", "synthetic:shapes:16", "-o",
                                  tmp_path / "q", "--epochs", "1", flag, value))
        assert flag in line and "QAT" in line


@pytest.mark.parametrize("recipe, key, value", [("quickstart_segmentation", "freeze", "head-only"),
                                                ("quickstart_similarity", "batch_size", "64"),
                                                ("quickstart", "warmup_epochs", "1")])
def test_a_recipe_is_refused_before_any_work_for_an_option_its_training_does_not_use(recipe, key, value):
    from pathlib import Path

    from edgecnn.recipe.schema import RecipeError, load_recipe

    shipped = Path(__file__).resolve().parents[1] / "recipes" / f"{recipe}.yaml"
    with pytest.raises(RecipeError, match=rf"^train\.{key} "):
        load_recipe(shipped, [f"train.{key}={value}"])
    load_recipe(shipped, [f"train.{key}={value}", "train.enabled=false"])  # nothing trains: nothing to refuse
