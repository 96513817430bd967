"""First-order upwind finite differences for 1D linear advection, the classical baseline of INSR.

For ``u_t + (a u)_x = 0`` (the flux of the Problem, checked to be ``a u``) on an interval: a
grid of ``nodes`` points including both ends, ``u_i <- u_i - a dt / dx (u_i - u_i-1)`` (for
``a > 0``; mirrored for ``a < 0``), the inflow end set by the Problem's Dirichlet value, the
outflow end updated like any other node.  Its numerical diffusion ``a dx (1 - CFL) / 2`` is
what a neural representation with as many weights as the grid has values is compared against.
"""

from __future__ import annotations

import json
import time

import numpy as np
import xarray as xr

from ..problem import Dirichlet, Initial, Problem
from ..results import GridSolution

__all__ = ["upwind_advection", "advection_speed"]


def advection_speed(problem: Problem) -> float:
    """The constant ``a`` of a flux ``F = a u``; a ValueError for any other 1D problem."""
    if problem.dim != 1 or problem.n_components != 1 or not problem.is_evolution:
        raise ValueError(f"upwind advection needs a scalar 1D evolution problem; {problem.name!r} is not one")
    eq = problem.equation
    if eq.flux is None or eq.source is not None or eq.second_time_coefficient != 0:
        raise ValueError(f"upwind advection needs u_t + (a u)_x = 0 (a flux, no source); {problem.name!r} differs")
    u = np.array([0.0, 1.0, 2.0, 1.0])
    du = [np.array([0.0, 0.0, 0.0, 1.0])]
    x, t = np.zeros((1, 4)), np.zeros(4)
    flux = np.ravel(eq.flux(u, du, x, t, problem.p)) / problem.time_coefficients[0]
    speed = float(flux[1] - flux[0])
    if not np.allclose(flux, speed * u, atol=1e-12 * (1 + abs(speed))):
        raise ValueError(f"upwind advection needs a flux a u (linear, without grad u); {problem.name!r}'s flux is not")
    return speed


def upwind_advection(problem: Problem, nodes: int, cfl: float = 0.5, saves: int = 100) -> GridSolution:
    """Solve ``problem`` by first-order upwind differences on ``nodes`` grid points.

    Args:
        problem: 1D scalar linear advection (see :func:`advection_speed`).
        nodes: grid points including both ends (the unknowns compared with other solvers).
        cfl: Courant number ``|a| dt / dx`` (stable for ``0 < cfl <= 1``; 1 is exact transport).
        saves: number of intervals between stored snapshots.

    Returns:
        a :class:`~pdekit.results.GridSolution` on the grid and the saved times.
    """
    if not 0 < cfl <= 1:
        raise ValueError(f"cfl must be in (0, 1] for a stable upwind scheme, got {cfl}")
    if nodes < 3 or saves < 1:
        raise ValueError(f"need nodes >= 3 and saves >= 1, got nodes={nodes}, saves={saves}")
    speed = advection_speed(problem)
    start = time.perf_counter()
    lower, upper = float(problem.geometry.lower[0]), float(problem.geometry.upper[0])
    x = np.linspace(lower, upper, nodes)
    dx = x[1] - x[0]
    t0, t1 = problem.time.t0, problem.time.t1
    steps = max(saves, int(np.ceil((t1 - t0) * abs(speed) / (cfl * dx))))
    dt = (t1 - t0) / steps
    saved = set(np.round(np.linspace(0, steps, saves + 1)).astype(int).tolist())
    courant = speed * dt / dx
    initial = next(c for c in problem.conditions_of(Initial) if c.derivative == 0)
    u = np.broadcast_to(np.asarray(problem.value_of(initial.value, x[None, :], t0), dtype=float), x.shape).copy()
    inflow = 0 if speed >= 0 else nodes - 1
    end, side = x[None, [inflow]], problem.geometry.sides[inflow // (nodes - 1)]
    dirichlet = [c for c in problem.conditions_of(Dirichlet) if c.on is None or side in np.atleast_1d(c.on)
                 or callable(c.on) and bool(np.ravel(c.on(end))[0])]
    snapshots, times = [u.copy()], [t0]
    for k in range(1, steps + 1):
        if speed >= 0:
            u[1:] -= courant * (u[1:] - u[:-1])
        else:
            u[:-1] -= courant * (u[1:] - u[:-1])
        t = t0 + k * dt
        for condition in dirichlet:
            u[inflow] = float(np.ravel(problem.value_of(condition.value, end, t))[0])
        if k in saved:
            snapshots.append(u.copy())
            times.append(t)
    config = {"nodes": nodes, "cfl": abs(courant), "dt": dt, "steps": steps}
    dataset = xr.Dataset({"u": (("t", "x"), np.asarray(snapshots))}, coords={"t": times, "x": x},
                         attrs={"solver": "upwind", "config": json.dumps(config),
                                "wall_time_s": time.perf_counter() - start})
    return GridSolution(dataset, problem)
