"""MobileNet V1 (Howard et al. 2017), Table 1, with the width multiplier alpha.

A 3x3/2 standard convolution, then 13 depthwise-separable blocks (3x3 depthwise
+ BN + ReLU, 1x1 pointwise + BN + ReLU), global average pooling and one FC
layer. Every channel count is multiplied by ``width_mult``. The paper's counts
(Table 6) are of convolution and FC weights: 1.0 -> 569 M mult-adds and 4.2 M
parameters, 0.75 -> 325 M / 2.6 M, 0.5 -> 149 M / 1.3 M, 0.25 -> 41 M / 0.5 M.
(The paper's table lists the last depthwise layer as stride 2, but its input and
output are both 7x7, so it is stride 1, as in every implementation.)
"""

from __future__ import annotations

import torch
from torch import nn

# (output channels of the pointwise conv, stride of the depthwise conv)
BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2), (1024, 1),
)


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    )


class MobileNetV1(nn.Module):
    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.001):
        super().__init__()
        if width_mult <= 0:
            raise ValueError("width_mult must be positive")

        def width(channels: int) -> int:
            return max(1, int(channels * width_mult))

        layers = [_conv_bn_relu(3, width(32), 3, 2)]
        in_ch = width(32)
        for out, stride in BLOCKS:
            layers.append(_conv_bn_relu(in_ch, in_ch, 3, stride, groups=in_ch))  # depthwise
            layers.append(_conv_bn_relu(in_ch, width(out), 1, 1))  # pointwise
            in_ch = width(out)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_ch, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.pool(self.features(x)).flatten(1)))
