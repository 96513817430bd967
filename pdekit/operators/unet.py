"""A U-Net baseline for operators on grids (Ronneberger et al. 2015, as the neural-operator papers use it).

Levels of two (pad, 3-point convolution, GroupNorm, GELU) blocks; average pooling down,
(bi/tri)linear interpolation up to the skip's size (so odd grids work; padded like the
convolutions), skip connections by concatenation, a 1x1 head.  Padding follows the Problem
(:mod:`.padding`): circular on periodic axes, zeros on Dirichlet sides, so the network never sees
a boundary the problem does not have.
Channels double per level from ``width``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import GridOperator, GridTraining
from .layers import CHANNELS_LAST, CONV, POOL, ConvBlock
from .padding import padding_modes, upsample

__all__ = ["UNet", "UNetConfig", "UNetNetwork"]


class UNetNetwork(nn.Module):
    """``(B, C_in, *grid) -> (B, C_out, *grid)`` for a grid of ``dim`` axes."""

    def __init__(self, channels_in: int, channels_out: int, dim: int, modes, width: int = 16, depth: int = 3):
        super().__init__()
        self.dim, self.modes = dim, modes
        widths = [width * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList([ConvBlock(dim, channels_in, widths[0], modes)]
                                  + [ConvBlock(dim, widths[k], widths[k + 1], modes) for k in range(depth)])
        self.up = nn.ModuleList([ConvBlock(dim, widths[k + 1] + widths[k], widths[k], modes)
                                 for k in reversed(range(depth))])
        self.head = CONV[dim](widths[0], channels_out, 1)
        # channels last: faster convolutions on a CPU (oneDNN), as for MgNO
        self.memory_format = CHANNELS_LAST.get(dim, torch.contiguous_format)
        self.to(memory_format=self.memory_format)

    def forward(self, x):
        x = x.contiguous(memory_format=self.memory_format)
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else POOL[self.dim](x, 2, ceil_mode=True))
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = upsample(x, skip.shape[2:], self.modes)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


@dataclass(frozen=True)
class UNetConfig(GridTraining):
    """U-Net settings: ``width`` channels at full resolution, doubled over ``depth`` coarser levels."""

    width: int = 16
    depth: int = 3

    def __post_init__(self):
        super().__post_init__()
        if self.width < 1 or self.depth < 0:
            raise ValueError(f"the U-Net needs width >= 1 and depth >= 0, got width={self.width}, depth={self.depth}")


class UNet(GridOperator):
    """The U-Net as a neural operator on a Problem's grid (see :class:`~pdekit.operators.base.GridOperator`)."""

    name = "unet"
    Config = UNetConfig

    def _network(self, meta):
        structure = meta["structure"]
        return UNetNetwork(meta["in_channels"], meta["out_channels"], structure["dim"], padding_modes(structure),
                           self.config.width, self.config.depth)
