from __future__ import annotations

import signal
import subprocess
import sys
import time

import torch
import torchvision

from conftest import interruptible, one_line_error, partial_files


def test_models_lists_and_filters(cli):
    result = cli("models", "mobilenet_v1*")
    assert result.exit_code == 0
    assert "mobilenet_v1_025" in result.stdout and "resnet50" not in result.stdout
    assert "no model matches 'nothing*'" in one_line_error(cli("models", "nothing*"))


def test_summary_prints_exact_total(cli):
    result = cli("summary", "resnet50")
    assert result.exit_code == 0
    assert "total params:      25,557,032" in result.stdout
    assert "layer4.2.conv3" in result.stdout


def test_summary_json_and_input_size(cli, tmp_path):
    out = tmp_path / "s.json"
    result = cli("summary", "mobilenet_v2", "--input-size", "96", "--json", out)
    assert result.exit_code == 0 and "1x3x96x96" in result.stdout
    import json

    data = json.loads(out.read_text())
    assert data["total_params"] == 3_504_872 and data["input_shapes"] == [[1, 3, 96, 96]]


def test_export_writes_verified_onnx(cli, tmp_path):
    out = tmp_path / "lenet.onnx"
    result = cli("export", "lenet5", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert "nodes:" in result.stdout and "after onnxsim" in result.stdout
    assert "top-1 agreement 100.0%" in result.stdout and "max abs error" in result.stdout


def test_export_default_output_name(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli("export", "mobilenet_v1_025").exit_code == 0
    assert (tmp_path / "mobilenet_v1_025.onnx").exists()


def test_unknown_model_suggests(cli, tmp_path):
    line = one_line_error(cli("export", "resnet5O", "-o", tmp_path / "x.onnx"))
    assert "unknown model 'resnet5O'" in line and "resnet50" in line
    assert cli("export", "resnet5O", "-o", tmp_path / "x.onnx").exit_code == 2


def test_existing_output_needs_force(cli, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"precious")
    line = one_line_error(cli("export", "lenet5", "-o", out))
    assert "already exists" in line and "--force" in line
    assert out.read_bytes() == b"precious"
    assert cli("export", "lenet5", "-o", out, "--force").exit_code == 0
    assert out.read_bytes() != b"precious"


def test_unwritable_output_path(cli, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    line = one_line_error(cli("export", "lenet5", "-o", blocker / "m.onnx"))
    assert "cannot" in line


def test_weights_errors_are_one_line(cli, tmp_path):
    out = tmp_path / "m.onnx"
    assert "does not exist" in one_line_error(cli("export", "resnet18", "--weights", tmp_path / "none.pth", "-o", out))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 truncated zip")
    assert "not a readable" in one_line_error(cli("export", "resnet18", "--weights", corrupt, "-o", out))
    state = torchvision.models.resnet18().state_dict()
    state["fc.weight"] = torch.zeros(3, 100)
    state["fc.bias"] = torch.zeros(3)
    bad_head = tmp_path / "bad_head.pth"
    torch.save(state, bad_head)
    line = one_line_error(cli("export", "resnet18", "--weights", bad_head, "-o", out))
    assert "layer fc is (3, 100)" in line and "(3, 512) in resnet18" in line
    assert not out.exists() and not partial_files(tmp_path)


def test_unsafe_pickle_refused_in_cli(cli, tmp_path):
    from test_weights import malicious_file

    marker = tmp_path / "created_by_pickle"
    evil = malicious_file(tmp_path / "evil.pth", marker)
    line = one_line_error(cli("export", "lenet5", "--weights", evil, "-o", tmp_path / "m.onnx"))
    assert "refusing to load" in line
    assert not marker.exists()


def test_interrupted_export_leaves_nothing(cli, tmp_path, monkeypatch):
    import edgecnn.export.onnx_export as onnx_export

    def interrupted(model):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, "simplify", interrupted)
    out = tmp_path / "m.onnx"
    result = cli("export", "lenet5", "-o", out)
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert not out.exists() and not partial_files(tmp_path)


def test_sigint_during_real_export_leaves_no_partial_file(tmp_path):
    """A real Ctrl-C (SIGINT) in the middle of exporting a large model."""
    out = tmp_path / "big.onnx"
    proc = subprocess.Popen([sys.executable, "-m", "edgecnn", "export", "zfnet", "-o", str(out)],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tmp_path,
                            preexec_fn=interruptible)
    deadline = time.time() + 120
    line = ""
    while "exporting" not in line and time.time() < deadline:
        line = proc.stderr.readline()
    assert "exporting" in line
    time.sleep(0.3)  # torch.onnx.export / onnxsim are running now
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in err and "interrupted" in err
    assert not out.exists() and not partial_files(tmp_path)


def test_bad_option_values(cli, tmp_path):
    assert "--batch" in one_line_error(cli("export", "lenet5", "--batch", "zero", "-o", tmp_path / "m.onnx"))
    assert "--input-size" in one_line_error(cli("export", "resnet18", "--input-size", "big", "-o", tmp_path / "m.onnx"))


def test_python_dash_m_and_help():
    done = subprocess.run([sys.executable, "-m", "edgecnn", "export", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "--num-classes" in done.stdout and "dynamic" in done.stdout


def test_debug_shows_traceback(runner, tmp_path):
    from edgecnn.cli import main
    from edgecnn.errors import UnknownModelError

    result = runner.invoke(main, ["--debug", "export", "nope", "-o", str(tmp_path / "x.onnx")])
    assert isinstance(result.exception, UnknownModelError)


def test_help_does_not_start_pytorch():
    """Options are declared in modules that need no PyTorch, so `edgecnn --help` and a command's --help are quick."""
    code = ("import sys; from edgecnn.cli import main\n"
            "try:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]
    assert "--warmup-epochs" in done.stdout


def test_option_errors_are_phrased_as_flags(cli, tmp_path):
    assert "Invalid value for '--freeze': must be none, head-only or a number of stages" in one_line_error(
        cli("train", "resnet18", "--data", "synthetic:shapes:16", "-o", tmp_path / "r", "--freeze", "most"))
    assert "--epochs plus finetune_epochs must be at least 1" in one_line_error(
        cli("train", "resnet18", "--data", "synthetic:shapes:16", "-o", tmp_path / "r", "--epochs", "0"))
    assert not (tmp_path / "r").exists()
