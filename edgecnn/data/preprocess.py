"""The preprocessing contract's two implementations: numpy + PIL (:mod:`edgecnn.core.preprocess`, what
devices run) and the torchvision pipeline used for training, which agree to 1e-5 (a test checks)."""

from __future__ import annotations

from ..core.preprocess import (  # noqa: F401
    IMAGENET_MEAN,
    IMAGENET_STD,
    PreprocessSpec,
    pil_filter,
    preprocess_numpy,
    resize_and_crop,
    resized_size,
    to_mode,
)


def torch_transform(spec: "PreprocessSpec", train: bool = False, scale: tuple[float, float] = (0.35, 1.0)):
    """The torchvision pipeline for ``spec``: PIL image -> CHW float tensor.

    For evaluation it equals :func:`preprocess_numpy` (max abs difference <= 1e-5; a
    test checks). With ``train=True`` the resize/crop becomes a random resized crop
    of the crop size plus a horizontal flip.
    """
    from torchvision import transforms as T

    interpolation = T.InterpolationMode(spec.interpolation.lower())
    steps = [T.Lambda(lambda im: to_mode(im, spec.color))]
    if train:
        steps += [T.RandomResizedCrop(spec.crop, scale=scale, interpolation=interpolation),
                  T.RandomHorizontalFlip()]
    else:
        steps += [T.Resize(spec.resize, interpolation=interpolation), T.CenterCrop(spec.crop)]
    steps += [T.ToTensor(), T.Normalize(spec.mean, spec.std)]
    return T.Compose(steps)
