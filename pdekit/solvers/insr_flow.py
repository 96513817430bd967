"""Incompressible flow with INSR: the operator splitting of Chen et al. (2023)'s fluid examples.

``u_t + (u . grad) u + grad p = nu laplace u``, ``div u = 0`` on a periodic box, with a velocity
network and a pressure network of space.  Each step from ``u_n`` and ``p_n`` (frozen copies) fits

1. advection and viscosity along the characteristic, whose departure point ``x_d`` the
   semi-Lagrangian :func:`backtrace` gives (Crank-Nicolson in the viscosity and the trapezoidal
   rule in the old pressure gradient along the path)::

       u* - dt nu / 2 laplace u* = u_n(x_d) + dt nu / 2 (laplace u_n)(x_d) - dt / 2 (grad p_n(x) + grad p_n(x_d))

2. pressure (incremental): ``laplace p_n+1 = laplace p_n + div u* / dt`` with zero mean;
3. projection: ``u_n+1 = u* - dt grad (p_n+1 - p_n)``.

With the old pressure in step 1 the splitting is second order in ``dt``; without it (Chorin's
projection, ``laplace p = div u* / dt``, implicit Euler viscosity) it is first order.  A spectral
version of the stages (exact spatial fields, so only the time discretisation errs) on the
Taylor-Green vortex gives a relative velocity error at t = 1 of 1.9e-2 (dt = 0.1) and 9.5e-3
(dt = 0.05) for Chorin's form, 1.8e-3 and 4.4e-4 for this one.

The splitting is written for these equations (unit density); it does not read the Problem's
flux, only its structure (:func:`flow_fields`), its ``nu``, initial velocity and box.  The
networks see ``cos`` and ``sin`` of ``k`` times the periodic angles along the axes and diagonals
(:class:`PeriodicMLP`), so they are periodic by construction and need no boundary terms.  At ``t0`` the velocity is fitted to the
initial value and the pressure to ``laplace p = -sum_ij d_i u_j d_j u_i`` (the pressure of a
divergence-free velocity).  Each stage is minimised by :class:`~pdekit.solvers.training.Minimiser`;
``INSR.solve`` runs the stepper with its point batches, checkpoints and Solution (velocity and
pressure in the Problem's component order).
"""

from __future__ import annotations

import copy
import itertools
import math

import torch
from torch import nn

from ..derivatives import network_jets
from ..problem import Dirichlet, Neumann, Problem
from .training import Minimiser

__all__ = ["backtrace", "PeriodicMLP", "FlowField", "Splitting", "flow_fields"]

FREQUENCIES = 2  # embedding harmonics per direction: cos(k a.theta), sin(k a.theta) for k = 1, 2


def backtrace(points, velocity, dt: float, period, lower=0.0):
    """Departure points ``(N, d)`` of the characteristics that reach ``points`` after ``dt``.

    The midpoint rule (second order in ``dt``) through the frozen ``velocity`` (``(N, d)`` points
    to ``(N, d)`` values): ``x_d = x - dt u(x - dt / 2 u(x))``, wrapped into the periodic box
    ``[lower, lower + period)``.  Works on torch tensors and NumPy arrays.
    """
    midpoint = points - 0.5 * dt * velocity(points)
    return lower + (points - dt * velocity(midpoint) - lower) % period


class PeriodicMLP(nn.Module):
    """An MLP of periodic features, so its field is periodic on the box ``[lower, upper]`` exactly.

    Features: ``sin`` and ``cos`` of ``k (a . theta)``, ``theta_j = 2 pi (x_j - lower_j) / L_j``,
    ``k = 1..frequencies``, ``a`` the axes and diagonals (entries -1, 0, 1, first nonzero 1); then ``depth`` hidden layers of ``width`` with ``activation``
    (``tanh`` or ``sin``), Glorot-normal weights, zero biases.
    """

    def __init__(self, lower, upper, out_dim: int, width: int = 20, depth: int = 3, activation: str = "tanh",
                 frequencies: int = FREQUENCIES, dtype=None):
        super().__init__()
        if activation not in ("tanh", "sin"):
            raise ValueError(f"unknown activation {activation!r}; valid activations: tanh, sin")
        dtype = dtype or torch.get_default_dtype()  # built in it: 2 pi in float32 would break periodicity in float64
        lower, upper = (torch.as_tensor(v, dtype=dtype) for v in (lower, upper))
        d = len(lower)
        self.activation = activation
        self.register_buffer("shift", lower)
        self.register_buffer("scale", (upper - lower) / (2 * math.pi))
        # directions in {-1, 0, 1}^d with first nonzero entry 1 (axes and diagonals), times 1..frequencies:
        # the diagonals give products such as cos x sin y directly, not only through the hidden layers
        directions = [v for v in itertools.product((-1, 0, 1), repeat=d) if any(v) and v[next(i for i, e in enumerate(v) if e)] == 1]
        harmonics = torch.arange(1, frequencies + 1, dtype=lower.dtype)
        self.register_buffer("harmonics", torch.kron(harmonics[:, None], torch.tensor(directions, dtype=lower.dtype)))
        sizes = [2 * len(self.harmonics)] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes, sizes[1:]))
        self.output = nn.Linear(width, out_dim, dtype=dtype)
        for layer in [*self.hidden, self.output]:
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        h = ((points - self.shift) / self.scale) @ self.harmonics.T
        h = torch.cat([torch.sin(h), torch.cos(h)], dim=1)
        act = torch.tanh if self.activation == "tanh" else torch.sin
        for layer in self.hidden:
            h = act(layer(h))
        return self.output(h)

    def ops(self) -> list[tuple]:
        """The computation as primitive operations, for forward derivative propagation."""
        ops = [("affine", self.shift, self.scale), ("linear", self.harmonics, None), ("sincos",)]
        for layer in self.hidden:
            ops += [("linear", layer.weight, layer.bias), ("activation", self.activation)]
        return ops + [("linear", self.output.weight, self.output.bias)]


class FlowField(nn.Module):
    """The velocity and pressure networks as one model: ``(N, d)`` points to ``(N, d + 1)`` values
    in the Problem's component order (what INSR saves and its Solution evaluates)."""

    def __init__(self, velocity: nn.Module, pressure: nn.Module, order):
        super().__init__()
        self.velocity, self.pressure = velocity, pressure
        self.register_buffer("order", torch.as_tensor(order, dtype=torch.long), persistent=False)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.velocity(points), self.pressure(points)], dim=1)[:, self.order]


def flow_fields(problem: Problem) -> tuple[slice, slice]:
    """The component slices of velocity and pressure; a ValueError saying what is missing otherwise."""
    d, c1 = problem.dim, problem.time_coefficients
    velocity = pressure = None
    for f in problem.fields:
        part = problem.component_slice(f.name)
        coefficients = c1[part]
        if f.components == d and all(coefficients) and velocity is None:
            velocity = part
        elif f.components == 1 and coefficients == (0.0,) and pressure is None:
            pressure = part
    missing = [what for what, ok in (
        ("an evolution problem", problem.is_evolution),
        (f"a velocity field of {d} components with a time derivative", velocity is not None),
        ("a pressure field (one component, time_coefficient 0)", pressure is not None),
        ("a parameter nu (the viscosity)", "nu" in problem.params),
        (f"Periodic on every axis (0 to {d - 1})", set(problem.periodic_axes) == set(range(d))),
        ("no Dirichlet or Neumann conditions", not problem.conditions_of(Dirichlet) + problem.conditions_of(Neumann)),
        ("exactly the velocity and pressure fields", len(problem.fields) == 2),
    ) if not ok]
    if missing:
        raise ValueError(f"integrator='splitting' solves incompressible Navier-Stokes on a periodic box; "
                         f"{problem.name!r} lacks: {'; '.join(missing)} (see the taylor_green case)")
    return velocity, pressure


def _jets(network, x: torch.Tensor, laplacian: bool = False):
    """Values ``(N, k)``, gradients ``(N, k, d)`` (``[n, i, j] = d u_i / d x_j``) and, if asked,
    Laplacians ``(N, k)`` of ``network`` at ``x`` by forward propagation."""
    d = x.shape[1]
    pairs = tuple((j, j) for j in range(d)) if laplacian else ()
    stack = network_jets(network.ops(), x, pairs)
    value, grad = stack[:, 0].T, stack[:, 1 : 1 + d].permute(2, 0, 1)
    return value, grad, (stack[:, 1 + d :].sum(dim=1).T if laplacian else None)


class Splitting:
    """The stepper of ``integrator="splitting"`` (see the module docstring); ``INSR.solve`` runs it
    with ``config``, its :class:`~pdekit.solvers.insr.INSRConfig`."""

    def __init__(self, problem: Problem, config, dtype, device, dt: float):
        self.velocity_part, self.pressure_part = flow_fields(problem)
        self.config, self.dt, self.nu = config, dt, float(problem.p.nu)
        lower, upper = problem.geometry.lower, problem.geometry.upper
        self.lower = torch.as_tensor(lower, dtype=dtype, device=device)
        self.period = torch.as_tensor(upper, dtype=dtype, device=device) - self.lower
        activation = "sin" if config.model == "siren" else config.activation  # omega0 is not used here
        torch.manual_seed(config.seed)
        network = lambda out: PeriodicMLP(lower, upper, out, config.width, config.depth, activation,  # noqa: E731
                                          dtype=dtype)
        self.velocity, self.pressure = network(problem.dim), network(1)
        start, stop = self.velocity_part.start, self.velocity_part.stop
        order = [c - start if start <= c < stop else problem.dim for c in range(problem.n_components)]
        self.model = FlowField(self.velocity, self.pressure, order).to(device=device, dtype=dtype)
        self.u_old = copy.deepcopy(self.velocity).requires_grad_(False)  # u_n
        self.u_star = copy.deepcopy(self.velocity).requires_grad_(False)  # after advection and viscosity
        self.p_old = copy.deepcopy(self.pressure).requires_grad_(False)  # p_n
        fit_u, fit_p = Minimiser(self.velocity, config), Minimiser(self.pressure, config)
        self.stages = {
            "fit": (fit_u, fit_u.weighted(self.initial_terms)),
            "fit_pressure": (fit_p, fit_p.weighted(lambda batch: self.poisson_terms(batch, self.initial_rhs))),
            "advection": (fit_u, fit_u.weighted(self.advection_terms)),
            "pressure": (fit_p, fit_p.weighted(lambda batch: self.poisson_terms(batch, self.projection_rhs))),
            "projection": (fit_u, fit_u.weighted(self.projection_terms)),
        }

    @property
    def compiled(self) -> bool:
        return self.stages["advection"][1].compiled

    # -- loss terms ------------------------------------------------------------------------------
    def initial_terms(self, batch: dict) -> dict:
        target = batch["initial"][:, self.velocity_part]
        return {"initial": (self.velocity(batch["interior"]) - target).square().mean()}

    def initial_rhs(self, x: torch.Tensor) -> torch.Tensor:
        """``-sum_ij d_i u_j d_j u_i`` of the fitted initial velocity: ``laplace p`` for ``div u = 0``."""
        _, grad, _ = _jets(self.velocity, x)
        return -torch.einsum("nij,nji->n", grad, grad)

    def projection_rhs(self, x: torch.Tensor) -> torch.Tensor:
        """``laplace p_n + div u* / dt``."""
        _, grad, _ = _jets(self.u_star, x)
        _, _, laplacian = _jets(self.p_old, x, laplacian=True)
        return laplacian[:, 0] + torch.diagonal(grad, dim1=1, dim2=2).sum(dim=1) / self.dt

    def poisson_terms(self, batch: dict, rhs_of) -> dict:
        """``|laplace p - rhs|^2`` and the squared mean of ``p`` (fixing the free constant)."""
        x = batch["interior"]
        with torch.no_grad():
            rhs = rhs_of(x)
        p, _, laplacian = _jets(self.pressure, x, laplacian=True)
        return {"poisson": (laplacian[:, 0] - rhs).square().mean(), "mean": p.mean().square()}

    def advection_terms(self, batch: dict) -> dict:
        """The squared residual of step 1 (module docstring) at the batch's points."""
        x, half = batch["interior"], 0.5 * self.dt
        with torch.no_grad():
            departure = backtrace(x, self.u_old, self.dt, self.period, self.lower)
            old, _, old_laplacian = _jets(self.u_old, departure, laplacian=True)
            pressure_path = _jets(self.p_old, x)[1][:, 0] + _jets(self.p_old, departure)[1][:, 0]
            target = old + half * self.nu * old_laplacian - half * pressure_path
        u, _, laplacian = _jets(self.velocity, x, laplacian=True)
        return {"advection": (u - half * self.nu * laplacian - target).square().mean()}

    def projection_terms(self, batch: dict) -> dict:
        """``|u - (u* - dt grad (p_n+1 - p_n))|^2``."""
        x = batch["interior"]
        with torch.no_grad():
            increment = _jets(self.pressure, x)[1][:, 0] - _jets(self.p_old, x)[1][:, 0]
            target = self.u_star(x) - self.dt * increment
        return {"projection": (self.velocity(x) - target).square().mean()}

    # -- stages ------------------------------------------------------------------------------------
    def _run(self, names, batch_of, iterations: int, lbfgs_iterations: int, describe: str,
             before=lambda name: None) -> dict:
        """Run the named stages in order; one row: summed loss and iterations, every stage's terms."""
        row = {"loss": 0.0, "iterations": 0}
        for name in names:
            before(name)
            minimiser, total = self.stages[name]
            done = minimiser.run(total, batch_of, iterations, lbfgs_iterations, f"{describe} {name}")
            row = {**row, **done, "loss": row["loss"] + done["loss"], "iterations": row["iterations"] + done["iterations"]}
        return row

    def fit(self, batch_of, describe: str) -> dict:
        c = self.config
        return self._run(("fit", "fit_pressure"), batch_of, c.init_iterations, c.init_lbfgs, describe)

    def advance(self, batch_of, describe: str) -> dict:
        def before(name):
            if name == "advection":
                self.u_old.load_state_dict(self.velocity.state_dict())
                self.p_old.load_state_dict(self.pressure.state_dict())
            elif name == "pressure":
                self.u_star.load_state_dict(self.velocity.state_dict())

        c = self.config
        return self._run(("advection", "pressure", "projection"), batch_of, c.iterations, c.lbfgs_iterations,
                         describe, before)
