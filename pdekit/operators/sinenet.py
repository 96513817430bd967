"""SineNet (Zhang, Helwig, Ji, ICLR 2024): K U-shaped "waves" in sequence, for time-dependent PDEs.

A 3x3 convolution lifts the history (``h`` frames as channels) to ``width`` channels; then ``K``
waves, each with its own weights and a residual around it (``x <- x + wave(x)``), so that the
latent field is advanced in ``K`` smaller steps rather than one large U-Net step; a 3x3
convolution gives the next frame.  A wave goes down ``levels`` times by average pooling
(ConvBlock with a 1x1 shortcut at each level) and up by interpolation (bicubic in 2D) with the
skip of its level concatenated (ConvBlock with a 1x1 shortcut).  The *disentangled branch*: the
wave's input, pooled to each level, joins every down level after the first, so that features
of the current state are not mixed away by the multiscale processing.  Channels per level are
``int(width * mult^k)``; :func:`matched_multiplier` picks ``mult`` so that models with
different ``K`` have one parameter budget (the paper's way of comparing them; its K = 1 model
is the equal-parameter U-Net).

Followed from the official code (divelab/AIRS, OpenPDE/SineNet, ``sinenet_dual.py``): one
ConvBlock (two conv-GroupNorm(1)-GELU layers) per level, 1x1 shortcuts on both paths, the pooled
wave input concatenated from the second down level on, four levels, bicubic upsampling with
circular padding of two cells then a crop on periodic axes.  Padding here follows the Problem
(:mod:`.padding`) rather than one mode for all sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..solvers.models import parameter_count
from .base import GridOperator, GridTraining
from .layers import CHANNELS_LAST, CONV, POOL, ConvBlock
from .padding import pad, padding_modes, upsample

__all__ = ["SineNet", "SineNetConfig", "SineNetNetwork", "Wave", "matched_multiplier"]


class Wave(nn.Module):
    """One U-shaped wave over channels ``channels[0] -> ... -> channels[-1] -> ... -> channels[0]``."""

    def __init__(self, dim: int, channels: list[int], modes, disentangle: bool = True, cubic: bool = True):
        super().__init__()
        self.dim, self.modes, self.disentangle, self.cubic = dim, modes, disentangle, cubic
        levels = range(1, len(channels))
        extra = [channels[0] if disentangle and k > 1 else 0 for k in levels]
        self.down = nn.ModuleList(ConvBlock(dim, channels[k - 1] + e, channels[k], modes) for k, e in zip(levels, extra))
        self.down_shortcut = nn.ModuleList(CONV[dim](channels[k - 1], channels[k], 1) for k in levels)
        self.up = nn.ModuleList(ConvBlock(dim, channels[k] + channels[k - 1], channels[k - 1], modes)
                                for k in reversed(levels))
        self.up_shortcut = nn.ModuleList(CONV[dim](channels[k], channels[k - 1], 1) for k in reversed(levels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = POOL[self.dim]
        skips, h, branch = [x], x, x
        for k, (block, shortcut) in enumerate(zip(self.down, self.down_shortcut)):
            h, branch = pool(h, 2, ceil_mode=True), pool(branch, 2, ceil_mode=True)
            joined = torch.cat([h, branch], dim=1) if self.disentangle and k > 0 else h
            h = block(joined) + shortcut(h)
            skips.append(h)
        h = skips.pop()
        for block, shortcut in zip(self.up, self.up_shortcut):
            skip = skips.pop()
            lifted = upsample(h, skip.shape[2:], self.modes, self.cubic)
            h = block(torch.cat([skip, lifted], dim=1)) + shortcut(lifted)
        return h


class SineNetNetwork(nn.Module):
    """``(B, C_in, *grid) -> (B, C_out, *grid)``: lift, ``waves`` residual waves, project."""

    def __init__(self, channels_in: int, channels_out: int, dim: int, modes, waves: int = 8, width: int = 16,
                 mult: float = 1.425, levels: int = 4, disentangle: bool = True):
        super().__init__()
        if waves < 1 or width < 1 or levels < 1 or mult <= 0:
            raise ValueError(f"SineNet needs waves, width, levels >= 1 and mult > 0, got waves={waves}, "
                             f"width={width}, levels={levels}, mult={mult}")
        self.modes = modes
        channels = [int(width * mult**k) for k in range(levels + 1)]
        self.lift = CONV[dim](channels_in, width, 3)
        self.waves = nn.ModuleList(Wave(dim, channels, modes, disentangle) for _ in range(waves))
        self.head = CONV[dim](width, channels_out, 3)
        self.memory_format = CHANNELS_LAST.get(dim, torch.contiguous_format)  # faster CPU convolutions
        self.to(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lift(pad(x.contiguous(memory_format=self.memory_format), 1, self.modes))
        for wave in self.waves:
            x = x + wave(x)
        return self.head(pad(x, 1, self.modes))


def matched_multiplier(target: int, waves: int, width: int, channels_in: int, channels_out: int, dim: int = 2,
                       levels: int = 4, disentangle: bool = True) -> float:
    """The ``mult`` whose SineNet has the parameter count nearest to ``target`` (bisection on ``mult``)."""
    modes = (("constant", "constant"),) * dim

    def count(mult):
        return parameter_count(SineNetNetwork(channels_in, channels_out, dim, modes, waves, width, mult, levels,
                                              disentangle))

    low, high = 1.0, 4.0
    if count(low) > target:
        raise ValueError(f"{waves} waves of width {width} exceed {target} parameters even with mult 1; lower the width")
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if count(middle) <= target else (low, middle)
    return min((low, high), key=lambda m: abs(count(m) - target))


@dataclass(frozen=True)
class SineNetConfig(GridTraining):
    """SineNet settings: ``waves`` (K), ``width``, channel multiplier ``mult`` per level (see
    :func:`matched_multiplier` for equal parameters across K), ``levels``, ``disentangle``; it learns a
    time step from the last ``history`` frames (default 10, the FNO protocol), trained one step ahead
    with AdamW and cosine decay after a warm-up, as the paper."""

    waves: int = 8
    width: int = 16
    mult: float = 1.425
    levels: int = 4
    disentangle: bool = True
    history: int = 10
    schedule: str = "cosine"
    weight_decay: float = 1e-5

    def __post_init__(self):
        super().__post_init__()
        if self.history < 1:
            raise ValueError(f"SineNet steps in time: history must be >= 1, got {self.history}")


class SineNet(GridOperator):
    """SineNet as an autoregressive operator on a Problem's grid (padding from its conditions)."""

    name = "sinenet"
    Config = SineNetConfig

    def _network(self, meta):
        c = self.config
        structure = meta["structure"]
        return SineNetNetwork(meta["in_channels"], meta["out_channels"], structure["dim"], padding_modes(structure),
                              c.waves, c.width, c.mult, c.levels, c.disentangle)
