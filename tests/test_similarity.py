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
