"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998, "Gradient-based learning applied
to document recognition"), following Section II.B of the paper:

* input 1x32x32;
* C1: 6 maps 5x5 -> 28x28 (156 parameters);
* S2: 2x2 subsampling: the four inputs are summed, multiplied by a trainable
  coefficient and a trainable bias is added, per map (12 parameters);
* C3: 16 maps 5x5 -> 10x10 with the partial connection table of Table I
  (1,516 parameters, not 2,416: only the 60 connected kernels exist);
* S4: like S2 on 16 maps -> 5x5 (32 parameters);
* C5: 120 maps 5x5 -> 1x1 (48,120 parameters);
* F6: 84 units (10,164 parameters);
* output: Euclidean RBF units, one per class; y_i = sum_j (x_j - w_ij)^2. We
  return ``-y_i`` so that the largest value is the predicted class (logits).

Every layer uses the paper's squashing function f(a) = 1.7159 tanh(2a/3).
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

# Table I: which S2 maps (rows 0-5) feed each C3 map (0-15).
C3_CONNECTIONS: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class ScaledTanh(nn.Module):
    """f(a) = A tanh(S a) with A = 1.7159 and S = 2/3 (Appendix A of the paper)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S-layer: 2x2 sum times a trainable coefficient plus a trainable bias, per map."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        summed = F.avg_pool2d(x, 2) * 4.0
        return summed * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SparseConv2d(nn.Module):
    """A convolution in which output map ``o`` sees only the input maps in ``connections[o]``.

    Only the connected kernels are parameters: they are packed into one tensor
    and scattered into a dense kernel (zeros elsewhere) at run time.
    """

    def __init__(self, in_channels: int, connections, kernel_size: int):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = len(connections)
        self.kernel_size = (kernel_size, kernel_size)
        n_kernels = sum(len(c) for c in connections)
        self.weight = nn.Parameter(torch.empty(n_kernels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(self.out_channels))
        # index[o * in + i] = position of kernel (o, i) in ``weight``, or n_kernels (a zero kernel)
        index = torch.full((self.out_channels * in_channels,), n_kernels, dtype=torch.long)
        position = 0
        for out_map, inputs in enumerate(connections):
            for in_map in inputs:
                index[out_map * in_channels + in_map] = position
                position += 1
        self.register_buffer("index", index, persistent=False)
        fan_in = 4 * kernel_size * kernel_size
        nn.init.uniform_(self.weight, -2.4 / fan_in, 2.4 / fan_in)

    @property
    def connected_kernels(self) -> int:
        return self.weight.shape[0]

    def dense_weight(self) -> torch.Tensor:
        zero = self.weight.new_zeros(1, *self.kernel_size)
        table = torch.cat([self.weight, zero], dim=0)
        return table[self.index].view(self.out_channels, self.in_channels, *self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)


class EuclideanRBF(nn.Module):
    """Output layer of RBF units; returns the negated squared distances as logits."""

    def __init__(self, in_features: int, num_classes: int):
        super().__init__()
        self.in_features = in_features
        self.out_features = num_classes
        # The paper fixes the prototypes to +-1 bitmaps of 7x12 characters; random +-1 codes
        # play the same role for arbitrary classes.
        generator = torch.Generator().manual_seed(num_classes)
        codes = torch.randint(0, 2, (num_classes, in_features), generator=generator) * 2.0 - 1.0
        self.weight = nn.Parameter(codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        diff = x.unsqueeze(1) - self.weight.unsqueeze(0)
        return -(diff * diff).sum(dim=2)


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5),  # C1
            ScaledTanh(),
            Subsampling(6),  # S2
            ScaledTanh(),
            SparseConv2d(6, C3_CONNECTIONS, 5),  # C3
            ScaledTanh(),
            Subsampling(16),  # S4
            ScaledTanh(),
            nn.Conv2d(16, 120, 5),  # C5
            ScaledTanh(),
        )
        self.f6 = nn.Linear(120, 84)
        self.act6 = ScaledTanh()
        self.output = EuclideanRBF(84, num_classes)

    def reset_classifier(self, num_classes: int) -> None:
        self.output = EuclideanRBF(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).flatten(1)
        return self.output(self.act6(self.f6(x)))
