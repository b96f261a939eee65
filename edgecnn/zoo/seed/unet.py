"""U-Net (Ronneberger, Fischer, Brox 2015), as in Figure 1 of the paper.

A contracting path of four steps (two unpadded 3x3 convolutions + ReLU, then 2x2
max pooling, doubling the channels from 64 to 1024), an expansive path of four
steps (2x2 up-convolution halving the channels, concatenation with the centre
crop of the matching contracting feature map, two unpadded 3x3 convolutions +
ReLU), and a final 1x1 convolution to ``num_classes`` maps. Unpadded (valid)
convolutions make the output smaller than the input: 572x572 -> 388x388.

``padding=True`` gives the common same-size variant (output = input size).
``base_channels`` scales the widths (64 in the paper).
"""

from __future__ import annotations

import torch
from torch import nn

DEPTH = 4


def _double_conv(in_ch: int, out_ch: int, padding: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=padding),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_ch, out_ch, 3, padding=padding),
        nn.ReLU(inplace=True),
    )


def output_size(size: int, padding: bool = False) -> int | None:
    """Output side length for an input side length, or None when the size does not fit.

    Every feature map before a 2x2 pooling must have an even side, and every map
    must stay at least 1 pixel wide.
    """
    shrink = 0 if padding else 4
    for _ in range(DEPTH):
        size -= shrink
        if size < 2 or size % 2:
            return None
        size //= 2
    size -= shrink
    for _ in range(DEPTH):
        if size < 1:
            return None
        size = size * 2 - shrink
    return size if size >= 1 else None


def nearest_valid_sizes(size: int, padding: bool = False) -> tuple[int | None, int | None]:
    below = next((s for s in range(size, 0, -1) if output_size(s, padding)), None)
    above = next((s for s in range(size, size + 10_000) if output_size(s, padding)), None)
    return below, above


def _center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    top = (x.shape[-2] - height) // 2
    left = (x.shape[-1] - width) // 2
    return x[..., top : top + height, left : left + width]


class UNet(nn.Module):
    def __init__(self, num_classes: int = 2, in_channels: int = 1, base_channels: int = 64, padding: bool = False):
        super().__init__()
        pad = 1 if padding else 0
        widths = [base_channels * 2**i for i in range(DEPTH + 1)]
        self.down = nn.ModuleList()
        channels = in_channels
        for width in widths[:-1]:
            self.down.append(_double_conv(channels, width, pad))
            channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottom = _double_conv(widths[-2], widths[-1], pad)
        self.up = nn.ModuleList()
        self.up_conv = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(width * 2, width, 2, stride=2))
            self.up_conv.append(_double_conv(width * 2, width, pad))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def reset_classifier(self, num_classes: int) -> None:
        self.head = nn.Conv2d(self.head.in_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, conv, skip in zip(self.up, self.up_conv, reversed(skips)):
            x = up(x)
            x = conv(torch.cat([_center_crop(skip, x.shape[-2], x.shape[-1]), x], dim=1))
        return self.head(x)
