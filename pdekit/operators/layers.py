"""Building blocks the convolutional operators share (U-Net, SineNet): convolutions and pooling by
grid dimension, and the (pad, 3-point convolution, GroupNorm, GELU) x 2 block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .padding import pad

__all__ = ["CONV", "POOL", "CHANNELS_LAST", "ConvBlock"]

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
