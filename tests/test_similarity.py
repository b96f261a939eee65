"""Similarity (Siamese verification): deterministic pairs and the metrics of the field, from known scores."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.core.device import best_threshold, draw_pairs, roc_auc, verification_metrics


def test_pairs_are_deterministic_balanced_and_well_formed():
    labels = [0, 0, 0, 1, 1, 2, 2, 2, 3]
    pairs = draw_pairs(labels, 40, seed=3)
    assert pairs == draw_pairs(labels, 40, seed=3) and pairs != draw_pairs(labels, 40, seed=4)
    assert sum(same for _, _, same in pairs) == 20
    for i, j, same in pairs:
        assert i != j and (labels[i] == labels[j]) == same
    with pytest.raises(ValueError):
        draw_pairs([0, 1, 2], 4)


def test_roc_auc_threshold_and_tar_from_known_scores():
    same = np.array([True, True, True, False, False, False])
    assert roc_auc([0.9, 0.8, 0.7, 0.3, 0.2, 0.1], same) == 1.0
    assert roc_auc([0.1, 0.2, 0.3, 0.7, 0.8, 0.9], same) == 0.0
    assert roc_auc([0.5] * 6, same) == 0.5  # ties count half
    assert roc_auc([0.9, 0.4, 0.7, 0.5, 0.2, 0.1], same) == pytest.approx(8 / 9)
    threshold, accuracy = best_threshold([0.9, 0.4, 0.7, 0.5, 0.2, 0.1], same)
    assert accuracy == pytest.approx(5 / 6) and 0.2 < threshold <= 0.7
    scores = np.r_[np.linspace(0.6, 1.0, 50), np.linspace(0.0, 0.7, 200)]  # 200 different pairs: FAR step 0.005
    truth = np.r_[np.ones(50, bool), np.zeros(200, bool)]
    m = verification_metrics(scores, truth, threshold=0.65, far=1e-2)
    strict = np.sort(scores[~truth])[::-1][2]  # at most 2 of 200 different pairs accepted
    assert m["tar_at_far"] == pytest.approx(np.mean(scores[truth] > strict))
    assert m["different_pairs"] == 200 and m["accuracy"] == pytest.approx(np.mean((scores >= 0.65) == truth))


def test_semi_hard_triplet_loss_picks_the_closest_farther_negative():
    import torch

    from edgecnn.tasks.similarity_train import semi_hard_triplet_loss

    def unit(deg):
        return [np.cos(np.radians(deg)), np.sin(np.radians(deg))]

    # anchor 0 deg, positive 10 deg (same class); negatives at 15 deg and 90 deg. From 0 deg both negatives are
    # farther than the positive: the closer one (15) is taken. From 10 deg, 15 deg is nearer than the positive
    # (a hard negative, skipped): 90 is the only farther one.
    emb = torch.tensor([unit(0), unit(10), unit(15), unit(90)], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 2])
    d = lambda a, b: float(2 - 2 * (emb[a] @ emb[b]))  # noqa: E731
    expected = np.mean([max(0, d(0, 1) - d(0, 2) + 0.2), max(0, d(1, 0) - d(1, 3) + 0.2)])
    assert float(semi_hard_triplet_loss(emb, labels)) == pytest.approx(expected)
    separated = torch.tensor([unit(0), unit(1), unit(180), unit(179)], dtype=torch.float64)
    assert float(semi_hard_triplet_loss(separated, torch.tensor([0, 0, 1, 1]))) == 0.0


def test_quickstart_train_a_siamese_net_from_a_classifier(cli, tmp_path):
    """`edgecnn train siamese:BACKBONE --weights CLASSIFIER.pt`: the backbone is transferred, validation pairs are
    scored, and the threshold chosen on them is stored in the checkpoint. (What one epoch learns is not asserted.)"""
    import json

    from edgecnn.zoo.weights import read_weights

    data = "synthetic:shapes:96"
    classifier = cli("train", "mobilenet_v1_025", "--data", data, "-o", tmp_path / "cls", "--epochs", "1",
                     "--img-size", "32", "--batch-size", "16", "--workers", "0")
    assert classifier.exit_code == 0, classifier.output
    result = cli("train", "siamese:mobilenet_v1_025", "--data", data, "-o", tmp_path / "sim", "--epochs", "1",
                 "--img-size", "32", "--weights", tmp_path / "cls" / "last.pt")
    assert result.exit_code == 0, result.output
    assert "tensors from" in result.output and "best val ROC-AUC" in result.stdout
    history = json.loads((tmp_path / "sim" / "history.json").read_text())
    epoch = history["history"][0]
    assert 0 <= epoch["roc_auc"] <= 1 and 0.5 <= epoch["accuracy"] <= 1  # the best threshold beats a constant answer
    assert epoch["pairs"] == epoch["same_pairs"] + epoch["different_pairs"] and epoch["same_pairs"] > 0
    saved = read_weights(tmp_path / "sim" / "best.pt").checkpoint
    assert saved["threshold"] == pytest.approx(history["threshold"]) and saved["arch"] == "siamese:mobilenet_v1_025"


def test_a_siamese_bundle_decides_as_edgecnn_does_without_torch(cli, tmp_path):
    """Export keeps the threshold chosen in training; infer.py (no torch) prints the similarity and decision of
    two images as edgecnn computes them, enrolls a gallery and identifies against it, and --profile reports the
    verification accuracy `edgecnn eval` reports on the same folder."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_bundle import infer

    from edgecnn.core.device import cosine_similarity
    from edgecnn.core.metadata import read_metadata
    from edgecnn.data.datasets import load_images, write_image_folder
    from edgecnn.data.preprocess import preprocess_numpy
    from edgecnn.engines import load_runner
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model
    from edgecnn.zoo.weights import read_weights

    trained = cli("train", "siamese:mobilenet_v1_025", "--data", "synthetic:shapes:96", "-o", tmp_path / "sim",
                  "--epochs", "1", "--img-size", "32")
    assert trained.exit_code == 0, trained.output
    threshold = read_weights(tmp_path / "sim" / "best.pt").checkpoint["threshold"]
    export_onnx(create_model(str(tmp_path / "sim" / "best.pt")), tmp_path / "s.onnx")
    assert float(read_metadata(tmp_path / "s.onnx").extra["threshold"]) == pytest.approx(threshold)
    folder = write_image_folder(load_images("synthetic:shapes:24", image_size=32), tmp_path / "people")
    assert cli("bundle", tmp_path / "s.onnx", "-o", tmp_path / "bundle").exit_code == 0
    images = load_images(folder)
    a, b = images.names[0], images.names[5]
    done = infer(tmp_path / "bundle", a, b, "--json")
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout)
    runner = load_runner(tmp_path / "s.onnx", "ort")
    with runner:
        vectors = [runner.infer({"input_a": x, "input_b": x})["embedding_a"][0] for x in
                   (preprocess_numpy(images.image(i), runner.info.preprocess)[None] for i in (0, 5))]
    mine = float(cosine_similarity(vectors[0], vectors[1]))
    assert said["similarity"] == pytest.approx(mine, abs=1e-5) and said["threshold"] == pytest.approx(threshold)
    assert said["decision"] == ("same" if mine >= threshold else "different")
    gallery = tmp_path / "gallery.npz"
    enrolled = infer(tmp_path / "bundle", "--enroll", folder, "--gallery", gallery, "--identify", a, "--json")
    assert enrolled.returncode == 0, enrolled.stderr
    found = json.loads(enrolled.stdout.splitlines()[-1])
    assert found["closest"].endswith(Path(a).name) and found["similarity"] == pytest.approx(1.0, abs=1e-4)
    results = tmp_path / "device.json"
    profiled = infer(tmp_path / "bundle", "--profile", "--data", folder, "--results", results, "--min-runs", "2",
                     "--min-time-s", "0")
    assert profiled.returncode == 0, profiled.stderr
    assert "verif. %" in profiled.stdout and "top-1 %" not in profiled.stdout  # the table shows the task's metric
    row = json.loads(results.read_text())["rows"][0]
    evaluated = cli("eval", tmp_path / "s.onnx", "--data", folder, "--json", tmp_path / "eval.json")
    assert evaluated.exit_code == 0, evaluated.output
    assert row["verification_accuracy"] == pytest.approx(
        json.loads((tmp_path / "eval.json").read_text())["result"]["accuracy"])


def test_profile_of_a_siamese_model_reports_verification(tmp_path):
    """`edgecnn profile SIAMESE.onnx --data DIR`: latency, and verification accuracy as the row's headline."""
    from edgecnn.export import export_onnx
    from edgecnn.profile.run import ProfileSettings, profile
    from edgecnn.tasks.registry import headline_key
    from edgecnn.zoo import create_model

    export_onnx(create_model("siamese:mobilenet_v1_025", input_size=32), tmp_path / "s.onnx", batch="dynamic")
    result = profile(str(tmp_path / "s.onnx"), "ort", data="synthetic:shapes:32",
                     settings=ProfileSettings(batches=(1,), warmup_s=0.01, min_runs=3, min_time_s=0.01))
    assert 0 <= result.accuracy["verification_accuracy"] <= 1 and result.accuracy["pairs"] == 128
    assert headline_key([{"verification_accuracy": result.accuracy["verification_accuracy"]}]) == \
        "verification_accuracy"


def test_a_siamese_net_quantizes_with_both_inputs_fed_and_compares_by_embedding_cosine(tmp_path, cli, monkeypatch):
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    export_onnx(create_model("siamese:mobilenet_v1_025", input_size=32), tmp_path / "s.onnx", batch="dynamic")
    done = cli("quantize", tmp_path / "s.onnx", "-o", tmp_path / "s_int8.onnx", "--calib", "synthetic:shapes:16",
               "--samples", "8", "--method", "minmax")
    assert done.exit_code == 0, done.output
    compared = cli("compare", tmp_path / "s.onnx", tmp_path / "s_int8.onnx", "--samples", "8")
    assert compared.exit_code == 0, compared.output
    assert "cosine" in compared.stdout and "top-1 agreement" not in compared.stdout


def test_an_accuracy_budget_on_a_siamese_net_is_measured_in_verification_accuracy(tmp_path, cli, monkeypatch):
    """quantize --max-drop on a Siamese net: its metric is verification accuracy at the FP32 model's threshold on
    pairs of the validation images (what `edgecnn eval` gives), per pair right or wrong, McNemar on the pairs."""
    import json

    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    export_onnx(create_model("siamese:mobilenet_v1_025", input_size=32), tmp_path / "s.onnx", batch="dynamic")
    out = tmp_path / "q.json"
    done = cli("quantize", tmp_path / "s.onnx", "-o", tmp_path / "s_int8.onnx", "--calib", "synthetic:shapes:16",
               "--samples", "8", "--method", "minmax", "--val", "synthetic:shapes:32", "--max-drop", "0",
               "--no-speed", "--json", out)
    assert done.exit_code == 0, done.output
    budget = json.loads(out.read_text())["accuracy"]
    assert budget["metric"] == "verification accuracy"
    evaluated = cli("eval", tmp_path / "s.onnx", "--data", "synthetic:shapes:32", "--json", tmp_path / "e.json")
    assert evaluated.exit_code == 0, evaluated.output
    reference = json.loads((tmp_path / "e.json").read_text())["result"]
    assert budget["fp32_top1"] == pytest.approx(reference["accuracy"])
    assert budget["difference"]["images"] == reference["pairs"]  # paired over the pairs, not the images
    assert budget["met"] or len(budget["steps"]) > 1, budget["steps"]
    assert f"of {reference['pairs']} pairs" in done.stdout
    # the float fallback's ranking feeds both inputs of the Siamese net the same images
    from edgecnn.quantize.accuracy_aware import sensitivity_ranking

    ranked = sensitivity_ranking(str(tmp_path / "s.onnx"), str(tmp_path / "s_int8.onnx"),
                                 np.random.default_rng(0).standard_normal((4, 3, 32, 32)).astype(np.float32))
    assert len(ranked) > 10


def test_the_similarity_quickstart_recipe_runs_end_to_end(tmp_path, monkeypatch):
    """recipes/quickstart_similarity.yaml (made smaller): train, export with the threshold, INT8, profile on
    torch and ONNX Runtime with verification accuracy on validation pairs; the report's headline is verification."""
    import json
    from pathlib import Path

    from edgecnn.recipe import load_recipe
    from edgecnn.recipe.pipeline import run_recipe

    monkeypatch.setenv("EDGECNN_CALIB_CACHE", str(tmp_path / "calib"))
    monkeypatch.chdir(tmp_path)
    shipped = Path(__file__).parents[1] / "recipes" / "quickstart_similarity.yaml"
    recipe = load_recipe(shipped, ["data.path=synthetic:shapes:96", "train.epochs=1", "quantize.samples=8",
                                   "model.arch=siamese:mobilenet_v1_025", "profile.min_runs=3",
                                   "profile.min_time_s=0.1"])
    result = run_recipe(recipe, runs_dir=tmp_path / "runs", progress=False, log=lambda _: None)
    assert not result.failed, [(s.name, s.message) for s in result.failed]
    results = json.loads((result.run_dir / "results.json").read_text())
    rows = results["rows"]
    assert {(r["engine"], r["precision"]) for r in rows} == {("torch", "fp32"), ("ort", "fp32"), ("ort", "int8")}
    assert all(0 <= r["verification_accuracy"] <= 1 and r["top1"] is None for r in rows)
    # every engine scored the same pairs (after one epoch the similarities crowd around the threshold, so engines'
    # last-digit differences may flip a few decisions: equal accuracies are not asserted)
    assert len({r["accuracy_images"] for r in rows}) == 1
    assert results["training"]["threshold"] is not None
    assert next(iter(results["best"].values()))["metric"] == "verification_accuracy"
    md = (result.run_dir / "report.md").read_text()
    assert "verification %" in md and "top-1 %" not in md and "best validation ROC-AUC" in md
