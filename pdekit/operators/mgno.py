"""MgNO: neural operator layers whose linear part is a multigrid V-cycle (He, Liu, Xu, ICLR 2024).

A layer is ``u <- GELU(V u + W u + b)``: ``W, b`` a 1x1 convolution and ``V`` a V-cycle whose
operations are learned convolutions between channels.  The input channels go straight into the
first layer (no lifting network) and a 1x1 head gives the outputs (no projection network).

The V-cycle maps a right-hand side ``f`` (``C_f`` channels) to ``u`` (``width`` channels).  On
each level, smoothing steps ``u <- u + S(f - A u)`` with 3-point (3x3 in 2D) convolutions
``A: u -> f`` and ``S: f -> u``; going down, ``f`` (or the residual ``f - A u``, ``residual=True``)
is restricted by a stride-2 3-point convolution ``R``; going up, the coarse ``u`` is prolonged by
a stride-2 4-point transposed convolution ``P`` and added.  Where the paper leaves details open
we follow the official code (github xlliu2017/MgNO, ``MgConv_DC`` and ``MgNO_DC`` of the Darcy
experiments):

* the first step on the finest grid starts from ``u = 0``, so it is ``u = S f``; every step has
  its own ``A`` and ``S``, without bias;
* by default the right-hand side itself is restricted (the code's ``use_res=False``, the
  setting of its Darcy runs); ``residual=True`` restricts ``f - A u`` with one more ``A`` per level,
  the textbook scheme;
* the coarse grid's starting ``u`` is the fine ``u`` restricted by a stride-2 3-point convolution
  ``Pi`` (a learned guess; ``Pi = 0`` is the textbook zero start);
* ``pre_smoothing`` steps per level (1), ``coarsest_smoothing`` on the coarsest (2),
  ``post_smoothing`` after each prolongation (0); no normalisation inside the V-cycle (the code's
  LayerNorm variant is its Navier-Stokes model); the layer's bias is the 1x1 convolution's and the
  head has none.

Where we differ: padding comes from the Problem (:mod:`.padding`: zeros on Dirichlet sides,
circular across periodic axes, the even reflection on Neumann sides, replication on free sides)
and is applied before every convolution, the transposed ones included, so that a periodic
V-cycle commutes with shifts by multiples of ``2^(levels-1)``; a grid of ``n`` points coarsens to
``ceil(n / 2)`` (coarse point ``i`` sits on fine point ``2 i``) and prolongation is cropped to the
finer size, so odd grids work; ``levels=0`` goes down to the coarsest grid of at least 2 points
per axis; any grid dimension 1 to 3.  On periodic axes the network also reads its position
(``periodic_position``, :class:`.layers.PeriodicPosition`), since circular padding alone leaves it
blind to where a fixed forcing or coefficient sits.

Parameters (:func:`parameter_count`): the paper's Darcy model (width 24, 4 layers, 6 levels,
``pre_smoothing=1``, ``coarsest_smoothing=2``) has 572,661 for one input and one output channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import GridOperator, GridTraining
from .layers import CHANNELS_LAST, CONV
from .padding import pad, padding_modes

__all__ = ["MgNO", "MgNOConfig", "MgNONetwork", "VCycle", "parameter_count", "coarsest_levels"]

TRANSPOSED = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}


def coarsest_levels(shape: tuple[int, ...]) -> int:
    """Levels of a V-cycle on a grid of ``shape`` down to the coarsest grid with >= 2 points per axis."""
    levels, sizes = 1, list(shape)
    while all(math.ceil(n / 2) >= 2 for n in sizes):
        sizes = [math.ceil(n / 2) for n in sizes]
        levels += 1
    return levels


class PaddedConv(nn.Module):
    """A 3-point convolution (stride 1 or 2) padded by one point per side with each side's mode: the
    convolution's own padding where every side has the same mode (cheaper), else :func:`.padding.pad`."""

    def __init__(self, dim: int, channels_in: int, channels_out: int, modes, stride: int = 1):
        super().__init__()
        kinds = {mode for sides in modes for mode in sides}
        self.modes = None if len(kinds) == 1 else modes
        native = {"constant": "zeros"}.get(next(iter(kinds)), next(iter(kinds))) if self.modes is None else "zeros"
        self.conv = CONV[dim](channels_in, channels_out, 3, stride=stride, padding=1 if self.modes is None else 0,
                              padding_mode=native, bias=False)

    def forward(self, x):
        return self.conv(x if self.modes is None else pad(x, 1, self.modes))


class Smoother(nn.Module):
    """One smoothing step ``u <- u + S(f - A u)`` (``u = S f`` when there is no ``u`` yet and no ``A``)."""

    def __init__(self, dim: int, channels_f: int, channels_u: int, modes, first: bool = False):
        super().__init__()
        self.S = PaddedConv(dim, channels_f, channels_u, modes)
        self.A = None if first else PaddedConv(dim, channels_u, channels_f, modes)

    def forward(self, u, f):
        if self.A is None:
            return self.S(f)
        return u + self.S(f - self.A(u))


class VCycle(nn.Module):
    """A multigrid V-cycle as a linear map ``f (B, C_f, *grid) -> u (B, C_u, *grid)``.

    Args:
        dim: grid axes; modes: padding per axis (:func:`.padding.padding_modes`).
        channels_f, channels_u: channels of the right-hand side and of the solution.
        levels: grids, the finest first (each coarser one has ``ceil(n / 2)`` points per axis).
        pre_smoothing, coarsest_smoothing, post_smoothing: smoothing steps per level.
        residual: restrict ``f - A u`` instead of ``f``.
    """

    def __init__(self, dim: int, modes, channels_f: int, channels_u: int, levels: int, pre_smoothing: int = 1,
                 coarsest_smoothing: int = 2, post_smoothing: int = 0, residual: bool = False):
        super().__init__()
        self.dim, self.modes, self.levels = dim, modes, levels
        f, u = channels_f, channels_u
        self.smoothers = nn.ModuleList([
            nn.ModuleList([Smoother(dim, f, u, modes, first=(level == 0 and step == 0))
                           for step in range(coarsest_smoothing if level == levels - 1 else pre_smoothing)])
            for level in range(levels)])
        self.post_smoothers = nn.ModuleList([nn.ModuleList([Smoother(dim, f, u, modes) for _ in range(post_smoothing)])
                                             for _ in range(levels - 1)])
        self.restrict_f = nn.ModuleList([PaddedConv(dim, f, f, modes, stride=2) for _ in range(levels - 1)])
        self.restrict_u = nn.ModuleList([PaddedConv(dim, u, u, modes, stride=2) for _ in range(levels - 1)])
        self.residual = nn.ModuleList([PaddedConv(dim, u, f, modes) for _ in range(levels - 1)]) if residual else None
        self.zero_padded = all(mode == "constant" for sides in modes for mode in sides)
        self.prolong = nn.ModuleList([TRANSPOSED[dim](u, u, 4, stride=2, padding=1 if self.zero_padded else 0,
                                                      bias=False) for _ in range(levels - 1)])

    def _prolong(self, level: int, coarse: torch.Tensor, size) -> torch.Tensor:
        """``P`` on the padded coarse grid (fine point ``2 i + k - 1`` gets ``w_k u_i``), cropped to ``size``."""
        x = self.prolong[level](coarse if self.zero_padded else pad(coarse, 1, self.modes))
        for j, n in enumerate(size):  # zero padding: torch's padding=1 drops exactly what lands on the ghosts
            x = x.narrow(x.ndim - self.dim + j, 0 if self.zero_padded else 3, n)
        return x

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        grid = f.shape[2:]
        coarsest = [math.ceil(n / 2 ** (self.levels - 1)) for n in grid]
        if min(coarsest) < 2:
            raise ValueError(f"a grid of {tuple(grid)} points is too coarse for a V-cycle of {self.levels} levels "
                             f"(the coarsest grid would have {tuple(coarsest)} points; at least 2 per axis are needed)")
        u, solutions, sides = None, [], []
        for level in range(self.levels):
            if level > 0:
                f = self.restrict_f[level - 1](f if self.residual is None else f - self.residual[level - 1](u))
                u = self.restrict_u[level - 1](u)
            for smoother in self.smoothers[level]:
                u = smoother(u, f)
            solutions.append(u)
            sides.append(f)
        for level in reversed(range(self.levels - 1)):
            u = solutions[level] + self._prolong(level, u, solutions[level].shape[2:])
            for smoother in self.post_smoothers[level]:
                u = smoother(u, sides[level])
        return u


class MgNONetwork(nn.Module):
    """``(B, C_in, *grid) -> (B, C_out, *grid)``: ``layers`` of ``GELU(V u + W u + b)``, then a 1x1 head."""

    def __init__(self, channels_in: int, channels_out: int, dim: int, modes, width: int = 24, layers: int = 4,
                 levels: int = 6, pre_smoothing: int = 1, coarsest_smoothing: int = 2, post_smoothing: int = 0,
                 residual: bool = False):
        super().__init__()
        sizes = [channels_in] + [width] * layers
        self.cycles = nn.ModuleList([VCycle(dim, modes, c, width, levels, pre_smoothing, coarsest_smoothing,
                                            post_smoothing, residual) for c in sizes[:-1]])
        self.pointwise = nn.ModuleList([CONV[dim](c, width, 1) for c in sizes[:-1]])
        self.head = CONV[dim](width, channels_out, 1, bias=False)
        # channels last: about twice as fast for these many small convolutions on a CPU (oneDNN)
        self.memory_format = CHANNELS_LAST.get(dim, torch.contiguous_format)
        self.to(memory_format=self.memory_format)

    def forward(self, x):
        x = x.contiguous(memory_format=self.memory_format)
        for cycle, pointwise in zip(self.cycles, self.pointwise):
            x = F.gelu(cycle(x) + pointwise(x))
        return self.head(x)


def parameter_count(channels_in: int, channels_out: int, dim: int = 2, width: int = 24, layers: int = 4,
                    levels: int = 6, pre_smoothing: int = 1, coarsest_smoothing: int = 2, post_smoothing: int = 0,
                    residual: bool = False) -> int:
    """Trainable parameters of :class:`MgNONetwork`, from the architecture alone.

    Per V-cycle with ``C_f`` input channels, width ``c`` and ``k = 3^dim``: ``A`` and ``S`` per
    smoothing step (``2 k c C_f``; the very first step has no ``A``), ``R`` and ``Pi`` per coarser
    level (``k (C_f^2 + c^2)``, plus ``k c C_f`` for the residual's ``A``), ``P`` per coarser
    level (``4^dim c^2``); per layer a 1x1 convolution with bias (``c C_f + c``); a head ``c C_out``.
    """
    k, c = 3**dim, width
    total = c * channels_out
    for f in [channels_in] + [width] * (layers - 1):
        steps = pre_smoothing * (levels - 1) + coarsest_smoothing + post_smoothing * (levels - 1)
        total += 2 * k * c * f * steps - k * c * f
        total += (levels - 1) * (k * (f * f + c * c) + (k * c * f if residual else 0) + 4**dim * c * c)
        total += c * f + c
    return total


@dataclass(frozen=True)
class MgNOConfig(GridTraining):
    """MgNO settings.  Defaults: the paper's Darcy model, trained as in its recipe (relative H1 loss, batch 8,
    OneCycle peaking at 5e-4) for the shared default number of epochs (the paper: 500).

    Args:
        width: channels of ``u`` in every layer.
        layers: MgNO layers.
        levels: V-cycle grids (0: down to the coarsest grid of >= 2 points per axis of the training grid).
        pre_smoothing, coarsest_smoothing, post_smoothing: smoothing steps per level.
        residual: restrict the residual ``f - A u`` (textbook multigrid) instead of ``f`` (the official code).
    """

    width: int = 24
    layers: int = 4
    levels: int = 0
    pre_smoothing: int = 1
    coarsest_smoothing: int = 2
    post_smoothing: int = 0
    residual: bool = False
    loss: str = "h1"
    lr: float = 5e-4
    batch_size: int = 8

    def __post_init__(self):
        super().__post_init__()
        if self.width < 1 or self.layers < 1 or self.levels < 0:
            raise ValueError(f"MgNO needs width >= 1, layers >= 1 and levels >= 0 (0: as many as the grid allows), "
                             f"got width={self.width}, layers={self.layers}, levels={self.levels}")
        if self.pre_smoothing < 1 or self.coarsest_smoothing < 1 or self.post_smoothing < 0:
            raise ValueError("MgNO needs pre_smoothing >= 1, coarsest_smoothing >= 1 and post_smoothing >= 0, got "
                             f"{self.pre_smoothing}, {self.coarsest_smoothing}, {self.post_smoothing}")


class MgNO(GridOperator):
    """The multigrid neural operator on a Problem's grid (see :class:`~pdekit.operators.base.GridOperator`)."""

    name = "mgno"
    Config = MgNOConfig

    def _levels(self, meta) -> int:
        shape = tuple(len(meta["coords"][d]) for d in ("x", "y", "z") if d in meta["coords"])
        return self.config.levels or coarsest_levels(shape)

    def _network(self, meta):
        structure, c = meta["structure"], self.config
        return MgNONetwork(meta["in_channels"], meta["out_channels"], structure["dim"], padding_modes(structure),
                           c.width, c.layers, self._levels(meta), c.pre_smoothing, c.coarsest_smoothing,
                           c.post_smoothing, c.residual)
