"""Building blocks the convolutional operators share (U-Net, MgNO, SineNet): convolutions and pooling by
grid dimension, the (pad, 3-point convolution, GroupNorm, GELU) x 2 block, and the position channels
of periodic axes."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .padding import pad

__all__ = ["CONV", "POOL", "CHANNELS_LAST", "ConvBlock", "PeriodicPosition"]

CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
#: the memory format in which oneDNN's CPU convolutions run fastest, by grid dimension
CHANNELS_LAST = {2: torch.channels_last, 3: torch.channels_last_3d}


class ConvBlock(nn.Module):
    """Two (pad as the Problem says, conv 3, GroupNorm, GELU) layers."""

    def __init__(self, dim: int, channels_in: int, channels_out: int, modes, groups: int = 1):
        super().__init__()
        self.modes = modes
        self.convs = nn.ModuleList([CONV[dim](channels_in, channels_out, 3), CONV[dim](channels_out, channels_out, 3)])
        self.norms = nn.ModuleList([nn.GroupNorm(groups, channels_out), nn.GroupNorm(groups, channels_out)])

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = F.gelu(norm(conv(pad(x, 1, self.modes))))
        return x


class PeriodicPosition(nn.Module):
    """``network`` fed its inputs plus ``cos`` and ``sin`` of the phase ``2 pi i / n`` of each periodic axis.

    A convolution network with circular padding commutes with periodic shifts, so it cannot tell
    where it is on a periodic axis; a Problem whose data depend on position there (a fixed forcing,
    a coefficient) has a solution map that does not commute with shifts, which such a network
    cannot learn (darcy_periodic2d: relative L2 1.0, nothing learnt).  On a bounded axis the padding
    marks the ends, so no channels are added there.  The phase is that of the periodic grid
    (``n`` points, one period, no repeated end), so the channels follow the grid at any resolution.
    """

    def __init__(self, network: nn.Module, dim: int, axes: tuple[int, ...]):
        super().__init__()
        self.network, self.dim, self.axes = network, dim, tuple(axes)

    def forward(self, x):
        grid = x.shape[x.ndim - self.dim:]
        features = []
        for axis in self.axes:
            phase = torch.arange(grid[axis], device=x.device, dtype=x.dtype) * (2 * math.pi / grid[axis])
            shape = [1] * self.dim
            shape[axis] = grid[axis]
            for value in (torch.cos(phase), torch.sin(phase)):
                features.append(value.reshape(1, 1, *shape).expand(x.shape[0], 1, *grid))
        return self.network(torch.cat([x, *features], dim=1) if features else x)
