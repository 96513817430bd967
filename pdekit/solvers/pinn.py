"""Physics-informed neural networks (Raissi et al. 2019) for any Problem.

The loss is the mean square of the strong-form residual at interior collocation points plus
the boundary and initial conditions at their points; the residual comes from the Problem's
equation through :mod:`pdekit.derivatives` (forward jets when the model supports them,
nested autograd otherwise).  Conditions may instead be built into the network by an output
transform (hard constraints, as DeepXDE's ``apply_output_transform``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import math as pm
from ..derivatives import (
    coordinate_jets,
    network_jets,
    output_jets,
    required_pairs,
    residual_from_jets,
    strong_residual,
)
from ..derivatives.jet import Jet
from ..options import with_options
from ..problem import Box, Dirichlet, Initial, Interval, Neumann, Periodic, Problem, Rectangle
from ..problem.equation import flux_rows
from ..results import FunctionSolution
from .models import build_model, parameter_count
from .training import TrainingConfig, predictor, reference_error, resolve_device, resolve_dtype, seeded, train

__all__ = ["PINN", "PINNConfig", "OutputTransform", "initial_dirichlet_transform", "initial_value_transform",
           "zero_dirichlet_transform"]


RESAMPLING = ("none", "uniform", "rad")
DERIVATIVES = ("auto", "forward", "autograd")
#: hard constraints by name (``hard_constraints`` option; the transforms are defined below)
HARD_CONSTRAINTS = ("none", "zero_dirichlet", "initial_dirichlet", "initial_value")


@dataclass(frozen=True)
class PINNConfig(TrainingConfig):
    """Settings of a PINN run (every field can be given as ``--option NAME=VALUE``).

    Besides the training fields of :class:`~pdekit.solvers.training.TrainingConfig`:

    Args:
        model, width, depth, activation, fourier_features, fourier_scale: the network.
        n_interior, n_boundary, n_initial: collocation points per set.
        sampling: ``uniform``, ``sobol`` or ``grid`` placement of the points.
        resample: ``none``, ``uniform`` (fresh points) or ``rad`` (residual-based adaptive
            distribution, Wu et al. 2023), every ``resample_every`` steps.
        weight_residual, weight_boundary, weight_initial: loss weights.
        derivatives: ``forward`` (jets, compiles), ``autograd`` (nested), or ``auto``.
        causal_tol, causal_chunks: causal training of evolution problems (Wang, Sankaran,
            Perdikaris 2024, "Respecting causality"): the interior points fall into
            ``causal_chunks`` equal time slabs, and slab ``i``'s mean square residual ``L_i`` is
            weighted by ``exp(-causal_tol * sum_{j<i} L_j)`` (no gradient through the weight),
            so later times train only once earlier ones are resolved.  ``0``: off.
        time_decay: a fixed weight ``exp(-time_decay * (t - t0))`` on the residual of evolution
            problems (weighted mean, so ``0``, off, is the plain mean).  Where errors grow in
            time, as ``exp(r t)`` away from an unstable state, a residual early on costs
            ``exp(2 r (T - t))`` more in the L2 error than late: ``time_decay = 2 r`` balances
            that.  Unlike ``causal_tol`` the objective does not move between L-BFGS iterations.
        hard_constraints: an output transform built from the problem by name (``zero_dirichlet``,
            ``initial_dirichlet``, ``initial_value``: :func:`zero_dirichlet_transform` and the
            others), so that a config file or the CLI can ask for one; ``none``: every condition
            is a loss term.  An ``output_transform`` given to the solver takes precedence.
    """

    model: str = "mlp"
    width: int = 20
    depth: int = 3
    activation: str = "tanh"
    fourier_features: int = 0
    fourier_scale: float = 1.0
    n_interior: int = 2540
    n_boundary: int = 80
    n_initial: int = 160
    sampling: str = "uniform"
    resample: str = "none"
    resample_every: int = 1000
    weight_residual: float = 1.0
    weight_boundary: float = 1.0
    weight_initial: float = 1.0
    derivatives: str = "auto"
    causal_tol: float = 0.0
    causal_chunks: int = 32
    time_decay: float = 0.0
    hard_constraints: str = "none"

    def __post_init__(self):
        super().__post_init__()
        if self.hard_constraints not in HARD_CONSTRAINTS:
            raise ValueError(f"unknown hard_constraints {self.hard_constraints!r}; valid choices: "
                             f"{', '.join(HARD_CONSTRAINTS)}")
        if self.causal_tol < 0 or self.causal_chunks < 1:
            raise ValueError(f"causal_tol must be >= 0 (0: off) and causal_chunks >= 1, got causal_tol="
                             f"{self.causal_tol}, causal_chunks={self.causal_chunks}")
        if self.time_decay < 0:
            raise ValueError(f"time_decay must be >= 0 (0: off), got {self.time_decay}")
        if self.time_decay and self.causal_tol:
            raise ValueError("causal_tol and time_decay both weight the residual along time; set one of them")
        if self.resample not in RESAMPLING:
            raise ValueError(f"unknown resampling {self.resample!r}; valid choices: {', '.join(RESAMPLING)}")
        if self.derivatives not in DERIVATIVES:
            raise ValueError(f"unknown derivatives path {self.derivatives!r}; valid choices: {', '.join(DERIVATIVES)}")


@dataclass(frozen=True)
class OutputTransform:
    """A hard constraint: ``u = function(x, t, net, p)`` satisfies some conditions exactly.

    ``function`` is written with :mod:`pdekit.math` (it runs on tensors and on derivative jets);
    ``x`` is component-first, ``t`` the time (``None`` when steady), ``net`` the raw network
    output (a scalar per point, or a list of components).  ``enforces`` names the condition
    kinds it satisfies (``"initial"``, ``"dirichlet"``), whose loss terms are then dropped.
    """

    function: Callable
    enforces: tuple = ("initial", "dirichlet")


def initial_dirichlet_transform(problem: Problem) -> OutputTransform:
    """``u = u0(x) + (t - t0) * phi(x) * net`` for a 1D evolution problem whose Dirichlet data
    are constant in time and agree with ``u0`` on the boundary; ``phi`` vanishes at the ends.

    This is the construction of DeepXDE's Allen-Cahn example.
    """
    if problem.dim != 1 or not problem.is_evolution or problem.n_components != 1:
        raise ValueError("initial_dirichlet_transform needs a scalar 1D evolution problem")
    initial = next(c for c in problem.conditions_of(Initial) if c.derivative == 0)
    a, b = float(problem.geometry.lower[0]), float(problem.geometry.upper[0])
    t0, half = problem.time.t0, (b - a) / 2
    ends = problem.geometry.sample_boundary(2)  # one point on each side, with the side names
    x_ends = ends.points.T
    start = np.broadcast_to(np.asarray(problem.value_of(initial.value, x_ends, t0), dtype=float), (2,))
    covered = np.zeros(2, dtype=bool)
    for condition in problem.conditions_of(Dirichlet):
        here = where_on(problem, condition.on, ends, x_ends)
        for t in np.linspace(t0, problem.time.t1, 5):
            value = np.broadcast_to(np.asarray(problem.value_of(condition.value, x_ends, t), dtype=float), (2,))
            if not np.allclose(value[here], start[here]):
                raise ValueError("initial_dirichlet_transform needs Dirichlet data constant in time and equal to "
                                 "the initial value at the ends")
        covered |= here
    if not covered.all():
        raise ValueError("initial_dirichlet_transform needs Dirichlet conditions at both ends of the interval")

    def function(x, t, net, p):
        u0 = problem.value_of(initial.value, x, t0)  # at t0: initial data may be written as a function of (x, t)
        return u0 + (t - t0) * ((x[0] - a) * (b - x[0]) / half**2) * net

    return OutputTransform(function)


def initial_value_transform(problem: Problem) -> OutputTransform:
    """``u = u0(x) + h(t - t0) v0(x) + ((t - t0) / T)^m net`` for a scalar evolution problem: the
    initial value ``u0`` (and, second order in time, the initial rate ``v0``, through
    ``h(s) = s exp(-s)``, which has ``h(0) = 0``, ``h'(0) = 1`` and stays bounded over long
    intervals) hold exactly; ``m`` is the order in time, ``T`` the interval's length."""
    if not problem.is_evolution or problem.n_components != 1:
        raise ValueError("initial_value_transform needs a scalar evolution problem")
    initial = {c.derivative: c.value for c in problem.conditions_of(Initial)}
    second = problem.equation.second_time_coefficient != 0
    t0, length = problem.time.t0, problem.time.t1 - problem.time.t0

    def function(x, t, net, p):
        s = t - t0
        u = problem.value_of(initial[0], x, t0) + (s / length) ** (2 if second else 1) * net  # data at t0
        return u + s * pm.exp(-s) * problem.value_of(initial[1], x, t0) if second else u

    return OutputTransform(function, enforces=("initial",))


def zero_dirichlet_transform(problem: Problem) -> OutputTransform:
    """``u = prod_a (1 - ((x_a - c_a) / h_a)^2) * net`` (centre ``c``, half-width ``h``) for a steady
    problem on an interval, rectangle or box whose every side carries ``u = 0``: the boundary
    conditions hold exactly, and only the residual is trained."""
    if problem.is_evolution or not isinstance(problem.geometry, (Interval, Rectangle, Box)):
        raise ValueError("zero_dirichlet_transform needs a steady problem on an Interval, Rectangle or Box, got "
                         f"{'an evolution problem' if problem.is_evolution else type(problem.geometry).__name__}")
    boundary = problem.geometry.sample_boundary(64 * problem.dim, "sobol", 0)
    target, mask = boundary_targets(problem, boundary, problem.conditions_of(Dirichlet))
    if not mask.all() or np.abs(target).max() > 1e-12:
        raise ValueError("zero_dirichlet_transform needs u = 0 (every component) on every side of the domain")
    centre = [float(lo + hi) / 2 for lo, hi in zip(problem.geometry.lower, problem.geometry.upper)]
    half = [float(hi - lo) / 2 for lo, hi in zip(problem.geometry.lower, problem.geometry.upper)]

    def unit(a, x):  # the coordinate mapped to [-1, 1]; no-op shifts and scalings are left out, as
        # torch 2.13's inductor miscompiles the backward of `(x - 0.0) ** 2` jets (CppCompileError)
        u = x[a] - centre[a] if centre[a] else x[a]
        return u / half[a] if half[a] != 1 else u

    def function(x, t, net, p):
        bubble = 1 - unit(0, x) ** 2
        for a in range(1, len(centre)):
            bubble = bubble * (1 - unit(a, x) ** 2)  # 0 on the sides
        return bubble * net if problem.n_components == 1 else [bubble * n for n in net]

    return OutputTransform(function, enforces=("dirichlet",))


class _Losses:
    """The PINN loss terms of one Problem, for a batch of points and targets."""

    def __init__(self, problem: Problem, model, config: PINNConfig, transform: OutputTransform | None):
        self.problem, self.model, self.transform = problem, model, transform
        for name in ("causal_tol", "time_decay"):
            if getattr(config, name) and not problem.is_evolution:
                raise ValueError(f"{name} weights the residual along time; {problem.name} is steady (use 0)")
        self.causal_tol, self.causal_chunks, self.time_decay = config.causal_tol, config.causal_chunks, config.time_decay
        enforced = transform.enforces if transform else ()
        self.active = {
            "dirichlet": bool(problem.conditions_of(Dirichlet)) and "dirichlet" not in enforced,
            "neumann": bool(problem.conditions_of(Neumann)),
            "periodic": bool(problem.conditions_of(Periodic)),
            "initial": problem.is_evolution and "initial" not in enforced,
            "initial_rate": (problem.is_evolution and problem.equation.second_time_coefficient != 0
                             and "initial" not in enforced),
        }
        self.pairs = required_pairs(problem)
        forward = hasattr(model, "ops")
        if config.derivatives == "forward" and not forward:
            raise ValueError(f"derivatives='forward' needs a model with ops(); {type(model).__name__} has none")
        self.forward = forward and config.derivatives != "autograd"

    # -- the network with its constraint --------------------------------------------------
    def _apply_transform(self, raw, x, t):
        if self.transform is None:
            return raw
        n = self.problem.n_components
        out = self.transform.function(x, t, raw[0] if n == 1 else raw, self.problem.p)
        return [out] if n == 1 else list(out)

    def values(self, points: torch.Tensor) -> torch.Tensor:
        """Plain evaluation ``(N, n)`` (no derivatives)."""
        raw = self.model(points)
        if self.transform is None:
            return raw
        x, t = self.problem.split_points(points)
        out = self._apply_transform([raw[:, c] for c in range(raw.shape[1])], x, t)
        return torch.stack([o * torch.ones_like(points[:, 0]) for o in out], dim=1)

    def jets(self, points: torch.Tensor, pairs=None) -> list[Jet]:
        """Jets of the (transformed) output at ``points``: second order for the residual's
        ``pairs`` (default), first order for ``pairs=()``."""
        pairs = self.pairs if pairs is None else pairs
        raw = output_jets(network_jets(self.model.ops(), points, pairs), pairs)
        if self.transform is None:
            return raw
        coords = coordinate_jets(points, pairs)
        d = self.problem.dim
        t = coords[d] if self.problem.is_evolution else None
        out = self._apply_transform(raw, coords[:d], t)
        return [o if isinstance(o, Jet) else raw[0]._lift(o) for o in out]

    # -- terms ----------------------------------------------------------------------------
    def __call__(self, batch: dict) -> dict:
        if self.forward:
            return self._forward_terms(batch)
        return self._autograd_terms(batch)

    def _forward_terms(self, batch):
        points, s = batch["points"], batch["slices"]
        interior = points[s["interior"]]
        residual = residual_from_jets(self.problem, self.jets(interior), interior)
        terms = {"residual": self._residual_loss(residual, interior)}
        rest = points[s["interior"].stop :]  # condition points: values, and gradients only where needed
        shift = s["interior"].stop
        local = lambda name: slice(s[name].start - shift, s[name].stop - shift)  # noqa: E731
        if self.active["neumann"] or self.active["initial_rate"]:
            jets = self.jets(rest, pairs=())
            values = torch.stack([j.value for j in jets], dim=1)
            grads = torch.stack([j.grad for j in jets], dim=1)  # (N, n, D)
        else:
            values, grads = self.values(rest), None
        return self._condition_terms(terms, batch, lambda name: values[local(name)], lambda name: grads[local(name)])

    def _autograd_terms(self, batch):
        points = batch["points"].detach().requires_grad_(True)
        s = batch["slices"]
        u = self.values(points)
        interior = points[s["interior"]]
        terms = {"residual": self._residual_loss(strong_residual(self.problem, self.values, interior), interior)}
        grads = None
        if self.active["neumann"] or self.active["initial_rate"]:
            grads = torch.stack([torch.autograd.grad(u[:, c].sum(), points, create_graph=True)[0]
                                 for c in range(u.shape[1])], dim=1)
        return self._condition_terms(terms, batch, lambda name: u[s[name]], lambda name: grads[s[name]])

    def _residual_loss(self, residual, points):
        """Mean square residual, its mean weighted by ``exp(-time_decay (t - t0))``, or its causally
        weighted mean over time slabs (``causal_tol``)."""
        square = residual.square().mean(dim=1)  # (N, n) -> (N,): plain mean unchanged
        if self.time_decay:
            weight = torch.exp(-self.time_decay * (points[:, -1].detach() - self.problem.time.t0))
            return (weight * square).sum() / weight.sum()
        if not self.causal_tol:
            return square.mean()
        t0, t1 = self.problem.time.t0, self.problem.time.t1
        m = self.causal_chunks
        slab = ((points[:, -1].detach() - t0) * (m / (t1 - t0))).long().clamp(0, m - 1)
        sums = torch.zeros(m, dtype=square.dtype, device=square.device).index_add(0, slab, square)
        counts = torch.zeros_like(sums).index_add(0, slab, torch.ones_like(square))
        slab_loss = sums / counts.clamp(min=1)
        before = torch.cumsum(slab_loss.detach(), 0) - slab_loss.detach()
        return (torch.exp(-self.causal_tol * before) * slab_loss).mean()

    def _condition_terms(self, terms, batch, value, gradient):
        problem, s, targets = self.problem, batch["slices"], batch["targets"]
        d = problem.dim
        if self.active["dirichlet"]:
            u = value("dirichlet")
            terms["dirichlet"] = ((u - targets["dirichlet"]) * targets["dirichlet_mask"]).square().sum() / max(
                1, int(batch["counts"]["dirichlet"]))
        if self.active["neumann"]:
            u, g = value("neumann"), gradient("neumann")
            x, t = problem.split_points(batch["points"][s["neumann"]])
            n = problem.n_components
            uu = u[:, 0] if n == 1 else u.T
            du = g[:, 0, :d].T if n == 1 else g[:, :, :d].permute(1, 2, 0)
            rows = flux_rows(problem.equation.flux(uu, du, x, t, problem.p), n, d)
            normals = batch["normals"]
            normal_flux = torch.stack([sum(row[j] * normals[:, j] for j in range(d)) for row in rows], dim=1)
            terms["neumann"] = ((-normal_flux - targets["neumann"]) * targets["neumann_mask"]).square().sum() / max(
                1, int(batch["counts"]["neumann"]))
        if self.active["periodic"]:
            terms["periodic"] = (value("periodic_lower") - value("periodic_upper")).square().mean()
        if self.active["initial"]:
            terms["initial"] = (value("initial") - targets["initial"]).square().mean()
        if self.active["initial_rate"]:
            terms["initial_rate"] = (gradient("initial")[:, :, d] - targets["initial_rate"]).square().mean()
        return terms


class _Batches:
    """Collocation points and condition targets, drawn reproducibly for a given step."""

    def __init__(self, problem: Problem, config: PINNConfig, losses: _Losses, dtype, device):
        self.problem, self.config, self.losses, self.dtype, self.device = problem, config, losses, dtype, device

    def _tensor(self, array):
        return torch.as_tensor(np.asarray(array, dtype=float), dtype=self.dtype, device=self.device)

    def interior(self, step: int) -> np.ndarray:
        c = self.config
        seed = int(seeded(c.seed, step).integers(2**31))
        if c.resample != "rad" or step == 0:
            return self.problem.sample_interior(c.n_interior, c.sampling if step == 0 else "uniform", seed)
        # residual-based adaptive distribution: density ~ |r|^k / mean + c (Wu et al. 2023, k = c = 1)
        pool = self.problem.sample_interior(10 * c.n_interior, "uniform", seed)
        with torch.no_grad():
            points = self._tensor(pool)
            jets = self.losses.jets(points) if self.losses.forward else None
            residual = (residual_from_jets(self.problem, jets, points) if jets is not None else
                        torch.enable_grad()(lambda: strong_residual(self.problem, self.losses.values, points).detach())())
        density = residual.abs().sum(dim=1).double().cpu().numpy()
        density = density / density.mean() + 1.0
        pick = seeded(c.seed, step + 1).choice(len(pool), size=c.n_interior, replace=False, p=density / density.sum())
        return pool[np.sort(pick)]

    def __call__(self, step: int) -> dict:
        problem, c = self.problem, self.config
        if step and c.resample == "none":
            step = 0
        seed = c.seed + 7 * step
        sets = {"interior": self.interior(step)}
        targets, counts, normals = {}, {}, None
        active = self.losses.active
        if active["dirichlet"] or active["neumann"] or active["periodic"]:
            boundary = problem.sample_boundary(c.n_boundary, c.sampling, seed + 1)
        for kind, condition_type in (("dirichlet", Dirichlet), ("neumann", Neumann)):
            if not active[kind]:
                continue
            target, mask = boundary_targets(problem, boundary, problem.conditions_of(condition_type))
            keep = mask.any(axis=1)
            sets[kind] = boundary.points[keep]
            targets[kind], targets[f"{kind}_mask"] = self._tensor(target[keep]), self._tensor(mask[keep])
            counts[kind] = int(mask[keep].sum())
            if kind == "neumann":
                normals = self._tensor(boundary.normals[keep])
        if active["periodic"]:
            lower, upper = self._periodic_pairs(boundary)
            sets["periodic_lower"], sets["periodic_upper"] = lower, upper
        if active["initial"] or active["initial_rate"]:
            initial = problem.sample_initial(c.n_initial, c.sampling, seed + 2)
            sets["initial"] = initial
            x, t = problem.split_points(initial)
            for name, order in (("initial", 0), ("initial_rate", 1)):
                if active[name]:
                    values = np.zeros((len(initial), problem.n_components))
                    for condition in problem.conditions_of(Initial):
                        if condition.derivative == order:
                            component = problem.component_slice(condition.field)
                            values[:, component] = _columns(problem.value_of(condition.value, x, t), len(initial),
                                                            component.stop - component.start)
                    targets[name] = self._tensor(values)
        offsets, chunks, start = {}, [], 0
        for name, points in sets.items():
            offsets[name] = slice(start, start + len(points))
            start += len(points)
            chunks.append(points)
        return {"points": self._tensor(np.concatenate(chunks)), "slices": offsets, "targets": targets,
                "counts": counts, "normals": normals}

    def _periodic_pairs(self, boundary):
        problem, c = self.problem, self.config
        lowers, uppers = [], []
        for axis in problem.periodic_axes:
            points = problem.sample_boundary(c.n_boundary, c.sampling, c.seed + 11 + axis).points
            lo, hi = points.copy(), points.copy()
            lo[:, axis], hi[:, axis] = problem.geometry.lower[axis], problem.geometry.upper[axis]
            lowers.append(lo)
            uppers.append(hi)
        return np.concatenate(lowers), np.concatenate(uppers)


def boundary_targets(problem: Problem, boundary, conditions) -> tuple[np.ndarray, np.ndarray]:
    """Targets and a mask ``(N, n)`` at sampled boundary points: which components each condition sets."""
    n = problem.n_components
    target, mask = np.zeros((len(boundary.points), n)), np.zeros((len(boundary.points), n))
    x_all, t_all = problem.split_points(boundary.points)
    for condition in conditions:
        where = where_on(problem, condition.on, boundary, x_all)
        if not where.any():
            continue
        component = problem.component_slice(condition.field)
        x, t = x_all[:, where], None if t_all is None else t_all[where]
        target[where, component] = _columns(problem.value_of(condition.value, x, t), int(where.sum()),
                                            component.stop - component.start)
        mask[where, component] = 1.0
    return target, mask


def where_on(problem, on, boundary, x) -> np.ndarray:
    """Which ``boundary`` points (with side names) a condition's ``on`` selects, as a bool array."""
    if on is None:
        return np.ones(len(boundary.points), dtype=bool)
    if callable(on):
        return np.asarray(on(x), dtype=bool)
    names = (on,) if isinstance(on, str) else on
    return np.isin(boundary.sides, names)


def _columns(value, n_points, n_components):
    if n_components == 1:
        return np.broadcast_to(np.asarray(value, dtype=float), (n_points,))[:, None]
    return np.stack([np.broadcast_to(np.asarray(v, dtype=float), (n_points,)) for v in value], axis=1)


class PINN:
    """Physics-informed neural network solver.

    Args:
        config: a :class:`PINNConfig`; or give its fields as keyword ``options``.
        output_transform: optional :class:`OutputTransform` (hard constraints).
        network: optional ready ``torch.nn.Module`` to train instead of building ``config.model``
            (``model`` stays the config's model name, so ``--option model=mlp`` means the same).

    Example::

        solution = PINN(adam_steps=5000, lbfgs_steps=50).solve(pdekit.get_case("burgers1d"))
    """

    name = "pinn"

    def __init__(self, config: PINNConfig | None = None, *, output_transform: OutputTransform | None = None,
                 network=None, **options):
        config = with_options(config, options, "PINN") if config is not None else PINNConfig.from_options(**options)
        self.config, self.output_transform, self._network = config, output_transform, network
        self.history = None

    def build(self, problem: Problem):
        """The model, loss terms and batch sampler for ``problem`` (exposed for benchmarks)."""
        c = self.config
        dtype, device = resolve_dtype(c.dtype), resolve_device(c.device)
        torch.manual_seed(c.seed)
        model = self._network
        if model is None:
            model = build_model(c.model, problem, width=c.width, depth=c.depth, activation=c.activation,
                                fourier_features=c.fourier_features, fourier_scale=c.fourier_scale)
        model = model.to(device=device, dtype=dtype)
        transform = self.output_transform
        if transform is None and c.hard_constraints != "none":
            transform = {"zero_dirichlet": zero_dirichlet_transform, "initial_dirichlet": initial_dirichlet_transform,
                         "initial_value": initial_value_transform}[c.hard_constraints](problem)
        losses = _Losses(problem, model, c, transform)
        return model, losses, _Batches(problem, c, losses, dtype, device)

    def solve(self, problem: Problem, *, reference=None, checkpoint: str | Path | None = None,
              resume: bool = False) -> FunctionSolution:
        """Train on ``problem`` and return the trained field as a Solution.

        Args:
            reference: optional Solution or xarray Dataset to log the error against.
            checkpoint: file for checkpoints (written atomically every ``checkpoint_every``).
            resume: continue from ``checkpoint`` if it exists (bit-for-bit on CPU).
        """
        c = self.config
        model, losses, batches = self.build(problem)
        weights = {"residual": c.weight_residual, "dirichlet": c.weight_boundary, "neumann": c.weight_boundary,
                   "periodic": c.weight_boundary, "initial": c.weight_initial, "initial_rate": c.weight_initial}
        predict = predictor(losses.values, problem.n_components, batches.dtype, batches.device)
        trainer = train(model, losses, weights, batches, c, resample_every=c.resample_every if c.resample != "none" else 0,
                        evaluate=reference_error(reference, problem, predict) if reference is not None else None,
                        checkpoint=checkpoint, resume=resume, describe=f"{problem.name} {self.name}")
        self.history = trainer.history
        config = {**dataclasses.asdict(c), "parameters": parameter_count(model), "compiled": trainer.compiled,
                  "derivative_path": "forward" if losses.forward else "autograd", "steps": trainer.step}
        solution = FunctionSolution(problem, predict, self.name, config, trainer.elapsed)
        solution.history = trainer.history
        solution.model = model
        return solution
