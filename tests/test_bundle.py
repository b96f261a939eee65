"""``edgecnn bundle`` and the standalone infer.py it ships."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import one_line_error

# Runs infer.py with torch, torchvision and edgecnn made unimportable: what a device without them sees.
NO_TORCH = r"""
import importlib.abc, runpy, sys
BLOCKED = ("torch", "torchvision", "edgecnn", "timm", "onnx", "onnxsim")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed on this device")
sys.meta_path.insert(0, Block())
script = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    leaked = [m for m in sys.modules if m.split(".")[0] in BLOCKED]
    assert not leaked, leaked
"""


def infer(bundle: Path, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH, str(bundle / "infer.py"), *map(str, args)],
                          capture_output=True, text=True, cwd=cwd or bundle.parent)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return make_photos(tmp_path_factory.mktemp("bundle-photos") / "photos")


def make_photos(root: Path) -> Path:
    """An ImageFolder of 40 images in every mode a camera or a scanner gives, at another size, plus non-images."""
    from edgecnn.data.datasets import load_images

    images = load_images("synthetic:shapes:40", image_size=48, seed=3)
    for i in range(len(images)):
        folder = root / images.classes[images.labels[i]]
        folder.mkdir(parents=True, exist_ok=True)
        image = images.image(i).convert("RGB").resize((48 + 8 * (i % 3), 48))
        kind = i % 5
        if kind == 0:
            image.convert("L").save(folder / f"{i:02d}.png")
        elif kind == 1:
            rgba = image.convert("RGBA")
            rgba.putalpha(Image.linear_gradient("L").resize(image.size))
            rgba.save(folder / f"{i:02d}.png")
        elif kind == 2:
            image.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / f"{i:02d}.png")
        elif kind == 3:
            grey = np.asarray(image.convert("L"), dtype=np.uint16) * 257
            Image.fromarray(grey).save(folder / f"{i:02d}.png")  # 16-bit greyscale PNG
        else:
            image.save(folder / f"{i:02d}.jpg", quality=92)
    (root / images.classes[0] / "README.txt").write_text("not an image")
    (root / images.classes[1] / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    return root


def prototype_classifier(photos: Path):
    """ResNet-18 (seeded random weights, 32 px) whose head is a nearest-prototype probe: one photo per class
    is that class's prototype, and its centred feature, scaled to unit length, is the class's weight row.

    Each prototype photo scores highest on its own class by construction (Cauchy-Schwarz), so the
    predictions vary on any machine; no training, whose outcome differs between CPUs, is involved. The
    margin (own logit minus the runner-up) is checked against the float noise between engines.
    """
    import torch

    from edgecnn.data.datasets import load_images
    from edgecnn.data.preprocess import preprocess_numpy
    from edgecnn.zoo import create_model

    images = load_images(photos)
    torch.manual_seed(0)
    loaded = create_model("resnet18", num_classes=len(images.classes), input_size=32)
    loaded.labels = list(images.classes)
    model = loaded.model.eval()
    inputs = torch.from_numpy(np.stack([preprocess_numpy(images.image(i), loaded.preprocess)
                                        for i in range(len(images))]))
    head, model.fc = model.fc, torch.nn.Identity()
    with torch.no_grad():
        features = model(inputs).double()
    model.fc = head
    centre = features.mean(0)
    first = [images.labels.index(k) for k in range(len(images.classes))]
    rows = features[first] - centre
    rows = rows / rows.norm(dim=1, keepdim=True)
    scale = 10.0 / (features - centre).norm(dim=1).mean()  # logits of order 10
    with torch.no_grad():
        head.weight.copy_((scale * rows).float())
        head.bias.copy_((-scale * rows @ centre).float())
        logits = model(inputs[first]).double()
    own = logits.diagonal()
    runner_up = (logits - torch.eye(len(first), dtype=logits.dtype) * 1e9).max(1).values
    margin = float((own - runner_up).min())
    assert margin > 0.05, f"prototype margin {margin:.4f} is within float noise: the fixture shows no variety"
    return loaded, [images.names[i] for i in first], margin


@pytest.fixture(scope="module")
def models(tmp_path_factory, photos):
    """The prototype classifier exported FP32 (dynamic batch) and quantized INT8."""
    from edgecnn.export import export_onnx
    from edgecnn.quantize.int8 import QuantizeOptions, quantize_int8

    root = tmp_path_factory.mktemp("bundle")
    loaded, prototypes, margin = prototype_classifier(photos)
    fp32 = root / "fp32.onnx"
    export_onnx(loaded, fp32, batch="dynamic")
    int8 = root / "int8.onnx"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECNN_CALIB_CACHE", str(root / "calib"))
        quantize_int8(fp32, int8, "synthetic:shapes:240", options=QuantizeOptions(samples=32, method="minmax"),
                      progress=False)
    return {"fp32": fp32, "int8": int8, "root": root, "prototypes": prototypes, "margin": margin}


def test_bundle_folder_holds_everything_the_device_needs(models, tmp_path, cli):
    out = tmp_path / "b"
    result = cli("bundle", models["int8"], "-o", out, "--archive", "tar.gz")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["README.md", "edgecnn_device", "infer.py", "labels.txt", "manifest.sha256", "model.onnx",
                     "preprocess.json", "requirements.txt"]
    package = Path(__file__).parents[1] / "edgecnn/core/device"
    modules = sorted(p.name for p in package.glob("*.py"))
    assert {"__init__.py", "preprocessing.py", "segmentation.py", "similarity.py", "manifest.py", "stats.py",
            "timing.py", "memory.py", "environment.py", "results.py", "options.py"} <= set(modules)
    assert sorted(p.name for p in (out / "edgecnn_device").iterdir()) == modules  # each module, nothing else
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    config = json.loads((out / "preprocess.json").read_text())
    from edgecnn.core.metadata import read_metadata

    meta = read_metadata(models["int8"])
    assert config["preprocess"] == meta.preprocess.to_dict() and config["precision"] == "int8"
    assert config["input"]["shape"] == ["batch", 3, 32, 32]
    assert (out / "labels.txt").read_text().splitlines() == meta.labels
    requirements = (out / "requirements.txt").read_text().split()
    assert [r.split(">")[0] for r in requirements] == ["numpy", "pillow", "onnxruntime"]
    manifest = dict(reversed(line.split("  ")) for line in (out / "manifest.sha256").read_text().splitlines())
    assert sorted(manifest) == [n for n in files if n != "manifest.sha256"]  # the device package's files too
    from edgecnn.fileio import sha256_file

    assert all(sha256_file(out / name) == digest for name, digest in manifest.items())
    assert (out / "model.onnx").read_bytes() == Path(models["int8"]).read_bytes()
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(Path(m).relative_to("b").as_posix() for m in members if m != "b" and members[m].isfile()) == files
        assert members["b/edgecnn_device"].isdir()
    # the same script and device package edgecnn preprocesses, times and measures with, byte for byte
    assert (out / "infer.py").read_bytes() == (Path(__file__).parents[1] / "edgecnn/bundle/infer.py").read_bytes()
    for name in modules:
        assert (out / "edgecnn_device" / name).read_bytes() == (package / name).read_bytes(), name
    # and infer.py runs from the bundle with edgecnn (and torch) unimportable, from another folder: the package
    # beside it is what it imports
    ran = infer(out, "--verify", "--bench", "3", "--warmup-s", "0", "--threads", "1", cwd=tmp_path)
    assert ran.returncode == 0 and "every file matches" in ran.stderr and "latency over 3 runs" in ran.stdout, \
        ran.stderr
    stats = out / "edgecnn_device" / "stats.py"
    stats.write_text(stats.read_text() + "# edited on the device\n")  # --verify names the module
    assert "edgecnn_device/stats.py does not match the manifest" in infer(out, "--verify").stderr
    stats.write_text("")  # one that no longer imports: said in one line, with the way to check the bundle
    broken = infer(out, "--verify")
    assert broken.returncode == 2 and "edgecnn_device/ beside infer.py does not import" in broken.stderr \
        and "sha256sum -c manifest.sha256" in broken.stderr


def test_infer_without_torch_matches_edgecnn_eval(models, photos, tmp_path, cli):
    bundle = tmp_path / "b"
    assert cli("bundle", models["fp32"], "-o", bundle).exit_code == 0
    done = infer(bundle, photos, "--json", "--batch", "4", "--top-k", "3", "--threads", "1")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 40
    assert "README.txt: not an image" in done.stderr and "broken.jpg: unreadable image" in done.stderr
    # edgecnn eval on the same folder
    report = tmp_path / "eval.json"
    result = cli("eval", models["fp32"], "--data", photos, "--json", report)
    assert result.exit_code == 0, result.output
    evaluated = json.loads(report.read_text())["result"]
    correct = sum(Path(r["image"]).parent.name == r["top"][0]["label"] for r in lines)
    assert evaluated["images"] == 40 and correct / 40 == pytest.approx(evaluated["top1"])
    # a model whose predictions vary, so agreement means something: each class's prototype photo is its class
    predicted = {r["top"][0]["label"] for r in lines}
    assert len(predicted) == 8, (predicted, models["margin"])
    by_path = {Path(r["image"]).resolve(): r for r in lines}
    for name in models["prototypes"]:
        assert by_path[Path(name).resolve()]["top"][0]["label"] == Path(name).parent.name
    # logits against edgecnn's own runner, image by image
    from edgecnn.data.datasets import load_images
    from edgecnn.engines import load_runner
    from edgecnn.evaluate import evaluate

    runner = load_runner(models["fp32"], "ort", threads=1)
    images = load_images(photos)
    mine = evaluate(runner, images, batch_size=4)
    by_name = {Path(r["image"]).resolve(): r for r in lines}
    assert sorted(by_name) == sorted(Path(n).resolve() for n in images.names)
    from edgecnn.data.preprocess import preprocess_numpy

    with runner:
        for i, name in enumerate(images.names):
            row = by_name[Path(name).resolve()]
            expected = runner.infer_array(preprocess_numpy(images.image(i), runner.info.preprocess)[None])[0]
            assert np.abs(np.asarray(row["logits"]) - expected).max() < 1e-4
            assert row["top"][0]["index"] == mine.predictions[i]


def test_infer_text_output_batches_and_bench(models, photos, tmp_path, cli):
    bundle = tmp_path / "b"
    assert cli("bundle", models["int8"], "-o", bundle).exit_code == 0
    folder = sorted(p for p in photos.iterdir())[0]
    one = infer(bundle, folder, "--top-k", "2")
    assert one.returncode == 0, one.stderr
    first = one.stdout.splitlines()
    expected = [p for p in folder.iterdir() if p.suffix in (".png", ".jpg") and p.name != "broken.jpg"]
    assert len(first) == len(expected) >= 4 and all(line.count("%") == 2 for line in first)
    single = infer(bundle, photos, "--json", "--batch", "1")
    batched = infer(bundle, photos, "--json", "--batch", "7")
    a = [json.loads(x) for x in single.stdout.splitlines()]
    b = [json.loads(x) for x in batched.stdout.splitlines()]
    assert [x["top"][0]["index"] for x in a] == [x["top"][0]["index"] for x in b]
    assert max(np.abs(np.asarray(x["logits"]) - np.asarray(y["logits"])).max() for x, y in zip(a, b)) < 1e-3
    bench = infer(bundle, "--bench", "20", "--warmup-s", "0.05", "--threads", "1")
    assert bench.returncode == 0, bench.stderr
    assert "latency over 20 runs at batch 1: p50" in bench.stdout and "p99" in bench.stdout
    nothing = infer(bundle, tmp_path / "missing")
    assert nothing.returncode == 2 and "no images to classify" in nothing.stderr


def test_verify_refuses_a_model_altered_by_one_byte(models, photos, tmp_path, cli):
    bundle = tmp_path / "b"
    assert cli("bundle", models["int8"], "-o", bundle).exit_code == 0
    ok = infer(bundle, "--verify")
    assert ok.returncode == 0 and "every file matches" in ok.stderr
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (bundle / "model.onnx").write_bytes(bytes(data))
    refused = infer(bundle, "--verify", photos)
    assert refused.returncode == 3
    assert "model.onnx does not match the manifest" in refused.stderr and refused.stdout == ""
    (bundle / "labels.txt").unlink()
    assert "labels.txt is missing" in infer(bundle, "--verify").stderr


def test_bundle_refusals(models, tmp_path, cli):
    out = tmp_path / "b"
    assert cli("bundle", models["fp32"], "-o", out).exit_code == 0
    assert "already exists; pass --force" in one_line_error(cli("bundle", models["fp32"], "-o", out))
    assert cli("bundle", models["fp32"], "-o", out, "--force", "--archive", "zip").exit_code == 0
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        assert "b/infer.py" in archive.namelist()
    assert "does not exist" in one_line_error(cli("bundle", tmp_path / "none.onnx", "-o", tmp_path / "c"))
    text = tmp_path / "model.pt"
    text.write_bytes(b"x")
    assert "takes a .onnx model, a TensorRT .engine, a LiteRT .tflite, an ExecuTorch .pte or an ncnn .param" in \
        one_line_error(cli("bundle", text, "-o", tmp_path / "c"))
    assert not (tmp_path / "c").exists() and not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    lone = infer(Path(__file__).parents[1] / "edgecnn" / "bundle", "x.jpg")  # the script outside a bundle
    assert lone.returncode == 2 and "no preprocess.json beside infer.py" in lone.stderr


def test_a_task_bundles_do_not_know_is_refused(tmp_path, cli):
    """Classification, segmentation and similarity bundle (tests/test_segmentation.py, test_similarity.py); a
    model whose metadata names another task is refused in one line, nothing written."""
    import onnx

    from edgecnn.core.metadata import read_metadata, write_metadata
    from edgecnn.export import export_onnx
    from edgecnn.zoo import create_model

    path = tmp_path / "unet.onnx"
    export_onnx(create_model("unet_same", input_size=16), path, do_verify=False)
    model = onnx.load(str(path))
    meta = read_metadata(model)
    meta.task = "detection"
    write_metadata(model, meta)
    onnx.save(model, str(path))
    refused = cli("bundle", path, "-o", tmp_path / "u")
    assert "bundles run classification, segmentation and similarity models" in one_line_error(refused)
    assert not (tmp_path / "u").exists()


def test_engine_bundle_names_tensorrt_requirements_and_verifies_without_it(models, tmp_path, cli):
    """The TensorRT side of a bundle, as far as it can be checked without TensorRT: files, requirements, manifest."""
    import onnx

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized plan bytes")
    props = {p.key: p.value for p in onnx.load(models["fp32"], load_external_data=False).metadata_props}
    sidecar = {"tensorrt": "10.x", "precision": "fp16", "profiles": [{"name": "input", "min": [1, 3, 32, 32],
                                                                      "opt": [4, 3, 32, 32], "max": [8, 3, 32, 32]}],
               "metadata": props}
    Path(str(engine) + ".json").write_text(json.dumps(sidecar))
    out = tmp_path / "b"
    assert cli("bundle", engine, "-o", out).exit_code == 0
    assert (out / "model.engine").exists() and (out / "model.engine.json").exists()
    assert [r.split(">")[0] for r in (out / "requirements.txt").read_text().split()] == [
        "numpy", "pillow", "tensorrt", "cuda-python"]
    assert "not run by edgecnn's developers" in (out / "README.md").read_text()
    assert infer(out, "--verify").returncode == 0


@pytest.mark.slow
def test_infer_in_a_fresh_venv_with_only_numpy_pillow_onnxruntime(models, photos, tmp_path, cli):
    """The device's environment for real: a new venv holding only requirements.txt (downloads ~60 MB)."""
    import venv

    bundle = tmp_path / "b"
    assert cli("bundle", models["fp32"], "-o", bundle).exit_code == 0
    env_dir = tmp_path / "device-venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(bundle / "requirements.txt")],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "torch" not in installed and "edgecnn" not in installed and "onnxruntime" in installed
    done = subprocess.run([str(python), str(bundle / "infer.py"), str(photos), "--json", "--verify"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    report = tmp_path / "eval.json"
    assert cli("eval", models["fp32"], "--data", photos, "--json", report).exit_code == 0
    evaluated = json.loads(report.read_text())["result"]
    correct = sum(Path(r["image"]).parent.name == r["top"][0]["label"] for r in lines)
    assert len(lines) == evaluated["images"] and correct / len(lines) == pytest.approx(evaluated["top1"])


@pytest.mark.slow
def test_int8_bench_matches_edgecnn_profile_within_10_percent(models, tmp_path, cli):
    """Alternating rounds, each measurement in its own process; medians of p50 compared."""
    import statistics

    bundle = tmp_path / "b"
    assert cli("bundle", models["int8"], "-o", bundle).exit_code == 0
    profile_p50, bench_p50 = [], []
    for round_ in range(5):
        out = tmp_path / f"profile{round_}.json"
        done = subprocess.run([sys.executable, "-m", "edgecnn", "profile", str(models["int8"]), "--engine", "ort",
                               "--threads", "2", "--warmup-s", "1", "--min-runs", "300", "--min-time-s", "2",
                               "--json", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        profile_p50.append(json.loads(out.read_text())["latency"][0]["p50_ms"])
        runs = json.loads(out.read_text())["latency"][0]["runs"]
        bench = infer(bundle, "--bench", str(runs), "--threads", "2", "--json")
        assert bench.returncode == 0, bench.stderr
        bench_p50.append(json.loads(bench.stdout.splitlines()[-1])["bench"]["p50_ms"])
    ratio = statistics.median(bench_p50) / statistics.median(profile_p50)
    assert 0.9 <= ratio <= 1.1, (profile_p50, bench_p50)
