"""Run DeepXDE on a pdekit Problem: geometry, PDE residual and conditions translated once.

Useful to users who want DeepXDE's solvers on a problem defined with pdekit, and the peer of
pdekit's PINN in ``benchmarks/pinn_vs_deepxde.py``.  Needs ``DDE_BACKEND=pytorch``.
"""

from __future__ import annotations

import os

import numpy as np

from ..derivatives.autograd import residual_of_values
from ..problem import Box, Dirichlet, Disk, Initial, Interval, Neumann, Periodic, Polygon, Problem, Rectangle
from ..problem.equation import flux_rows

__all__ = ["to_deepxde", "deepxde"]


def deepxde():
    """Import DeepXDE with its PyTorch backend (the only backend pdekit bridges)."""
    os.environ.setdefault("DDE_BACKEND", "pytorch")
    import deepxde as dde

    if dde.backend.backend_name != "pytorch":
        raise RuntimeError(f"DeepXDE runs on {dde.backend.backend_name!r}; set DDE_BACKEND=pytorch before importing it")
    return dde


def _geometry(dde, problem: Problem):
    g = problem.geometry
    if isinstance(g, Interval):
        space = dde.geometry.Interval(float(g.lower[0]), float(g.upper[0]))
    elif isinstance(g, Rectangle):
        space = dde.geometry.Rectangle(g.lower.tolist(), g.upper.tolist())
    elif isinstance(g, Box):
        space = dde.geometry.Cuboid(g.lower.tolist(), g.upper.tolist())
    elif isinstance(g, Disk):
        space = dde.geometry.Disk(g.center.tolist(), g.radius)
    elif isinstance(g, Polygon):
        space = dde.geometry.Polygon(g.vertices.tolist())
    else:
        raise ValueError(f"no DeepXDE geometry for {type(g).__name__}")
    if not problem.is_evolution:
        return space
    return dde.geometry.GeometryXTime(space, dde.geometry.TimeDomain(problem.time.t0, problem.time.t1))


def _where(problem: Problem, on):
    """DeepXDE's per-point boundary filter for pdekit's ``on``."""
    d = problem.dim
    if on is None:
        return lambda x, on_boundary: on_boundary
    if callable(on):
        return lambda x, on_boundary: on_boundary and bool(np.asarray(on(x[:d, None]))[0])
    markers = [problem.geometry.side_marker(name) for name in ((on,) if isinstance(on, str) else on)]
    return lambda x, on_boundary: on_boundary and any(bool(m(x[:d, None])[0]) for m in markers)


def _values(problem: Problem, value, component):
    def function(x):
        xs, t = problem.split_points(x)
        result = problem.value_of(value, xs, t)
        if not np.isscalar(result) and np.ndim(result) > 1 or isinstance(result, (list, tuple)):
            result = result[component]
        return np.broadcast_to(np.asarray(result, dtype=float), (len(x),))[:, None]

    return function


def to_deepxde(problem: Problem, num_domain: int, num_boundary: int = 0, num_initial: int = 0, **kwargs):
    """A ``deepxde.data.PDE``/``TimePDE`` equivalent to ``problem``.

    The residual is pdekit's own (nested autograd), so both libraries solve the same equation.
    Extra keyword arguments go to DeepXDE's data class (``num_test``, ``train_distribution``...).
    """
    dde = deepxde()
    geometry = _geometry(dde, problem)
    components = problem.n_components
    conditions = []
    for c in problem.conditions:
        if isinstance(c, Periodic):
            for component in range(components):
                sides = problem.geometry.sides[2 * c.axis : 2 * c.axis + 2]
                conditions.append(dde.icbc.PeriodicBC(geometry, c.axis, _where(problem, sides), component=component))
            continue
        span = range(components)[problem.component_slice(getattr(c, "field", None))]
        for k, component in enumerate(span):
            if isinstance(c, Dirichlet):
                conditions.append(dde.icbc.DirichletBC(geometry, _values(problem, c.value, k), _where(problem, c.on),
                                                       component=component))
            elif isinstance(c, Neumann):
                conditions.append(dde.icbc.OperatorBC(geometry, _neumann(problem, c, component, geometry),
                                                      _where(problem, c.on)))
            elif isinstance(c, Initial) and c.derivative == 0:
                conditions.append(dde.icbc.IC(geometry, _values(problem, c.value, k), lambda _, on_initial: on_initial,
                                              component=component))
            elif isinstance(c, Initial):
                conditions.append(dde.icbc.OperatorBC(geometry, _initial_rate(problem, c, k, component),
                                                      lambda x, _: np.isclose(x[-1], problem.time.t0)))

    def pde(x, y):
        return residual_of_values(problem, x, y)

    if problem.is_evolution:
        return dde.data.TimePDE(geometry, pde, conditions, num_domain=num_domain, num_boundary=num_boundary,
                                num_initial=num_initial, **kwargs)
    return dde.data.PDE(geometry, pde, conditions, num_domain=num_domain, num_boundary=num_boundary, **kwargs)


def _neumann(problem, condition, component, geometry):
    import torch

    d, n = problem.dim, problem.n_components

    def operator(x, y, X):
        grads = torch.stack([torch.autograd.grad(y[:, i].sum(), x, create_graph=True)[0] for i in range(n)], dim=1)
        xs, t = problem.split_points(x)
        u = y[:, 0] if n == 1 else y.T
        du = grads[:, 0, :d].T if n == 1 else grads[:, :, :d].permute(1, 2, 0)
        row = flux_rows(problem.equation.flux(u, du, xs, t, problem.p), n, d)[component]
        normals = torch.as_tensor(geometry.boundary_normal(X)[:, :d], dtype=x.dtype)
        target = torch.as_tensor(_values(problem, condition.value, 0)(X)[:, 0], dtype=x.dtype)
        return (-sum(row[j] * normals[:, j] for j in range(d)) - target)[:, None]

    return operator


def _initial_rate(problem, condition, k, component):
    import torch

    def operator(x, y, X):
        rate = torch.autograd.grad(y[:, component].sum(), x, create_graph=True)[0][:, -1]
        target = torch.as_tensor(_values(problem, condition.value, k)(X)[:, 0], dtype=x.dtype)
        return (rate - target)[:, None]

    return operator
