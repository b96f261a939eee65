from __future__ import annotations

import json

import pytest

from edgecnn.data import load_images
from edgecnn.engines import load_runner
from edgecnn.evaluate import DataError, agreement, class_mapping, evaluate
from edgecnn.export import export_onnx
from edgecnn.zoo import create_model, save_checkpoint


@pytest.fixture(scope="module")
def checkpoint_and_onnx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    from edgecnn.data.shapes import CLASSES

    loaded = create_model("mobilenet_v1_025", num_classes=len(CLASSES), input_size=32)
    ckpt = save_checkpoint(tmp / "m.pt", loaded.model, arch="mobilenet_v1_025", classes=list(CLASSES),
                           input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict())
    loaded = create_model(str(ckpt))
    export_onnx(loaded, tmp / "m.onnx", batch="dynamic")
    return ckpt, tmp / "m.onnx"


def test_checkpoint_and_onnx_agree(checkpoint_and_onnx):
    ckpt, onnx_path = checkpoint_and_onnx
    images = load_images("synthetic:shapes:48", image_size=37)
    a = evaluate(load_runner(ckpt), images)
    b = evaluate(load_runner(onnx_path), images)
    assert a.engine == "torch" and b.engine == "ort"
    assert a.top1 == b.top1 and agreement(a, b) == 1.0
    assert sum(map(sum, a.confusion)) == 48 and len(a.per_class) == 8
    assert 0 <= a.top1 <= a.top5 <= 1


def test_eval_cli_compare_and_json(cli, checkpoint_and_onnx, tmp_path):
    ckpt, onnx_path = checkpoint_and_onnx
    out = tmp_path / "r.json"
    result = cli("eval", ckpt, "--data", "synthetic:shapes:48", "--compare", onnx_path, "--json", out)
    assert result.exit_code == 0, result.output
    assert "agree on 100.00%" in result.stdout and "confusion" in result.stdout
    data = json.loads(out.read_text())
    assert data["agreement"] == 1.0 and len(data["result"]["confusion"]) == 8
    # the same network twice: no image on which they disagree, so no difference and nothing to decide
    assert data["difference"]["difference_points"] == 0 and data["difference"]["mcnemar_p"] == 1.0
    assert "OTHER vs MODEL: +0.00 points" in result.stdout and "within noise on 48 images" in result.stdout


def test_eval_compare_states_a_real_difference(cli, checkpoint_and_onnx, tmp_path):
    """Against a model with other (random) weights the difference is the gap in top-1, with an interval around it."""
    import torch

    ckpt, _ = checkpoint_and_onnx
    torch.manual_seed(7)
    from edgecnn.data.shapes import CLASSES

    loaded = create_model("mobilenet_v1_025", num_classes=len(CLASSES), input_size=32)
    other = save_checkpoint(tmp_path / "other.pt", loaded.model, arch="mobilenet_v1_025", classes=list(CLASSES),
                            input_size=loaded.input_size, preprocess=loaded.preprocess.to_dict())
    out = tmp_path / "r.json"
    result = cli("eval", ckpt, "--data", "synthetic:shapes:48", "--compare", other, "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    gap = 100 * (data["compare"]["top1"] - data["result"]["top1"])
    difference = data["difference"]
    assert difference["difference_points"] == pytest.approx(gap)
    low, high = difference["interval_points"]
    assert low <= gap <= high and difference["images"] == 48
    assert difference["a_only"] + difference["b_only"] > 0  # two random nets disagree on some images


def test_class_mapping():
    assert class_mapping(["a", "b", "c"], ["c", "a"]) == [2, 0]
    with pytest.raises(DataError, match="does not know the data's classes x"):
        class_mapping(["a", "b"], ["a", "x"])
