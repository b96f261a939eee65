"""Segmentation: masks read as classes, metrics from one confusion matrix, overlap-tile prediction, joint
augmentation, and the quickstart path (train a U-Net on synthetic:shapes-seg, evaluate whole images)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from edgecnn.data.datasets import DataError
from edgecnn.data.segmentation import load_masked, read_mask, scan_mask_folder, split_masked
from edgecnn.tasks.segmentation import confusion, mask_iou, predict_tiled, segmentation_metrics, tile_plan


def test_metrics_from_a_known_confusion():
    target = np.array([[0, 0, 1, 1]])
    prediction = np.array([[0, 1, 1, 1]])
    m = segmentation_metrics(confusion(prediction, target, 2), ["bg", "fg"])
    assert m["pixel_accuracy"] == 0.75
    assert m["iou"] == {"bg": 0.5, "fg": 2 / 3} and m["mean_iou"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["dice"]["fg"] == pytest.approx(2 * 2 / (2 + 3))
    assert m["mean_dice"] == pytest.approx((2 * 1 / (2 + 1) + 2 * 2 / (2 + 3)) / 2)
    absent = segmentation_metrics(confusion(np.zeros((2, 2)), np.zeros((2, 2)), 3))
    assert absent["mean_iou"] == 1.0 and absent["iou"]["1"] is None  # classes never seen are left out
    assert mask_iou(target, target, 2) == 1.0


def test_tiles_cover_the_image_and_tiled_prediction_equals_whole_prediction():
    border, corners = tile_plan(10, 7, tile_in=8, tile_out=4)
    assert border == 2 and {(r, c) for r, c in corners} == {(r, c) for r in (0, 4, 6) for c in (0, 3)}
    image = np.random.default_rng(0).standard_normal((1, 10, 7)).astype(np.float32)

    def valid_identity(batch):  # a "valid" model: its output is the centre of its input
        return batch[:, :, 2:-2, 2:-2] * 2

    scores = predict_tiled(valid_identity, image, tile_in=8, tile_out=4)
    assert scores.shape == (1, 10, 7) and np.allclose(scores, image * 2)
    small = predict_tiled(valid_identity, image[:, :3, :3], tile_in=8, tile_out=4)  # smaller than a tile
    assert np.allclose(small, image[:, :3, :3] * 2)


def test_mask_folder_binary_and_class_index_masks(tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "label").mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "image" / "a.png")
    Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).save(tmp_path / "label" / "a.png")
    data = scan_mask_folder(tmp_path)
    assert data.classes == ["background", "foreground"] and data.mask(0).tolist() == [[0, 1], [1, 0]]
    Image.fromarray(np.array([[0, 2], [1, 0]], np.uint8)).save(tmp_path / "three.png")
    assert read_mask(tmp_path / "three.png", 3).tolist() == [[0, 2], [1, 0]]
    Image.fromarray(np.array([[0, 5], [1, 0]], np.uint8)).save(tmp_path / "five.png")
    with pytest.raises(DataError, match="holds class 5, but there are 3 classes"):
        read_mask(tmp_path / "five.png", 3)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "image" / "b.png")
    with pytest.raises(DataError, match="have no mask"):
        scan_mask_folder(tmp_path)
    with pytest.raises(DataError, match="image/ and"):
        scan_mask_folder(tmp_path / "image")


def test_calibration_of_a_segmentation_model_reads_tiles_at_the_images_own_resolution(tmp_path, monkeypatch):
    """A U-Net predicts whole images tile by tile, so it is calibrated on tiles of its input size cut from the images
    at their own resolution (not on whole images shrunk to the input size); the masks are never read."""
    from edgecnn.data.preprocess import PreprocessSpec
    from edgecnn.quantize.calibration import load_calibration_set
    from edgecnn.tasks.segmentation import image_array

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    root = tmp_path / "data"  # beside the cache, not holding it (the cache key hashes the data's files)
    (root / "image").mkdir(parents=True)
    (root / "label").mkdir()
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (64, 48), dtype=np.uint8)).save(root / "image" / f"{name}.png")
        Image.fromarray(np.zeros((64, 48), np.uint8)).save(root / "label" / f"{name}.png")
    spec = PreprocessSpec(resize=32, crop=(32, 32), mean=(0.5,), std=(0.5,), color="L")
    tiles = load_calibration_set(str(root), spec, (1, 32, 32), samples=6, seed=0, progress=False).inputs
    assert tiles.shape == (6, 1, 32, 32)
    from PIL import Image as PilImage

    images = [image_array(PilImage.open(root / "image" / f"{n}.png"), spec) for n in ("a", "b")]
    assert all(image.shape == (1, 64, 48) for image in images)

    def window_of_an_image(tile) -> bool:
        return any(np.array_equal(image[:, top:top + 32, left:left + 32], tile)
                   for image in images for top in range(33) for left in range(17))

    assert all(window_of_an_image(t) for t in tiles)
    assert len({t.tobytes() for t in tiles}) == 6  # different places, not one tile repeated
    again = load_calibration_set(str(root), spec, (1, 32, 32), samples=6, seed=0, progress=False)
    assert again.from_cache and np.array_equal(again.inputs, tiles)


def test_synthetic_masks_are_deterministic_and_split():
    a, b = load_masked("synthetic:shapes-seg:12", image_size=32), load_masked("synthetic:shapes-seg:12", image_size=32)
    assert len(a) == 12 and np.array_equal(a.mask(3), b.mask(3))
    assert np.array_equal(np.asarray(a.image(3)), np.asarray(b.image(3)))
    assert 0.02 < np.mean([a.mask(i).mean() for i in range(12)]) < 0.6  # shapes and background both present
    train, val = split_masked(a, 0.25)
    assert (len(train), len(val)) == (9, 3) and not set(train.names) & set(val.names)


def test_augmentation_moves_image_and_mask_together():
    from edgecnn.tasks.segmentation_train import augment

    mask = np.zeros((16, 16), np.int64)
    mask[2:6, 3:9] = 1
    image = (mask[None] * 5.0).astype(np.float32)  # the image is the mask, scaled: they must stay aligned
    rng = np.random.default_rng(1)
    for _ in range(8):
        out_image, out_mask = augment(image, mask, rng, deform=True)
        assert out_image.shape == (1, 16, 16) and out_mask.shape == (16, 16)
        assert np.mean((out_image[0] > 2.5) == (out_mask == 1)) > 0.97  # bilinear vs nearest at the edges


def test_quickstart_train_a_unet_on_synthetic_masks(cli, tmp_path):
    """`edgecnn train unet_same --data synthetic:shapes-seg`: checkpoints and a history with whole-image metrics.
    (What a one-epoch U-Net learns is not asserted; that the metrics are measured and consistent is.)"""
    from edgecnn.zoo import create_model

    result = cli("train", "unet_same", "--data", "synthetic:shapes-seg:8", "-o", tmp_path / "seg", "--epochs", "1",
                 "--img-size", "32", "--batch-size", "4", "--workers", "0")
    assert result.exit_code == 0, result.output
    assert "best val mean IoU" in result.stdout
    history = json.loads((tmp_path / "seg" / "history.json").read_text())
    assert len(history["history"]) == 1 and history["tile"] == [32, 32]
    for epoch in history["history"]:
        assert 0 <= epoch["val_mean_iou"] <= 1 and 0 <= epoch["val_pixel_accuracy"] <= 1
        assert set(epoch["val_dice"]) == {"background", "shape"}
    loaded = create_model(str(tmp_path / "seg" / "best.pt"))
    assert loaded.spec.task == "segmentation" and loaded.labels == ["background", "shape"]


def _untrained_unet(folder: Path, arch: str) -> None:
    """folder/u.pt (a checkpoint with two classes, 32 px tiles) and its export folder/u.onnx."""
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model
    from edgecnn.zoo.weights import save_checkpoint

    loaded = create_model(arch, input_size=32)
    loaded.labels = ["background", "shape"]
    save_checkpoint(folder / "u.pt", loaded.model, arch=arch, classes=loaded.labels, input_size=loaded.input_size,
                    preprocess=loaded.preprocess.to_dict())
    export_onnx(create_model(str(folder / "u.pt")), folder / "u.onnx")


def test_a_unet_exports_quantizes_on_its_images_and_evaluates_on_every_engine(tmp_path, cli, monkeypatch):
    """The path after training: ONNX export, INT8 calibrated on the task's images (masks never read as images),
    eval of checkpoint, FP32 and INT8 on the same whole validation images; FP32 ONNX scores what PyTorch does."""
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    _untrained_unet(tmp_path, "unet_same")
    data = "synthetic:shapes-seg:12"
    quantized = cli("quantize", tmp_path / "u.onnx", "-o", tmp_path / "u_int8.onnx", "--calib", data,
                    "--samples", "8", "--method", "minmax")
    assert quantized.exit_code == 0, quantized.output
    results = {}
    for name in ("u.pt", "u.onnx", "u_int8.onnx"):
        out = tmp_path / f"{name}.json"
        done = cli("eval", tmp_path / name, "--data", data, "--split", "val", "--json", out)
        assert done.exit_code == 0, done.output
        assert "mean IoU" in done.stdout
        results[name] = json.loads(out.read_text())["result"]
    assert all(r["images"] == 2 for r in results.values())  # the validation side of split_masked: round(12 * 0.2)
    assert results["u.onnx"]["mean_iou"] == pytest.approx(results["u.pt"]["mean_iou"], abs=1e-3)
    assert 0 <= results["u_int8.onnx"]["mean_iou"] <= 1
    same = cli("compare", tmp_path / "u.onnx", tmp_path / "u.onnx", "--data", data, "--samples", "4")
    assert same.exit_code == 0, same.output
    assert "mask IoU 100.00%" in same.stdout and "pixels given the same class 100.0%" in same.stdout
    against = cli("compare", tmp_path / "u.onnx", tmp_path / "u_int8.onnx", "--data", data, "--samples", "4")
    assert against.exit_code == 0 and "mask IoU" in against.stdout


def test_an_accuracy_budget_on_a_unet_is_measured_in_mean_iou(tmp_path, cli, monkeypatch):
    """quantize --max-drop on a U-Net: the budget's metric is mean IoU on the whole validation images (the same
    figure `edgecnn eval --split val` gives), its steps walk the float fallback, its difference has an interval."""
    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    torch.manual_seed(0)
    _untrained_unet(tmp_path, "unet_same_025")
    data = "synthetic:shapes-seg:20"
    out = tmp_path / "q.json"
    done = cli("quantize", tmp_path / "u.onnx", "-o", tmp_path / "u_int8.onnx", "--calib", data, "--samples", "8",
               "--method", "minmax", "--val", data, "--val-split", "0.2", "--max-drop", "0", "--no-speed",
               "--json", out)
    assert done.exit_code == 0, done.output
    budget = json.loads(out.read_text())["accuracy"]
    assert budget["metric"] == "mean IoU" and budget["images"] == 4
    evaluated = cli("eval", tmp_path / "u.onnx", "--data", data, "--split", "val", "--json", tmp_path / "e.json")
    assert evaluated.exit_code == 0, evaluated.output
    assert budget["fp32_top1"] == pytest.approx(json.loads((tmp_path / "e.json").read_text())["result"]["mean_iou"])
    # a budget of 0 points is met at once or the fallback was walked (one step per attempt)
    assert budget["met"] or len(budget["steps"]) > 1, budget["steps"]
    difference = budget["difference"]
    assert difference["method"] == "bootstrap" and difference["images"] == 4
    assert difference["difference_points"] == pytest.approx(100 * (budget["final_top1"] - budget["fp32_top1"]))
    low, high = difference["interval_points"]
    assert low <= difference["difference_points"] <= high
    assert "mean IoU: FP32" in done.stdout and "paired bootstrap over 4 images" in done.stdout
    # the float fallback's ranking runs on tiles of the validation images (the model's input size)
    from edgecnn.core.metadata import read_metadata
    from edgecnn.data.segmentation import load_masked
    from edgecnn.quantize.accuracy_aware import sensitivity_ranking
    from edgecnn.quantize.task_scores import task_score

    scorer = task_score("segmentation", load_masked(data, image_size=32), read_metadata(tmp_path / "u.onnx").preprocess,
                        None, str(tmp_path / "u.onnx"), 32)
    assert scorer.ranking_inputs.shape[1:] == (1, 32, 32)
    ranked = sensitivity_ranking(str(tmp_path / "u.onnx"), str(tmp_path / "u_int8.onnx"), scorer.ranking_inputs)
    assert len(ranked) > 10 and ranked[0][1] <= ranked[-1][1]


def test_a_segmentation_bundle_writes_the_masks_edgecnn_computes_without_torch(tmp_path, cli, monkeypatch):
    """infer.py (no torch importable) on a U-Net bundle: one mask and overlay per image, equal to edgecnn's own
    tiled prediction (IoU 1 between them); --profile on a labelled folder reports the mean IoU edgecnn eval does."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_bundle import infer

    from edgecnn.data.segmentation import load_masked
    from edgecnn.engines import load_runner
    from edgecnn.evaluate import runner_predictor
    from edgecnn.export import export_onnx
    from edgecnn.tasks.segmentation import image_array, mask_iou, predict_tiled
    from edgecnn.zoo import create_model

    torch.manual_seed(0)
    loaded = create_model("unet", input_size=252)  # valid convolutions: 252 -> 68 px tiles, mirrored borders
    loaded.model.head.bias.data = torch.tensor([0.0, 0.02])  # masks with both classes in them
    loaded.labels = ["background", "shape"]
    export_onnx(loaded, tmp_path / "u.onnx")
    data = load_masked("synthetic:shapes-seg:4", image_size=24)
    labelled = tmp_path / "labelled"
    for sub in ("image", "label"):
        (labelled / sub).mkdir(parents=True)
    for i in range(len(data)):
        data.image(i).save(labelled / "image" / f"{i}.png")
        Image.fromarray((data.mask(i) * 255).astype(np.uint8)).save(labelled / "label" / f"{i}.png")
    bundle = tmp_path / "bundle"
    assert cli("bundle", tmp_path / "u.onnx", "-o", bundle).exit_code == 0
    done = infer(bundle, labelled / "image", "--json", "--out", tmp_path / "masks")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 4
    runner = load_runner(tmp_path / "u.onnx", "ort")
    with runner:
        predict = runner_predictor(runner)
        for line in lines:
            index = int(Path(line["image"]).stem)
            mine = predict_tiled(predict, image_array(data.image(index), runner.info.preprocess), 252, 68).argmax(0)
            theirs = (np.asarray(Image.open(line["mask"])) > 127).astype(np.int64)
            assert mask_iou(mine, theirs, 2) >= 0.99 and Path(line["overlay"]).exists()
    results = tmp_path / "device.json"
    profiled = infer(bundle, "--profile", "--data", labelled, "--results", results, "--min-runs", "2",
                     "--min-time-s", "0")
    assert profiled.returncode == 0, profiled.stderr
    assert "mean IoU %" in profiled.stdout and "top-1 %" not in profiled.stdout
    row = json.loads(results.read_text())["rows"][0]
    assert 0 <= row["mean_dice"] <= 1
    evaluated = cli("eval", tmp_path / "u.onnx", "--data", labelled, "--json", tmp_path / "eval.json")
    assert evaluated.exit_code == 0, evaluated.output
    assert row["mean_iou"] == pytest.approx(json.loads((tmp_path / "eval.json").read_text())["result"]["mean_iou"])


def test_the_segmentation_quickstart_recipe_runs_end_to_end(tmp_path, monkeypatch):
    """recipes/quickstart_segmentation.yaml (made smaller): train, export, INT8, profile on torch and ONNX Runtime
    with mean IoU on the held-out whole images, a report whose headline metric is mean IoU."""
    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import run_recipe

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    monkeypatch.chdir(tmp_path)
    shipped = Path(__file__).parents[1] / "recipes" / "quickstart_segmentation.yaml"
    recipe = load_recipe(shipped, ["data.path=synthetic:shapes-seg:12", "train.epochs=1", "quantize.samples=8",
                                   "profile.min_runs=3", "profile.min_time_s=0.1", "quantize.max_drop=100"])
    result = run_recipe(recipe, runs_dir=tmp_path / "runs", progress=False, log=lambda _: None)
    assert not result.failed, [(s.name, s.message) for s in result.failed]
    results = json.loads((result.run_dir / "results.json").read_text())
    rows = results["rows"]
    assert {(r["engine"], r["precision"]) for r in rows} == {("torch", "fp32"), ("ort", "fp32"), ("ort", "int8")}
    assert all(0 <= r["mean_iou"] <= 1 and r["top1"] is None for r in rows)
    by = {(r["engine"], r["precision"]): r for r in rows if r["batch"] == 1}
    assert by["ort", "fp32"]["mean_iou"] == pytest.approx(by["torch", "fp32"]["mean_iou"], abs=1e-3)
    assert results["training"]["best_mean_iou"] is not None
    assert next(iter(results["best"].values()))["metric"] == "mean_iou"
    # the accuracy budget is measured in the task's metric, on the images the INT8 row was scored on
    budget = results["accuracy_budget"]
    assert budget["metric"] == "mean IoU" and budget["met"] and budget["images"] == by["ort", "int8"]["accuracy_images"]
    assert budget["final_top1"] == pytest.approx(by["ort", "int8"]["mean_iou"], abs=1e-6)
    md = (result.run_dir / "report.md").read_text()
    assert "mean IoU %" in md and "top-1 %" not in md and "best validation mean IoU" in md
    assert "INT8 accuracy budget 100 points: FP32 mean IoU" in md
    assert "mean IoU on the whole validation images" in md and "top-1 on the validation images" not in md
    assert "mean Dice %" in md and all(0 <= r["mean_dice"] <= 1 for r in rows)


def test_quantization_aware_training_is_refused_for_a_unet_recipe_before_any_work():
    from edgecnn.recipe import RecipeError, load_recipe
    from edgecnn.recipe.pipeline import preflight

    shipped = Path(__file__).parents[1] / "recipes" / "quickstart_segmentation.yaml"
    preflight(load_recipe(shipped, ["quantize.max_drop=1"]))  # a budget in mean IoU: accepted
    with pytest.raises(RecipeError, match="^quantize.qat_epochs: quantization-aware training fine-tunes classifiers"):
        preflight(load_recipe(shipped, ["quantize.max_drop=1", "quantize.qat_epochs=2"]))
