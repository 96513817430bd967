"""Padding chosen from the Problem's boundary conditions, for the convolutions of grid operators.

Per side: ``circular`` across a periodic axis, ``zeros`` on a Dirichlet side, ``reflect`` on a
Neumann side (the even extension a zero normal derivative implies), and ``replicate`` on a side
without a condition.  Convolutions then use no padding of their own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["padding_modes", "pad", "upsample", "MODES"]

INTERPOLATION = {1: "linear", 2: "bilinear", 3: "trilinear"}

MODES = {"periodic": "circular", "dirichlet": "constant", "neumann": "reflect", "free": "replicate"}


def padding_modes(structure: dict) -> tuple[tuple[str, str], ...]:
    """``(lower, upper)`` torch padding modes per spatial axis from a dataset's ``structure``
    (see :func:`pdekit.data.generation.structure`): sides are named in the geometry's order, two per axis."""
    sides = list(structure["sides"].values())
    return tuple((MODES[sides[2 * j]], MODES[sides[2 * j + 1]]) for j in range(structure["dim"]))


def pad(x: torch.Tensor, width: int, modes: tuple[tuple[str, str], ...]) -> torch.Tensor:
    """Pad the last ``len(modes)`` axes of ``x`` by ``width`` on each side with each side's mode."""
    d = len(modes)

    def widths(j, low, high):  # F.pad lists the last axis first; torch wants all d axes listed
        out = [0] * (2 * d)
        out[2 * (d - 1 - j)], out[2 * (d - 1 - j) + 1] = low, high
        return out

    for j, (lower, upper) in enumerate(modes):
        if lower == upper:
            x = F.pad(x, widths(j, width, width), mode=lower)
        else:
            x = F.pad(x, widths(j, width, 0), mode=lower)
            x = F.pad(x, widths(j, 0, width), mode=upper)
    return x


def upsample(x: torch.Tensor, size: tuple[int, ...], modes: tuple[tuple[str, str], ...],
             cubic: bool = False) -> torch.Tensor:
    """Interpolate ``x`` to twice its resolution, cropped to ``size``, with the sides' padding beyond the
    edges (so that on a periodic axis upsampling commutes with shifts, as the convolutions do).

    ``cubic``: bicubic on 2D grids (two cells of padding), else (bi/tri)linear (one cell)."""
    d = len(modes)
    cubic = cubic and d == 2
    width = 2 if cubic else 1
    x = F.interpolate(pad(x, width, modes), scale_factor=2, mode="bicubic" if cubic else INTERPOLATION[d],
                      align_corners=False)
    for j, n in enumerate(size):
        x = x.narrow(x.ndim - d + j, 2 * width, n)
    return x
