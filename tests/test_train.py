from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import one_line_error
from edgecnn.train import TrainConfig, freeze_stages, stages, train
from edgecnn.zoo import create_model

TINY = dict(data="synthetic:shapes:64", img_size=32, batch_size=16, workers=0)


def _quiet(**kwargs):
    return dict(progress=False, log=lambda line: None, **kwargs)


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)["state_dict"]


def test_cli_train_then_eval_and_export(cli, tmp_path):
    run = tmp_path / "run"
    result = cli("train", "mobilenet_v1_025", "--data", "synthetic:shapes:64", "--epochs", "2", "--img-size", "32",
                 "--workers", "0", "-o", run)
    assert result.exit_code == 0, result.output
    assert "images/s" in result.stdout and "best val top-1" in result.stdout
    for name in ("best.pt", "last.pt", "history.json"):
        assert (run / name).exists()
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    assert checkpoint["arch"] == "mobilenet_v1_025" and len(checkpoint["classes"]) == 8
    assert checkpoint["input_size"] == [3, 32, 32] and "val_top1" in checkpoint["metrics"]
    history = json.loads((run / "history.json").read_text())
    assert len(history["history"]) == 2 and history["history"][0]["images_per_s"] > 0
    evaluated = cli("eval", run / "best.pt", "--data", "synthetic:shapes:64", "--json", tmp_path / "e.json")
    assert evaluated.exit_code == 0, evaluated.output
    assert "top-1" in evaluated.stdout
    onnx_path = tmp_path / "m.onnx"
    exported = cli("export", run / "best.pt", "-o", onnx_path)
    assert exported.exit_code == 0, exported.output
    from edgecnn.export import read_metadata

    assert read_metadata(onnx_path).labels == checkpoint["classes"]


def test_interrupted_then_resumed_run_ends_with_the_same_weights(tmp_path):
    config = dict(model="mobilenet_v1_025", epochs=3, seed=5, **TINY)
    straight = train(TrainConfig(output=str(tmp_path / "straight"), **config), **_quiet())

    def interrupt(epoch, step):
        if epoch == 1 and step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(output=str(tmp_path / "cut"), **config), on_step=interrupt, **_quiet())
    saved = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert saved["training"]["epoch"] == 0  # only the first epoch was completed and saved
    resumed = train(TrainConfig(output=str(tmp_path / "cut"), **config), resume=True, **_quiet())
    a, b = _state(tmp_path / "straight" / "last.pt"), _state(tmp_path / "cut" / "last.pt")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h.val_top1 for h in resumed.history] == [h.val_top1 for h in straight.history]


def test_head_only_then_finetune(tmp_path):
    start = create_model("resnet18", num_classes=8)
    weights = tmp_path / "w.pth"
    torch.save(start.model.state_dict(), weights)
    run = tmp_path / "run"
    result = train(TrainConfig(model="resnet18", output=str(run), epochs=1, freeze="head-only", weights=str(weights),
                               **TINY), **_quiet())
    after_head = _state(run / "last.pt")
    before = start.model.state_dict()
    assert not torch.equal(after_head["fc.weight"], before["fc.weight"])
    assert torch.equal(after_head["layer1.0.conv1.weight"], before["layer1.0.conv1.weight"])
    assert torch.equal(after_head["bn1.running_mean"], before["bn1.running_mean"])  # frozen BN kept its statistics
    assert result.history[0].phase == "train"
    result = train(TrainConfig(model="resnet18", output=str(run), epochs=1, finetune_epochs=1, freeze="head-only",
                               weights=str(weights), **TINY), force=True, **_quiet())
    assert [h.phase for h in result.history] == ["train", "finetune"]
    assert not torch.equal(_state(run / "last.pt")["layer1.0.conv1.weight"], before["layer1.0.conv1.weight"])


def test_freeze_first_stages():
    loaded = create_model("mobilenet_v2", num_classes=3)
    names = freeze_stages(loaded, "2")
    assert names == [n for n, _ in stages(loaded.model, loaded.spec.head)[:2]] == ["features.0", "features.1"]
    assert not any(p.requires_grad for p in loaded.model.features[1].parameters())
    assert all(p.requires_grad for p in loaded.model.features[2].parameters())


def test_googlenet_trains_with_its_auxiliary_heads(tmp_path):
    result = train(TrainConfig(model="googlenet", output=str(tmp_path / "g"), epochs=1,
                               **{**TINY, "img_size": 64}), **_quiet())
    assert result.history and result.history[0].train_loss > 0
    state = _state(tmp_path / "g" / "last.pt")
    assert state["aux1.fc2.weight"].shape[0] == 8 and state["fc.weight"].shape[0] == 8


def test_existing_run_needs_resume_or_force(cli, tmp_path):
    run = tmp_path / "run"
    args = ["train", "lenet5", "--data", "synthetic:shapes:32", "--epochs", "1", "--workers", "0", "-o", run]
    assert cli(*args).exit_code == 0
    assert "--resume" in one_line_error(cli(*args))
    assert cli(*args, "--force").exit_code == 0


def test_bad_training_input_is_one_line(cli, tmp_path):
    out = tmp_path / "run"
    assert "does not exist" in one_line_error(cli("train", "resnet18", "--data", tmp_path / "nope", "-o", out))
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    assert "no readable images" in one_line_error(cli("train", "resnet18", "--data", tmp_path / "empty", "-o", out))
    other = tmp_path / "lenet_run"
    assert cli("train", "lenet5", "--data", "synthetic:shapes:32", "--epochs", "1", "--workers", "0",
               "-o", other).exit_code == 0
    line = one_line_error(cli("train", "resnet18", "--data", "synthetic:shapes:32", "--weights", other / "best.pt",
                              "-o", out))
    assert "checkpoint of lenet5, not of resnet18" in line
    assert "--freeze" in one_line_error(cli("train", "resnet18", "--data", "synthetic:shapes:32", "--freeze", "most",
                                            "-o", out))


def test_ddp_with_two_processes(tmp_path):
    import socket

    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with socket.socket() as probe:  # a free port: a fixed one collides with another test run on the machine
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
         "-m", "edgecnn", "train", "mobilenet_v1_025", "--data", "synthetic:shapes:64", "--epochs", "1",
         "--img-size", "32", "--batch-size", "8", "--workers", "0", "-o", str(run)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 processes (gloo)" in done.stderr
    checkpoint = torch.load(run / "last.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in checkpoint["state_dict"])
    # 48 training images (64 less the 16 of the stratified split) shared by 2 processes at batch 8:
    # 3 steps each, where one process alone would take 6
    assert checkpoint["training"]["schedule"]["last_epoch"] == 3


def test_bn_momentum_overrides_every_batchnorm(cli, tmp_path):
    runs = {}
    for name, extra in (("model_default", {}), ("momentum_1", {"bn_momentum": 1.0})):
        train(TrainConfig(model="mobilenet_v1_025", output=str(tmp_path / name), epochs=1, **TINY, **extra),
              **_quiet())
        runs[name] = _state(tmp_path / name / "last.pt")
    stats = [k for k in runs["model_default"] if k.endswith("running_mean")]
    assert stats  # the model has BatchNorm layers, so the option has something to change
    # same seed, same data: only the momentum differs, so the running statistics must too
    assert all(not torch.equal(runs["model_default"][k], runs["momentum_1"][k]) for k in stats)
    assert "--bn-momentum" in one_line_error(cli("train", "mobilenet_v1_025", "--data", "synthetic:shapes:32",
                                                 "--bn-momentum", "0", "-o", tmp_path / "bad"))


def test_training_with_loader_workers_leaves_no_sigchld_handler(tmp_path):
    """torch's DataLoader installs a SIGCHLD handler for its workers and never removes it; a training run puts
    the process's disposition back. Run in a process of its own: the suite forks no loader workers from the
    pytest process (docs/testing.md: a kernel-sent SIGSEGV followed them on an AMX Xeon)."""
    code = f"""
import signal
from torch.utils.data._utils import signal_handling
from edgecnn.train import TrainConfig, train
before = signal.getsignal(signal.SIGCHLD)
result = train(TrainConfig(model="lenet5", output={str(tmp_path / "w")!r}, epochs=1, data="synthetic:shapes:32",
                           img_size=32, batch_size=16, workers=1), progress=False, log=lambda line: None)
assert result.history
print(signal.getsignal(signal.SIGCHLD) is before, signal_handling._SIGCHLD_handler_set)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["True", "False"]  # put back; the next loader with workers sets torch's again
