from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from edgecnn.data import (DataError, PreprocessSpec, load_images, preprocess_numpy, stratified_split,
                          torch_transform, train_val)
from edgecnn.data.shapes import CLASSES, draw_shape
from edgecnn.zoo import get_spec


def _images():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (180, 260, 3), dtype=np.uint8), "RGB")
    yield rgb
    yield rgb.convert("L")  # greyscale
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.fromarray(rng.integers(0, 256, (180, 260), dtype=np.uint8)))
    yield rgba
    yield Image.fromarray(rng.integers(0, 65536, (90, 70), dtype=np.uint16))  # 16-bit
    yield rgb.convert("P")
    yield Image.fromarray(rng.integers(0, 256, (400, 401, 3), dtype=np.uint8), "RGB")


@pytest.mark.parametrize("spec", [
    get_spec("efficientnet_b0").preprocess, get_spec("resnet18").preprocess.resized_for(128, 128),
    get_spec("inception_v3").preprocess, get_spec("lenet5").preprocess,
    PreprocessSpec(resize=64, crop=(48, 64), interpolation="nearest"),
])
def test_torch_and_numpy_paths_give_the_same_tensor(spec):
    for image in _images():
        a = preprocess_numpy(image, spec)
        b = torch_transform(spec)(image).numpy()
        assert a.shape == b.shape == (spec.channels, *spec.crop)
        assert np.abs(a - b).max() <= 1e-5
        assert a.dtype == np.float32


def test_synthetic_shapes_is_deterministic_at_any_resolution():
    assert len(CLASSES) >= 6
    a = np.asarray(draw_shape(3, seed=7, index=11, size=40))
    assert np.array_equal(a, np.asarray(draw_shape(3, seed=7, index=11, size=40)))
    assert not np.array_equal(a, np.asarray(draw_shape(3, seed=8, index=11, size=40)))
    for size in (16, 33, 224):
        assert draw_shape(0, 0, 0, size).size == (size, size)
    images = load_images("synthetic:shapes:80", image_size=24)
    assert len(images) == 80 and images.class_counts() == [10] * 8


def test_a_small_cnn_learns_synthetic_shapes_to_90_percent():
    from torch import nn

    torch.manual_seed(0)
    spec = PreprocessSpec(resize=32, crop=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)
    train, val = train_val("synthetic:shapes", val_split=0.2, image_size=32, seed=0)
    transform = torch_transform(spec)
    x_train = torch.stack([transform(train.image(i)) for i in range(len(train))])
    y_train = torch.tensor(train.labels)
    x_val = torch.stack([transform(val.image(i)) for i in range(len(val))])
    y_val = torch.tensor(val.labels)

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                             nn.MaxPool2d(2))

    net = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64), nn.AdaptiveAvgPool2d(1),
                        nn.Flatten(), nn.Linear(64, len(CLASSES)))
    epochs, batch = 10, 32
    optimizer = torch.optim.AdamW(net.parameters(), 3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=epochs * -(-len(x_train) // batch))
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            loss = nn.functional.cross_entropy(net(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(x_val).argmax(1) == y_val).float().mean().item()
    assert accuracy >= 0.90, accuracy


def _write_folder(root, per_class=4, classes=("a", "b", "c")):
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_corrupt_and_non_image_files_are_skipped_and_counted(tmp_path):
    root = _write_folder(tmp_path / "data")
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "b" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    good = (root / "c" / "0.png").read_bytes()
    (root / "c" / "truncated.png").write_bytes(good[: len(good) // 2])
    images = load_images(root)
    assert len(images) == 12 and images.classes == ["a", "b", "c"]
    assert images.skipped == {"not images": 1, "corrupt or unreadable": 2}
    assert "skipped 3 files" in images.skipped_message()


def test_empty_inputs_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_images(tmp_path / "empty")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (8, 8)).save(flat / "x.png")
    with pytest.raises(DataError, match="one sub-folder per class"):
        load_images(flat)
    root = _write_folder(tmp_path / "d")
    (root / "z_empty").mkdir()
    (root / "z_empty" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no readable images in .*: z_empty"):
        load_images(root)
    nothing = tmp_path / "nothing"
    (nothing / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no readable images"):
        load_images(nothing)
    with pytest.raises(DataError, match="unknown synthetic dataset"):
        load_images("synthetic:circles")


def test_stratified_split_is_deterministic_and_stratified():
    labels = [i % 4 for i in range(100)]
    train, val = stratified_split(labels, 0.2, seed=3)
    assert (train, val) == stratified_split(labels, 0.2, seed=3)
    assert stratified_split(labels, 0.2, seed=4)[1] != val
    assert sorted(train + val) == list(range(100))
    assert np.bincount([labels[i] for i in val]).tolist() == [5, 5, 5, 5]
