"""The strong-form residual of a Problem through nested autograd.

This is the general path that works for any flux and source; faster forward-mode paths must
agree with it.
"""

from __future__ import annotations

import torch

from ..problem.equation import flux_rows, source_rows

__all__ = ["strong_residual", "residual_of_values"]


def _grad(output: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    if not (isinstance(output, torch.Tensor) and output.requires_grad):
        return torch.zeros_like(points)  # a constant contributes nothing
    (gradient,) = torch.autograd.grad(output.sum(), points, create_graph=True, allow_unused=True)
    return torch.zeros_like(points) if gradient is None else gradient


def strong_residual(problem, u_fn, points: torch.Tensor) -> torch.Tensor:
    """``c2 u_tt + c1 u_t + div F - S`` at ``points``.

    Args:
        problem: the :class:`~pdekit.problem.Problem`.
        u_fn: maps ``(N, input_dim)`` points to ``(N, n_components)`` values.
        points: ``(N, input_dim)`` tensor, spatial columns first and time last.

    Returns:
        ``(N, n_components)`` tensor of residuals, differentiable for training.
    """
    points = points.detach().requires_grad_(True)
    return residual_of_values(problem, points, u_fn(points))


def residual_of_values(problem, points: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The residual of ``values`` ``(N, n)`` computed from ``points`` (which require grad).

    This is the form other libraries' callbacks need (DeepXDE's ``pde(x, y)``).
    """
    n, d = problem.n_components, problem.dim
    if values.shape != (len(points), n):
        raise ValueError(f"u_fn must return shape ({len(points)}, {n}), got {tuple(values.shape)}")
    grads = [_grad(values[:, i], points) for i in range(n)]
    x, t = problem.split_points(points)
    u = values[:, 0] if n == 1 else values.T
    du = grads[0][:, :d].T if n == 1 else torch.stack([g[:, :d].T for g in grads])
    eq, p = problem.equation, problem.p
    residual = [torch.zeros(len(points), dtype=points.dtype, device=points.device) for _ in range(n)]
    if eq.flux is not None:
        for i, row in enumerate(flux_rows(eq.flux(u, du, x, t, p), n, d)):
            for j, component in enumerate(row):
                residual[i] = residual[i] + _grad(component, points)[:, j]
    if eq.source is not None:
        for i, value in enumerate(source_rows(eq.source(u, du, x, t, p), n)):
            residual[i] = residual[i] - value
    if problem.is_evolution:
        c1 = problem.time_coefficients
        for i in range(n):
            u_t = grads[i][:, d]
            if eq.second_time_coefficient:
                residual[i] = residual[i] + eq.second_time_coefficient * _grad(u_t, points)[:, d]
            if c1[i]:
                residual[i] = residual[i] + c1[i] * u_t
    return torch.stack(residual, dim=1)
