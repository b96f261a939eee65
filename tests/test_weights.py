from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
import torchvision

from edgecnn.errors import HeadMismatchError, UsageError, WeightsError
from edgecnn.zoo import create_model, read_weights, save_checkpoint
from edgecnn.zoo.weights import torchvision_cache_file


def _same_params(a: torch.nn.Module, b: torch.nn.Module, skip: tuple[str, ...] = ()) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if not k.startswith(skip))


def test_torchvision_state_dict_file_loads(tmp_path):
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    loaded = create_model("resnet18", weights=path)
    assert _same_params(loaded.model, reference)
    assert loaded.weights.sha256 and len(loaded.weights.sha256) == 64
    assert not loaded.model.training


def test_head_size_comes_from_the_file_and_num_classes_replaces_it(tmp_path):
    reference = torchvision.models.mobilenet_v2(num_classes=12)
    path = tmp_path / "mnv2_12.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)
    loaded = create_model("mobilenet_v2", weights=path)  # DDP prefix and wrapper are handled
    assert loaded.num_classes == 12 and _same_params(loaded.model, reference)
    replaced = create_model("mobilenet_v2", weights=path, num_classes=5)
    assert replaced.num_classes == 5 and replaced.model.classifier[1].out_features == 5
    assert _same_params(replaced.model, reference, skip=("classifier.1",))
    assert any("head replaced: 12 -> 5" in n for n in replaced.notes)


def test_googlenet_file_without_aux_heads_loads(tmp_path):
    reference = torchvision.models.googlenet(aux_logits=False, init_weights=True)
    path = tmp_path / "googlenet.pth"
    torch.save(reference.state_dict(), path)
    loaded = create_model("googlenet", weights=path)
    assert _same_params(reference, loaded.model)


def test_edgecnn_checkpoint_roundtrip(tmp_path):
    source = create_model("lenet5", num_classes=4)
    classes = ["circle", "square", "star", "triangle"]
    path = save_checkpoint(tmp_path / "best.pt", source.model, arch="lenet5", classes=classes,
                           input_size=source.input_size, preprocess=source.preprocess.to_dict(),
                           metrics={"val_top1": 0.9})
    raw = torch.load(path, weights_only=True)  # plain tensors and containers only
    assert raw["arch"] == "lenet5" and raw["classes"] == classes
    loaded = create_model(str(path))
    assert loaded.spec.name == "lenet5" and loaded.labels == classes and loaded.num_classes == 4
    assert _same_params(loaded.model, source.model)
    also = create_model("lenet5", weights=path)
    assert also.labels == classes


def test_checkpoint_of_another_architecture_is_named(tmp_path):
    source = create_model("lenet5")
    path = save_checkpoint(tmp_path / "ck.pt", source.model, arch="lenet5", classes=source.labels,
                           input_size=source.input_size, preprocess=source.preprocess.to_dict())
    with pytest.raises(WeightsError, match="checkpoint of lenet5, not of resnet18"):
        create_model("resnet18", weights=path)


def test_state_dict_of_another_architecture_is_refused(tmp_path):
    path = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    with pytest.raises(WeightsError, match="does not fit resnet18 .*another architecture"):
        create_model("resnet18", weights=path)


def test_head_that_does_not_fit_names_layer_and_shapes(tmp_path):
    state = torchvision.models.resnet18().state_dict()
    state["fc.weight"] = torch.zeros(10, 256)
    state["fc.bias"] = torch.zeros(10)
    path = tmp_path / "bad_head.pth"
    torch.save(state, path)
    with pytest.raises(HeadMismatchError, match=r"layer fc is \(10, 256\) in .* but \(10, 512\) in resnet18"):
        create_model("resnet18", weights=path)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        read_weights(tmp_path / "nope.pth")
    corrupt = tmp_path / "corrupt.pth"
    torch.save(torchvision.models.resnet18().state_dict(), corrupt)
    corrupt.write_bytes(corrupt.read_bytes()[:5000])  # truncated
    with pytest.raises(WeightsError, match="not a readable PyTorch weights file"):
        read_weights(corrupt)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(WeightsError, match="not a readable"):
        read_weights(garbage)
    not_state = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_state)
    with pytest.raises(WeightsError, match="holds no state_dict"):
        read_weights(not_state)


class _CreatesFile:
    """Unpickling this object opens (creates) a file: the shape of a code-running pickle."""

    def __init__(self, target: Path):
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def malicious_file(path: Path, target: Path) -> Path:
    torch.save({"weight": torch.zeros(1), "payload": _CreatesFile(target)}, path)
    return path


def test_code_running_pickle_is_refused_and_never_runs(tmp_path):
    # First prove the file really runs code when unpickled without protection.
    proof = tmp_path / "proof_created"
    torch.load(malicious_file(tmp_path / "proof.pth", proof), weights_only=False)
    assert proof.exists()
    marker = tmp_path / "pwned"
    evil = malicious_file(tmp_path / "evil.pth", marker)
    with pytest.raises(WeightsError, match="refusing to load .*would run code"):
        create_model("lenet5", weights=evil)
    assert not marker.exists()


def test_pretrained_from_offline_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path, url = torchvision_cache_file("resnet18", "ResNet18_Weights")
    assert path.parent == tmp_path / "hub" / "checkpoints" and path.name == Path(url).name
    with pytest.raises(WeightsError, match=f"copy {path.name} to"):
        create_model("resnet18", weights="imagenet")
    reference = torchvision.models.resnet18()
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    assert _same_params(create_model("resnet18", weights="imagenet").model, reference)
    with pytest.raises(UsageError, match="no pretrained weights 'IMAGENET9K'"):
        create_model("resnet18", weights="IMAGENET9K")
    with pytest.raises(UsageError, match="no published pretrained weights"):
        create_model("lenet5", weights="imagenet")


def test_timm_weights_file_loads(tmp_path):
    timm = pytest.importorskip("timm")
    reference = timm.create_model("resnet18", pretrained=False, num_classes=3)
    path = tmp_path / "timm_r18.pth"
    torch.save(reference.state_dict(), path)
    loaded = create_model("timm:resnet18", weights=path)
    assert loaded.num_classes == 3 and _same_params(loaded.model, reference)


def test_safetensors_file_loads(tmp_path):
    safetensors = pytest.importorskip("safetensors.torch")
    reference = torchvision.models.squeezenet1_1()
    path = tmp_path / "sq.safetensors"
    safetensors.save_file(reference.state_dict(), str(path))
    assert _same_params(create_model("squeezenet1_1", weights=path).model, reference)


def test_plain_pickle_module_error_is_not_leaked(tmp_path):
    path = tmp_path / "p.pth"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(WeightsError):
        read_weights(path)
