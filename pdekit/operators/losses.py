"""Relative L2 and H1 losses on grids, per sample, with derivatives that respect the boundary; the
mean square error of point values (DeepONet's loss in its papers).

The H1 norm adds the gradient, taken by finite differences: central inside, one-sided at the
ends of a non-periodic axis (``torch.gradient``), and central across the seam of a periodic one,
so a Dirichlet problem's data is never differenced as if it wrapped around (the periodic default
of neuraloperator's ``H1Loss``).
"""

from __future__ import annotations

import torch

__all__ = ["relative_l2", "relative_h1", "mean_square", "grid_gradient", "LOSSES"]


def _norms(values: torch.Tensor) -> torch.Tensor:
    """Per sample ``||v||`` over every axis but the first."""
    return values.flatten(1).norm(dim=1)


def relative_l2(prediction: torch.Tensor, target: torch.Tensor, **_) -> torch.Tensor:
    """Mean over the batch of ``||prediction - target|| / ||target||`` (each sample on its own)."""
    return (_norms(prediction - target) / _norms(target).clamp_min(1e-30)).mean()


def grid_gradient(values: torch.Tensor, spacing: tuple[float, ...], periodic: tuple[bool, ...]) -> list[torch.Tensor]:
    """Derivatives of ``(B, C, *grid)`` values along each of the last ``len(spacing)`` axes."""
    d = len(spacing)
    grads = []
    for j, (h, wraps) in enumerate(zip(spacing, periodic)):
        axis = values.ndim - d + j
        if wraps:
            grads.append((values.roll(-1, axis) - values.roll(1, axis)) / (2 * h))
        else:
            grads.append(torch.gradient(values, spacing=h, dim=axis)[0])
    return grads


def relative_h1(prediction: torch.Tensor, target: torch.Tensor, *, spacing: tuple[float, ...],
                periodic: tuple[bool, ...]) -> torch.Tensor:
    """Mean over the batch of ``||e||_H1 / ||target||_H1`` with ``||v||_H1^2 = ||v||^2 + ||grad v||^2``
    (grid sums; the gradient over the last ``len(spacing)`` axes, see :func:`grid_gradient`)."""
    error = prediction - target

    def squared(values):
        return sum(_norms(g) ** 2 for g in grid_gradient(values, spacing, periodic)) + _norms(values) ** 2

    return (squared(error).sqrt() / squared(target).sqrt().clamp_min(1e-30)).mean()


def mean_square(prediction: torch.Tensor, target: torch.Tensor, **_) -> torch.Tensor:
    """Mean of ``(prediction - target)^2`` over every entry."""
    return (prediction - target).square().mean()


LOSSES = {"l2": relative_l2, "h1": relative_h1, "mse": mean_square}
