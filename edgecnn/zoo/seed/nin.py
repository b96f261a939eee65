"""Network in Network (Lin, Chen, Yan 2014), the ImageNet model.

Each "mlpconv" block is a spatial convolution followed by two 1x1 convolutions
(the per-pixel MLP), all with ReLU. There are no fully connected layers: the
last mlpconv block outputs one map per class and global average pooling turns
the maps into logits. Filter sizes follow the ImageNet configuration (11x11/4,
5x5, 3x3, 3x3 with 96-256-384-classes maps) used in the authors' Caffe model.
"""

from __future__ import annotations

import torch
from torch import nn


def mlpconv(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 1),
        nn.ReLU(inplace=True),
    )


class NiN(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            mlpconv(in_channels, 96, 11, 4, 0),
            nn.MaxPool2d(3, 2),
            mlpconv(96, 256, 5, 1, 2),
            nn.MaxPool2d(3, 2),
            mlpconv(256, 384, 3, 1, 1),
            nn.MaxPool2d(3, 2),
            nn.Dropout(dropout),
        )
        self.classifier = mlpconv(384, num_classes, 3, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def reset_classifier(self, num_classes: int) -> None:
        self.classifier = mlpconv(384, num_classes, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.classifier(self.features(x))).flatten(1)
