"""SE-ResNet-50 (Hu, Shen, Sun 2018, "Squeeze-and-Excitation Networks").

ResNet-50's bottleneck blocks with a squeeze-and-excitation unit (global average
pool -> FC C/r -> ReLU -> FC C -> sigmoid, r = 16) rescaling the residual branch
before the addition. Built on torchvision's ResNet so the rest of the network is
exactly torchvision's ResNet-50: 28,088,024 parameters, 4.09 G mult-adds at
224x224. (torchvision's ResNet-50 is the "v1.5" layout, stride in the 3x3 conv;
the paper's Table 2 counts 3.87 GFLOPs for the original layout, stride in the
first 1x1 conv, which has the same parameters.)
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet


class SqueezeExcitation(nn.Module):
    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = channels // reduction
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.relu(self.fc1(self.pool(x).flatten(1)))))
        return x * scale.view(scale.shape[0], scale.shape[1], 1, 1)


class SEBottleneck(Bottleneck):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.se = SqueezeExcitation(self.conv3.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


def se_resnet50(num_classes: int = 1000) -> ResNet:
    return ResNet(SEBottleneck, [3, 4, 6, 3], num_classes=num_classes)
