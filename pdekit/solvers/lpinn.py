"""Lagrangian PINNs (Mojgani, Balajewicz, Hassanzadeh 2023) for 1D transport problems.

A PINN on ``u_t + beta u_x = 0`` fails for large ``beta`` (Krishnapriyan et al. 2021): the
solution is a travelling wave the network must fit in space-time.  LPINN trains in the frame
that moves with the characteristics instead.  Two branches over the labels ``(x0, t)``:

- the characteristic ``X(x0, t)`` with ``dX/dt = c`` and ``X(x0, t0) = x0``;
- the state ``u(x0, t) = u(X(x0, t), t)`` with ``du/dt = (S - div F) / c1 + c u_x``, which is
  the Problem's own equation seen along the curve (for pure transport: ``du/dt = S``).

Everything is derived from the Problem's flux ``F(u, u_x) = f(u) - D(u) u_x``: the speed is
``c = dF/du`` (at ``u_x = 0``) and ``div F`` is the Eulerian divergence, with ``u_x`` and
``u_xx`` taken through the map ``X`` by the chain rule (not second derivatives in the label,
which are exact only for constant speed).  The initial conditions are hard constraints.  The
Solution answers at Eulerian points by inverting ``X(., t)`` (bisection on the monotone map).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .. import math as pm
from ..derivatives import Jet, coordinate_jets
from ..derivatives.forward import flux_divergence, jets_to_stack, output_jets, propagate
from ..options import with_options
from ..problem import Dirichlet, Initial, Problem
from ..problem.equation import flux_rows, source_rows
from ..results import FunctionSolution
from .models import MLP, parameter_count
from .pinn import boundary_targets
from .training import TrainingConfig, predictor, reference_error, resolve_device, resolve_dtype, seeded, train

__all__ = ["LPINN", "LPINNConfig", "LagrangianModel", "transport_coefficients", "eulerian_derivatives",
           "check_lagrangian"]

RESAMPLING = ("none", "uniform")
LABEL_PAIRS = ((0, 0),)  # second derivatives in the label x0 (index 0); time is index 1


# -- the equation seen along characteristics -------------------------------------------------
def _flux(problem: Problem, u, grad, x, t):
    return flux_rows(problem.equation.flux(u, [grad], [x], t, problem.p), 1, 1)[0][0]


def _slot(value, like: torch.Tensor, slot: int) -> torch.Tensor:
    return value.grad[:, slot] if isinstance(value, Jet) else torch.zeros_like(like)


def transport_coefficients(problem: Problem, u, x, t=None, grad=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Speed ``dF/du`` and diffusion ``-dF/du_x`` of a 1D scalar flux at states ``u``.

    The speed is taken at ``u_x = grad`` (default 0: the advective part ``f'(u)``); for a flux
    ``f(u) - D(u) u_x`` the diffusion is ``D(u)``.  Tensors keep their dtype and graph
    (training uses this); other inputs are converted to float64 tensors.
    """
    u = u if isinstance(u, torch.Tensor) else torch.tensor(np.array(u, dtype=float))
    x = torch.as_tensor(x, dtype=u.dtype, device=u.device).expand_as(u)
    grad = torch.zeros_like(u) if grad is None else torch.as_tensor(grad, dtype=u.dtype).expand_as(u)
    flux = _flux(problem, Jet.variable(u, 0, 2, second_order=False), Jet.variable(grad, 1, 2, second_order=False),
                 x, t)
    return _slot(flux, u, 0), -_slot(flux, u, 1)


def check_lagrangian(problem: Problem) -> None:
    """Raise a ValueError saying why LPINN does not apply to ``problem``, if it does not."""
    why = None
    if not problem.is_evolution:
        why = "it is steady: there is no time to follow characteristics in"
    elif problem.dim != 1 or problem.n_components != 1:
        why = (f"it has {problem.dim} space dimension(s) and {problem.n_components} component(s); this LPINN "
               "covers scalar 1D transport, where the characteristic map is inverted monotonically")
    elif problem.equation.second_time_coefficient:
        why = "it is second order in time (a wave equation has two families of characteristics)"
    elif problem.equation.flux is None:
        why = "it has no flux (write it in divergence form; a hand-written weak form is not differentiable here)"
    elif not _affine_in_gradient(problem):
        why = ("its flux is not of the form F = f(u) - D(u) u_x (it is nonlinear in u_x), so it has no "
               "characteristic speed and diffusion coefficient")
    elif not problem.periodic_axes:
        why = _boundary_problem(problem)
    if why is not None:
        raise ValueError(f"LPINN does not apply to {problem.name}: {why}")


def _affine_in_gradient(problem: Problem) -> bool:
    rng = np.random.default_rng(0)
    u, g = (torch.as_tensor(rng.uniform(-2, 2, 64)) for _ in range(2))
    x = torch.as_tensor(rng.uniform(problem.geometry.lower[0], problem.geometry.upper[0], 64))
    t = torch.as_tensor(rng.uniform(problem.time.t0, problem.time.t1, 64))
    pairs = ((1, 1),)
    flux = _flux(problem, Jet.variable(u, 0, 2, pairs), Jet.variable(g, 1, 2, pairs), x, t)
    return not isinstance(flux, Jet) or bool(torch.all(flux.hess.abs() < 1e-10))


def _boundary_problem(problem: Problem) -> str | None:
    """Non-periodic ends must be characteristics themselves: Dirichlet data with zero speed."""
    for t in np.linspace(problem.time.t0, problem.time.t1, 5):
        ends = problem.geometry.sample_boundary(2)
        ends = dataclasses.replace(ends, points=np.column_stack([ends.points, [t, t]]))
        target, mask = boundary_targets(problem, ends, problem.conditions_of(Dirichlet))
        if not mask.all():
            return "it needs periodic ends or Dirichlet conditions at both ends"
        speed, _ = transport_coefficients(problem, target[:, 0], ends.points[:, 0], torch.full((2,), t))
        if torch.any(speed.abs() > 1e-10):
            return ("the transport speed at a Dirichlet end is not zero, so characteristics enter or leave the "
                    "domain there; this LPINN needs periodic ends or ends that are characteristics")
    return None


def eulerian_derivatives(u: Jet, X: Jet) -> tuple[torch.Tensor, torch.Tensor]:
    """``u_x`` and ``u_xx`` of ``u(x0, t) = U(X(x0, t), t)`` from jets in the label ``x0``.

    ``u_x = u_x0 / X_x0`` and ``u_xx = (u_x0x0 - u_x X_x0x0) / X_x0^2`` (chain rule through
    the map); the jets hold the label derivative in slot 0 and ``(0, 0)`` among their pairs.
    """
    k = u.pairs.index((0, 0))
    slope = X.grad[:, 0]
    u_x = u.grad[:, 0] / slope
    u_xx = (u.hess[:, k] - u_x * X.hess[:, k]) / slope**2
    return u_x, u_xx


# -- the model --------------------------------------------------------------------------------
class LagrangianModel(nn.Module):
    """Two MLP branches over labels ``(x0, t)``: the state and the characteristic.

    Labels are mapped to ``[-1, 1]``; a periodic label enters as ``cos``/``sin`` of its phase,
    so both branches are periodic in ``x0`` and ``X - x0`` is too.
    """

    def __init__(self, lower: float, upper: float, t0: float, t1: float, periodic: bool, width: int = 32,
                 depth: int = 4, activation: str = "tanh"):
        super().__init__()
        self.lower, self.upper, self.t0, self.t1, self.periodic = lower, upper, t0, t1, periodic
        inputs = 3 if periodic else 2
        self.state = MLP(inputs, 1, width, depth, activation)
        self.characteristic = MLP(inputs, 1, width, depth, activation)
        for branch in (self.state, self.characteristic):  # start from the hard constraints alone
            nn.init.zeros_(branch.output.weight)

    def features(self, x0, t) -> list:
        """The branch inputs as functions of the labels (tensors or jets)."""
        tau = (t - self.t0) * (2 / (self.t1 - self.t0)) - 1
        if self.periodic:
            phase = (x0 - self.lower) * (2 * pm.pi / (self.upper - self.lower))
            return [pm.cos(phase), pm.sin(phase), tau]
        return [(x0 - self.lower) * (2 / (self.upper - self.lower)) - 1, tau]

    def jets(self, labels: torch.Tensor, pairs=LABEL_PAIRS) -> tuple[Jet, Jet]:
        """Raw branch outputs as jets over ``(x0, t)`` (first and ``pairs`` second derivatives)."""
        x0, t = coordinate_jets(labels, pairs)
        stack = jets_to_stack(self.features(x0, t))
        (state,) = output_jets(propagate(stack, self.state.ops(), 2, pairs), pairs)
        (curve,) = output_jets(propagate(stack, self.characteristic.ops(), 2, pairs), pairs)
        return state, curve

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        inputs = torch.stack(self.features(labels[:, 0], labels[:, 1]), dim=1)
        return torch.cat([self.state(inputs), self.characteristic(inputs)], dim=1)


# -- the method -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LPINNConfig(TrainingConfig):
    """Settings of an LPINN run (every field can be given as ``--option NAME=VALUE``).

    Besides the training fields of :class:`~pdekit.solvers.training.TrainingConfig`:

    Args:
        width, depth, activation: each branch's MLP.
        n_interior, n_boundary: label points ``(x0, t)`` and points on the ends per batch.
        sampling: ``uniform``, ``sobol`` or ``grid``; resample: ``none`` or ``uniform``
            (fresh points every ``resample_every`` steps).
        weight_state, weight_characteristic, weight_boundary: loss weights.
        initial_speed: build the initial speed into the map, ``X = x0 + (t - t0)(c0(x0) + net)``
            with ``c0`` the speed of the initial data, so the branch learns a correction; with
            ``False`` the branch learns the whole displacement as in the paper.
    """

    width: int = 32
    depth: int = 4
    activation: str = "tanh"
    n_interior: int = 4096
    n_boundary: int = 128
    sampling: str = "uniform"
    resample: str = "none"
    resample_every: int = 1000
    weight_state: float = 1.0
    weight_characteristic: float = 1.0
    weight_boundary: float = 1.0
    initial_speed: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.resample not in RESAMPLING:
            raise ValueError(f"unknown resampling {self.resample!r}; valid choices: {', '.join(RESAMPLING)}")


class _Lagrangian:
    """Hard-constrained fields and loss terms of the Lagrangian formulation of one Problem."""

    def __init__(self, problem: Problem, model: LagrangianModel, config: LPINNConfig):
        self.problem, self.model, self.config = problem, model, config
        self.initial = next(c for c in problem.conditions_of(Initial) if c.derivative == 0)
        self.t0, self.t1 = problem.time.t0, problem.time.t1
        self.scale = self._speed_scale()

    def _speed_scale(self) -> float:
        """The map branch's unit: the largest initial speed, at least domain length over duration."""
        problem = self.problem
        x = problem.sample_initial(256, "grid")[:, 0]
        u0 = np.broadcast_to(np.asarray(problem.value_of(self.initial.value, [x], self.t0), dtype=float), x.shape)
        speed, _ = transport_coefficients(problem, u0, x, self.t0)
        length = float(problem.geometry.upper[0] - problem.geometry.lower[0])
        return max(length / (self.t1 - self.t0), float(speed.abs().max()))

    def _initial_speed(self, u0, x0):
        """The speed of the initial data at the label, a central difference of the flux in ``u``.

        It is only the start of the map (the branch learns the rest), so the difference
        quotient (exact for fluxes up to quadratic) is enough, and it differentiates as a jet.
        """
        if not self.config.initial_speed:
            return 0.0
        h = 0.1
        zero = torch.zeros_like(x0.value if isinstance(x0, Jet) else x0)
        return (_flux(self.problem, u0 + h, zero, x0, self.t0) - _flux(self.problem, u0 - h, zero, x0, self.t0)) / (2 * h)

    def fields(self, x0, t, raw_state, raw_curve):
        """``u = u0(x0) + (t - t0) net_u`` and ``X = x0 + (t - t0) (c0(x0) + s net_X)``, ``s`` the speed scale."""
        u0 = self.problem.value_of(self.initial.value, [x0], self.t0)
        elapsed = t - self.t0
        return u0 + elapsed * raw_state, x0 + elapsed * (self._initial_speed(u0, x0) + self.scale * raw_curve)

    def values(self, labels: torch.Tensor) -> torch.Tensor:
        """``(N, 2)``: the state and the characteristic at the labels."""
        raw = self.model(labels)
        u, X = self.fields(labels[:, 0], labels[:, 1], raw[:, 0], raw[:, 1])
        return torch.stack([u, X], dim=1)

    def residuals(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Residuals of ``dX/dt = c`` and of the Problem's equation along the curves."""
        problem, eq = self.problem, self.problem.equation
        x0, t = coordinate_jets(labels, LABEL_PAIRS)
        u, X = self.fields(x0, t, *self.model.jets(labels))
        time = labels[:, 1]
        speed = transport_coefficients(problem, u.value, X.value, time)[0] / problem.time_coefficients[0]
        u_x, u_xx = eulerian_derivatives(u, X)
        rate = -flux_divergence(problem, [Jet(u.value, u_x[:, None], u_xx[:, None], ((0, 0),))], [X.value], time)[0]
        if eq.source is not None:
            rate = rate + source_rows(eq.source(u.value, u_x[None], [X.value], time, problem.p), 1)[0]
        return X.grad[:, 1] - speed, u.grad[:, 1] - (rate / problem.time_coefficients[0] + speed * u_x)

    def __call__(self, batch: dict) -> dict:
        characteristic, state = self.residuals(batch["interior"])
        terms = {"characteristic": characteristic.square().mean(), "state": state.square().mean()}
        if "boundary" in batch:
            terms["boundary"] = (self.values(batch["boundary"]) - batch["boundary_targets"]).square().mean()
        return terms

    # -- Eulerian evaluation ----------------------------------------------------------------
    def locate(self, x: torch.Tensor, t: torch.Tensor, iterations: int = 50) -> torch.Tensor:
        """The labels ``x0`` with ``X(x0, t) = x`` (modulo the period), by bisection.

        ``X(., t)`` is monotone while characteristics do not cross; bisection then finds the
        one root to the dtype's precision whatever the speed.
        """
        lower, upper = float(self.problem.geometry.lower[0]), float(self.problem.geometry.upper[0])
        lo, hi = torch.full_like(x, lower), torch.full_like(x, upper)
        if self.problem.periodic_axes:  # X(a, t) <= x' < X(a, t) + L, then X(x0, t) = x' has one root
            start = self.values(torch.stack([lo, t], dim=1))[:, 1]
            x = start + torch.remainder(x - start, upper - lower)
        for _ in range(iterations):
            middle = (lo + hi) / 2
            below = self.values(torch.stack([middle, t], dim=1))[:, 1] < x
            lo, hi = torch.where(below, middle, lo), torch.where(below, hi, middle)
        return (lo + hi) / 2

    def eulerian(self, points: torch.Tensor) -> torch.Tensor:
        """The state at Eulerian points ``(x, t)``: ``u(x0(x, t), t)``."""
        x0 = self.locate(points[:, 0], points[:, 1])
        return self.values(torch.stack([x0, points[:, 1]], dim=1))[:, :1]


class _Labels:
    """Label points ``(x0, t)`` and, for Dirichlet ends, boundary labels with their targets."""

    def __init__(self, problem: Problem, config: LPINNConfig, dtype, device):
        self.problem, self.config, self.dtype, self.device = problem, config, dtype, device

    def _tensor(self, array):
        return torch.as_tensor(np.asarray(array, dtype=float), dtype=self.dtype, device=self.device)

    def __call__(self, step: int) -> dict:
        c, problem = self.config, self.problem
        if c.resample == "none":
            step = 0
        seed = int(seeded(c.seed, step).integers(2**31))
        batch = {"interior": self._tensor(problem.sample_interior(c.n_interior, c.sampling if step == 0 else "uniform",
                                                                  seed))}
        if not problem.periodic_axes:
            ends = problem.sample_boundary(c.n_boundary, c.sampling, seed + 1)
            target, _ = boundary_targets(problem, ends, problem.conditions_of(Dirichlet))
            batch["boundary"] = self._tensor(ends.points)
            batch["boundary_targets"] = self._tensor(np.column_stack([target[:, 0], ends.points[:, 0]]))
        return batch


class LPINN:
    """Lagrangian PINN solver for scalar 1D transport problems (see the module docstring).

    Example::

        solution = LPINN(adam_steps=3000).solve(pdekit.get_case("convection1d", beta=50))
    """

    name = "lpinn"

    def __init__(self, config: LPINNConfig | None = None, **options):
        self.config = with_options(config, options, "LPINN") if config is not None else LPINNConfig.from_options(**options)
        self.history = None

    def build(self, problem: Problem):
        """The two-branch model, its loss terms and the label sampler (exposed for benchmarks)."""
        check_lagrangian(problem)
        c = self.config
        dtype, device = resolve_dtype(c.dtype), resolve_device(c.device)
        torch.manual_seed(c.seed)
        geometry = problem.geometry
        model = LagrangianModel(float(geometry.lower[0]), float(geometry.upper[0]), problem.time.t0, problem.time.t1,
                                bool(problem.periodic_axes), c.width, c.depth, c.activation).to(device=device, dtype=dtype)
        return model, _Lagrangian(problem, model, c), _Labels(problem, c, dtype, device)

    def solve(self, problem: Problem, *, reference=None, checkpoint=None, resume: bool = False) -> FunctionSolution:
        """Train on ``problem``; the Solution answers at Eulerian points ``(x, t)``.

        Args:
            reference: optional Solution or xarray Dataset to log the error against.
            checkpoint: file for checkpoints (written atomically every ``checkpoint_every``).
            resume: continue from ``checkpoint`` if it exists (bit-for-bit on CPU).
        """
        c = self.config
        model, lagrangian, labels = self.build(problem)
        weights = {"state": c.weight_state, "characteristic": c.weight_characteristic, "boundary": c.weight_boundary}
        predict = predictor(lagrangian.eulerian, 1, labels.dtype, labels.device)
        trainer = train(model, lagrangian, weights, labels, c, resample_every=c.resample_every if c.resample != "none" else 0,
                        evaluate=reference_error(reference, problem, predict) if reference is not None else None,
                        checkpoint=checkpoint, resume=resume, describe=f"{problem.name} {self.name}")
        self.history = trainer.history
        characteristics = _characteristics(lagrangian, labels)
        config = {**dataclasses.asdict(c), "parameters": parameter_count(model), "compiled": trainer.compiled,
                  "steps": trainer.step, "min_map_slope": _min_slope(problem, characteristics)}
        solution = FunctionSolution(problem, predict, self.name, config, trainer.elapsed)
        solution.history, solution.model, solution.characteristics = trainer.history, model, characteristics
        return solution


def _characteristics(lagrangian: _Lagrangian, labels: _Labels):
    """``characteristics(x0, t) -> X`` of shape ``(len(t), len(x0))``: the learnt curves."""

    def characteristics(x0, t) -> np.ndarray:
        x0, t = np.asarray(x0, dtype=float), np.asarray(t, dtype=float)
        grid = np.stack(np.meshgrid(x0, t), axis=-1).reshape(-1, 2)
        with torch.no_grad():
            X = lagrangian.values(labels._tensor(grid))[:, 1]
        return X.double().cpu().numpy().reshape(len(t), len(x0))

    return characteristics


def _min_slope(problem: Problem, characteristics) -> float:
    """The smallest ``dX/dx0`` on a grid, relative to 1: positive while the map is invertible."""
    x0 = np.linspace(problem.geometry.lower[0], problem.geometry.upper[0], 513)
    X = characteristics(x0, np.linspace(problem.time.t0, problem.time.t1, 41))
    return float((np.diff(X, axis=1) / np.diff(x0)).min())
