"""The original AlexNet (Krizhevsky, Sutskever, Hinton 2012) and ZFNet (Zeiler, Fergus 2014).

AlexNet, as in the paper: 227x227x3 input (the paper says 224, but 227 is what
makes the 11x11/4 arithmetic give 55x55), five convolutions with 96-256-384-384-256
filters, ReLU, local response normalisation (k=2, n=5, alpha=1e-4, beta=0.75)
after conv1 and conv2, overlapping 3x3/2 max pooling, two dropout-regularised
4096-unit FC layers and a 1000-way output. With ``groups=2`` (the default) conv2,
conv4 and conv5 only connect maps on the same GPU, as in the paper's two-GPU
network: 60,965,224 parameters (the paper's "60 million"). ``groups=1`` gives
the single-tower variant (62,378,344).

ZFNet changes conv1 to 7x7/2 and conv2 to stride 2 (Table 1 of Zeiler & Fergus,
with the resulting 110-55-26-13-13-13-6 map sizes from 224x224 input), all convs
single-tower.
"""

from __future__ import annotations

import torch
from torch import nn


def _lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)


def _classifier(in_features: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, num_classes),
    )


class AlexNet2012(nn.Module):
    def __init__(self, num_classes: int = 1000, groups: int = 2, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4),  # 227 -> 55
            nn.ReLU(inplace=True),
            _lrn(),
            nn.MaxPool2d(3, 2),  # -> 27
            nn.Conv2d(96, 256, 5, padding=2, groups=groups),
            nn.ReLU(inplace=True),
            _lrn(),
            nn.MaxPool2d(3, 2),  # -> 13
            nn.Conv2d(256, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),  # -> 6
        )
        self.classifier = _classifier(256 * 6 * 6, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class ZFNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 7, stride=2, padding=1),  # 224 -> 110
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, padding=1),  # -> 55
            _lrn(),
            nn.Conv2d(96, 256, 5, stride=2),  # -> 26
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, padding=1),  # -> 13
            _lrn(),
            nn.Conv2d(256, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),  # -> 6
        )
        self.classifier = _classifier(256 * 6 * 6, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))
