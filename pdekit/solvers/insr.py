"""Implicit neural spatial representations (Chen et al. 2023) for evolution Problems.

The weights of a network of space alone are the spatial discretisation.  At ``t0`` the network
is fitted to the initial value; each time step starts from the previous weights (warm start)
and minimises the time-discretised equation over points drawn afresh at every iteration, with
``u_n`` a frozen copy of the previous network:

* explicit Euler  ``u = u_n + dt f(u_n, t_n)``
* implicit Euler  ``u = u_n + dt f(u, t_n+1)``
* midpoint        ``u = u_n + dt (f(u, t_n+1) + f(u_n, t_n)) / 2`` (Crank-Nicolson; the implicit
  midpoint rule for linear ``f``)

plus the boundary conditions at ``t_n+1``.  The right-hand side ``f = (S - div F) / c1`` of
``c1 du/dt + div F = S`` is the Problem's own residual, taken by forward jets with the time
derivative set to zero, so INSR uses the one definition every other solver uses.  The weights
of every saved step are kept (they are few), so the Solution is evaluable at any ``(x, t)``:
the network at the two neighbouring saved times, linear in between.

``integrator="splitting"`` advances incompressible flow (velocity and pressure) by the paper's
operator splitting instead; see :mod:`pdekit.solvers.insr_flow`.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..batch import preemption
from ..derivatives import network_jets, output_jets, required_pairs, residual_from_jets
from ..derivatives.jet import Jet
from ..options import config_from_options, with_options
from ..problem import BoundaryPoints, Dirichlet, Initial, Periodic, Problem
from ..results import FunctionSolution, default_grid, grid_points
from .insr_flow import Splitting, flow_fields
from .models import build_model, parameter_count
from .pinn import _columns, boundary_targets
from .training import History, Minimiser, _atomic_save, resolve_device, resolve_dtype

__all__ = ["INSR", "INSRConfig", "INSRSolution", "INTEGRATORS", "StepFailed"]

INTEGRATORS = {"explicit_euler": 0.0, "implicit_euler": 1.0, "midpoint": 0.5}  # weight of f at t_n+1
SPLITTING = "splitting"  # incompressible flow: advection, viscosity, pressure, projection (insr_flow)
MODEL_OPTIONS = {"siren": ("width", "depth", "omega0"), "mlp": ("width", "depth", "activation")}
# settings a resumed run must share with its checkpoint (they fix the discretisation)
DISCRETISATION = ("model", "width", "depth", "omega0", "activation", "integrator", "time_steps", "save_every", "dtype")


@dataclass(frozen=True)
class INSRConfig:
    """Settings of an INSR run (every field can be given as ``--option NAME=VALUE``).

    Args:
        model, width, depth: the network (``siren`` or ``mlp``), hidden width and layers.
        omega0: SIREN's frequency factor (10: smooth fields, whose derivatives the steps use;
            30, the SIREN paper's, resolves a sharp pulse but leaves the fit's derivatives noisy:
            at dt = 0.1 on heat2d a step then leaves 18% error); activation: the MLP's
            (``tanh`` or ``sin``).
        integrator: ``explicit_euler``, ``implicit_euler``, ``midpoint``, or ``splitting`` for
            incompressible flow (see :mod:`pdekit.solvers.insr_flow`).
        time_steps: steps over the problem's time interval (``dt = (t1 - t0) / time_steps``).
        save_every: keep the weights every this many steps (and the last step).
        n_points, n_boundary: interior and boundary points drawn at every iteration.
        iterations: most Adam iterations per time step; init_iterations: for the initial fit.
        lr, patience, decay, min_lr: Adam's rate, multiplied by ``decay`` when the loss has not
            improved for ``patience`` iterations; a step has converged when the rate falls
            below ``min_lr`` or the loss below ``tol``.
        lbfgs_iterations: L-BFGS iterations after Adam per step (on one fresh point set);
            init_lbfgs_iterations: for the initial fit (``None``: as many).
        weight_boundary: weight of the boundary terms.
        step_tol, max_refinements: every step is checked after its optimisation: where its
            residual exceeds ``step_tol`` of the field (root mean squares, on fresh points), the
            step is redone from ``u_n`` as two half steps, and so on down to
            ``dt / 2^max_refinements``; a step still above is an error (the run stops, naming
            the time, instead of marching on with a wrong state).  Not for ``splitting``.
        dtype, device, seed: numerics.
        compile: run the loss under ``torch.compile`` (one graph for all steps; falls back to
            eager with a logged reason).
        eval_every: steps between errors against a reference (when one is given).
        progress: a progress bar over time steps (``None``: when writing to a terminal).
    """

    model: str = "siren"
    width: int = 20
    depth: int = 3
    omega0: float = 10.0
    activation: str = "tanh"
    integrator: str = "midpoint"
    time_steps: int = 100
    save_every: int = 1
    n_points: int = 2000
    n_boundary: int = 64
    iterations: int = 300
    init_iterations: int = 2000
    lr: float = 1e-3
    patience: int = 30
    decay: float = 0.5
    min_lr: float = 1e-5
    tol: float = 0.0
    lbfgs_iterations: int = 0
    init_lbfgs_iterations: int | None = None
    weight_boundary: float = 1.0
    step_tol: float = 0.1
    max_refinements: int = 3
    dtype: str = "float32"
    device: str = "auto"
    seed: int = 0
    compile: bool = False
    eval_every: int = 10
    progress: bool | None = None

    def __post_init__(self):
        resolve_dtype(self.dtype)
        resolve_device(self.device)
        if self.model not in MODEL_OPTIONS:
            raise ValueError(f"unknown model {self.model!r}; valid models: {', '.join(MODEL_OPTIONS)}")
        if self.integrator not in (*INTEGRATORS, SPLITTING):
            raise ValueError(f"unknown integrator {self.integrator!r}; valid integrators: "
                             f"{', '.join((*INTEGRATORS, SPLITTING))}")
        for name in ("time_steps", "save_every", "n_points", "eval_every", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.step_tol > 0:
            raise ValueError(f"step_tol must be > 0 (the largest residual of a step, relative to the field), "
                             f"got {self.step_tol}")
        for name in ("iterations", "init_iterations", "lbfgs_iterations", "n_boundary", "max_refinements"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.init_lbfgs_iterations is not None and self.init_lbfgs_iterations < 0:
            raise ValueError(f"init_lbfgs_iterations must be >= 0, got {self.init_lbfgs_iterations}")
        if self.iterations + self.lbfgs_iterations == 0 or self.init_iterations + self.init_lbfgs == 0:
            raise ValueError("give a positive number of iterations and/or lbfgs_iterations per step and for the fit")
        if not (self.lr > 0 and 0 < self.decay < 1 and self.min_lr >= 0 and self.tol >= 0):
            raise ValueError("need lr > 0, 0 < decay < 1, min_lr >= 0 and tol >= 0, got "
                             f"lr={self.lr}, decay={self.decay}, min_lr={self.min_lr}, tol={self.tol}")

    @property
    def init_lbfgs(self) -> int:
        """L-BFGS iterations of the initial fit."""
        return self.lbfgs_iterations if self.init_lbfgs_iterations is None else self.init_lbfgs_iterations

    @classmethod
    def from_options(cls, **options) -> "INSRConfig":
        """A config from keyword options; CLI strings are converted to each field's type."""
        return config_from_options(cls, options, "INSR")


def check_problem(problem: Problem) -> None:
    """Raise a ValueError when INSR cannot advance ``problem`` (and say why)."""
    eq = problem.equation
    if not problem.is_evolution:
        raise ValueError(f"INSR advances evolution problems; {problem.name!r} is steady (time=None)")
    if eq.second_time_coefficient != 0 or 0 in problem.time_coefficients:
        hint = (" (a constraint without time derivative, such as incompressibility: use integrator='splitting')"
                if eq.second_time_coefficient == 0 else "")
        raise ValueError(f"INSR needs a first-order equation c1 du/dt + div F = S with c1 != 0; {problem.name!r} "
                         f"has c1={eq.time_coefficient}, c2={eq.second_time_coefficient}{hint}")
    if eq.flux is None and eq.source is None:
        raise ValueError(f"INSR needs the equation's flux and/or source; {problem.name!r} has only a weak_form")
    supported = (Dirichlet, Periodic, Initial)
    unsupported = sorted({type(c).__name__ for c in problem.conditions if not isinstance(c, supported)})
    if unsupported:
        raise ValueError(f"INSR does not support {', '.join(unsupported)} conditions yet; "
                         "supported: Dirichlet, Periodic, Initial")


class _Step:
    """The loss terms of the initial fit and of one time step, for points drawn from a seed."""

    def __init__(self, problem: Problem, model, previous, config: INSRConfig, dtype, device):
        self.problem, self.model, self.previous, self.config = problem, model, previous, config
        self.dtype, self.device = dtype, device
        self.pairs = required_pairs(problem)
        self.theta = INTEGRATORS.get(config.integrator)
        self.c1 = self.tensor(problem.time_coefficients)
        self.dirichlet = problem.conditions_of(Dirichlet)
        self.initial = [c for c in problem.conditions_of(Initial) if c.derivative == 0]

    def tensor(self, array) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=float), dtype=self.dtype, device=self.device)

    # -- the field and its right-hand side ---------------------------------------------------
    def rhs(self, network, x: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Values ``(N, n)`` of ``network`` at ``x`` and ``f = (S - div F) / c1`` there at time ``t``.

        ``t`` is a 0-d tensor, so one compiled graph serves every step."""
        jets = output_jets(network_jets(network.ops(), x, self.pairs), self.pairs)
        zero = torch.zeros_like(x[:, :1])
        timed = [Jet(j.value, torch.cat([j.grad, zero], dim=1), j.hess, j.pairs) for j in jets]  # du/dt = 0
        points = torch.cat([x, zero + t], dim=1)
        residual = residual_from_jets(self.problem, timed, points)
        return torch.stack([j.value for j in jets], dim=1), -residual / self.c1

    # -- points ---------------------------------------------------------------------------------
    def batch(self, seed: int, t: float) -> dict:
        """Fresh interior points, and boundary points with their targets at time ``t``."""
        problem, c = self.problem, self.config
        batch = {"interior": self.tensor(problem.geometry.sample_interior(c.n_points, "uniform", seed)),
                 "t": self.tensor(t)}
        if not c.n_boundary:
            return batch
        boundary = problem.geometry.sample_boundary(c.n_boundary, "uniform", seed + 1)
        if self.dirichlet:
            timed = np.concatenate([boundary.points, np.full((len(boundary.points), 1), t)], axis=1)
            target, mask = boundary_targets(problem, BoundaryPoints(timed, boundary.normals, boundary.sides),
                                            self.dirichlet)
            keep = mask.any(axis=1)
            batch["dirichlet"] = tuple(self.tensor(a[keep]) for a in (boundary.points, target, mask))
        pairs = []
        for axis in problem.periodic_axes:
            lower, upper = boundary.points.copy(), boundary.points.copy()
            lower[:, axis], upper[:, axis] = problem.geometry.lower[axis], problem.geometry.upper[axis]
            pairs.append((lower, upper))
        if pairs:
            batch["periodic"] = tuple(self.tensor(np.concatenate(side)) for side in zip(*pairs))
        return batch

    def initial_values(self, x: torch.Tensor) -> torch.Tensor:
        """The initial value ``(N, n)`` at the points ``x``."""
        problem = self.problem
        values = np.zeros((len(x), problem.n_components))
        points = x.detach().double().cpu().numpy().T
        for condition in self.initial:
            component = problem.component_slice(condition.field)
            values[:, component] = _columns(problem.value_of(condition.value, points, problem.time.t0), len(x),
                                            component.stop - component.start)
        return self.tensor(values)

    # -- losses ---------------------------------------------------------------------------------
    def boundary_terms(self, batch: dict) -> dict:
        terms = {}
        if "dirichlet" in batch:
            points, target, mask = batch["dirichlet"]
            terms["dirichlet"] = ((self.model(points) - target) * mask).square().sum() / mask.sum().clamp(min=1)
        if "periodic" in batch:
            lower, upper = batch["periodic"]
            terms["periodic"] = (self.model(lower) - self.model(upper)).square().mean()
        return terms

    def initial_terms(self, batch: dict) -> dict:
        x = batch["interior"]
        return {"initial": (self.model(x) - batch["initial"]).square().mean()}

    def step_terms(self, batch: dict) -> dict:
        """``|u - u_n - dt (theta f(u, t_n+1) + (1 - theta) f(u_n, t_n))|^2`` and the boundary terms
        (``batch["t"]`` is ``t_n+1``, ``batch["dt"]`` the step: 0-d tensors, so one compiled graph
        serves every step and every refinement)."""
        x, theta, t, dt = batch["interior"], self.theta, batch["t"], batch["dt"]
        with torch.no_grad():
            old, f_old = self.rhs(self.previous, x, t - dt) if theta < 1 else (self.previous(x), 0.0)
        if theta > 0:
            new, f_new = self.rhs(self.model, x, t)
            update = theta * f_new + (1 - theta) * f_old
        else:
            new, update = self.model(x), f_old
        return {"residual": (new - old - dt * update).square().mean(), **self.boundary_terms(batch)}


class _FirstOrder:
    """The stages of first-order INSR: one network, fitted to ``u0`` and then to each step.

    A stepper has ``model`` (whose weights are saved), ``fit`` and ``advance`` (each returns the
    minimiser's row) and ``compiled``; this one also its ``stage`` (batches and loss terms)."""

    def __init__(self, problem: Problem, model, previous, config: INSRConfig, dtype, device):
        self.model, self.previous, self.config = model, previous, config
        self.stage = _Step(problem, model, previous, config, dtype, device)
        self.minimiser = Minimiser(model, config)
        self.fit_total = self.minimiser.weighted(self.stage.initial_terms)
        self.step_total = self.minimiser.weighted(self.stage.step_terms)

    @property
    def compiled(self) -> bool:
        return self.step_total.compiled

    def fit(self, batch_of, describe: str) -> dict:
        c = self.config
        return self.minimiser.run(self.fit_total, batch_of, c.init_iterations, c.init_lbfgs, describe)

    def advance(self, batch_of, describe: str) -> dict:
        self.previous.load_state_dict(self.model.state_dict())
        c = self.config
        row = self.minimiser.run(self.step_total, batch_of, c.iterations, c.lbfgs_iterations, describe)
        return {**row, "step_residual": self.step_residual(batch_of(-1))}

    def step_residual(self, batch: dict) -> float:
        """The step's residual relative to the state, on points no iteration saw: the root mean
        square of the residual and boundary terms over that of ``u_n+1``.  A stable step moves
        ``u`` by about its residual, so this bounds the error the step adds, relative to the field."""
        with torch.no_grad():
            terms = self.stage.step_terms(batch)
            size = self.model(batch["interior"]).square().mean()
        return float(sum(terms.values()).sqrt() / size.sqrt().clamp_min(torch.finfo(size.dtype).tiny))


class INSRSolution(FunctionSolution):
    """An INSR result: the network at every saved time, linear in time between them.

    Attributes:
        times: ``(S,)`` saved times; weights: ``(S, P)`` the network's parameters at each.
    """

    def __init__(self, problem, model, times, weights, config, wall_time):
        self.model, self.times, self.weights = model, np.asarray(times), weights
        super().__init__(problem, self._predict, "insr", config, wall_time)

    def _field(self, k: int, x: np.ndarray) -> np.ndarray:
        torch.nn.utils.vector_to_parameters(self.weights[k], self.model.parameters())
        with torch.no_grad():
            tensor = torch.as_tensor(x, dtype=self.weights.dtype, device=self.weights.device)
            return self.model(tensor).double().cpu().numpy()

    def _predict(self, points: np.ndarray) -> np.ndarray:
        d, times = self.problem.dim, self.times
        x, t = points[:, :d], points[:, d]
        span = times[-1] - times[0]
        if np.any((t < times[0] - 1e-12 * span) | (t > times[-1] + 1e-12 * span)):
            raise ValueError(f"times must lie in the solved interval [{times[0]}, {times[-1]}]")
        position = np.interp(t, times, np.arange(len(times)))
        lower = np.minimum(np.floor(position).astype(int), max(len(times) - 2, 0))
        weight = (position - lower)[:, None]
        out = np.zeros((len(points), self.problem.n_components))
        for k in np.unique(lower):
            rows = lower == k
            out[rows] = self._field(k, x[rows])
            if len(times) > 1 and np.any(weight[rows] > 0):
                out[rows] = (1 - weight[rows]) * out[rows] + weight[rows] * self._field(k + 1, x[rows])
        return out

    def attributes(self) -> dict:
        """Also the memory of the representation: parameters per step and saved steps."""
        return {**super().attributes(), "parameters_per_step": int(self.weights.shape[1]),
                "saved_steps": int(self.weights.shape[0]), "stored_values": int(self.weights.numel())}


class INSR:
    """Implicit neural spatial representation solver.

    Args:
        config: an :class:`INSRConfig`; or give its fields as keyword ``options``.

    Example::

        solution = INSR(time_steps=60, iterations=200).solve(pdekit.get_case("advection1d"))
    """

    name = "insr"

    def __init__(self, config: INSRConfig | None = None, **options):
        self.config = (with_options(config, options, "INSR") if config is not None
                       else INSRConfig.from_options(**options))
        self.history = None

    def build(self, problem: Problem):
        """The network of space for ``problem`` and its frozen copy for ``u_n`` (first-order INSR)."""
        c = self.config
        torch.manual_seed(c.seed)
        model = build_model(c.model, problem, spatial=True, **{k: getattr(c, k) for k in MODEL_OPTIONS[c.model]})
        model = model.to(device=resolve_device(c.device), dtype=resolve_dtype(c.dtype))
        previous = copy.deepcopy(model).requires_grad_(False)
        return model, previous

    def solve(self, problem: Problem, *, reference=None, checkpoint: str | Path | None = None,
              resume: bool = False) -> INSRSolution:
        """Fit the initial value, then advance step by step; returns the field at all saved times.

        Args:
            reference: optional Solution whose relative L2 error at each ``eval_every``-th step
                is logged in the history.
            checkpoint: file written atomically after every time step.
            resume: continue from ``checkpoint`` if it exists (the same run, bit for bit on CPU).
        """
        c = self.config
        if c.integrator == SPLITTING:
            flow_fields(problem)  # raises, saying what is missing, before anything is built
        else:
            check_problem(problem)
        dtype, device = resolve_dtype(c.dtype), resolve_device(c.device)
        t0, dt = problem.time.t0, problem.time.length / c.time_steps
        if c.integrator == SPLITTING:
            stepper = Splitting(problem, c, dtype, device, dt)
            # points and initial values drawn as for first-order INSR; no boundary points: periodicity is exact
            stage = _Step(problem, stepper.model, None, dataclasses.replace(c, n_boundary=0), dtype, device)
        else:
            stepper = _FirstOrder(problem, *self.build(problem), c, dtype, device)
            stage = stepper.stage
        model = stepper.model
        path = Path(checkpoint) if checkpoint else None
        if path is not None and path.exists() and not resume:
            raise ValueError(f"checkpoint {path} exists: pass resume=True to continue it, or remove it")
        state = {"step": -1, "elapsed": 0.0, "times": [], "weights": [], "history": []}
        if resume and path is not None and path.exists():
            state = self._restore(path, model)
        history = History(list(state["history"]))
        error_at = _error_at(reference, problem, model, stage) if reference is not None else None
        show = sys.stderr.isatty() if c.progress is None else c.progress
        bar = tqdm(total=c.time_steps + 1, initial=state["step"] + 1, desc=f"{problem.name} insr", unit="step",
                   disable=not show, mininterval=1.0)
        started = time.perf_counter() - state["elapsed"]
        try:
            for step in range(state["step"] + 1, c.time_steps + 1):
                t = t0 + step * dt
                if step == 0:
                    row = stepper.fit(_fresh_batches(stage, c.seed, [step], t, dt), f"{problem.name} insr fit")
                elif c.integrator == SPLITTING:
                    row = stepper.advance(_fresh_batches(stage, c.seed, [step], t, dt),
                                          f"{problem.name} insr step {step}")
                else:
                    row = _checked_step(stepper, stage, c, step, t, dt, f"{problem.name} insr step {step}")
                if step % c.save_every == 0 or step == c.time_steps:
                    state["times"].append(t)
                    state["weights"].append(torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone())
                row = {"step": step, "t": t, **row, "wall_time": time.perf_counter() - started}
                if error_at is not None and (step % c.eval_every == 0 or step == c.time_steps):
                    row["error"] = error_at(t)
                history.append(**row)
                bar.update(1)
                bar.set_postfix(loss=f"{row['loss']:.2e}", it=row["iterations"])
                state.update(step=step, elapsed=row["wall_time"], history=history.rows)
                if path is not None:
                    _atomic_save({**state, "model": model.state_dict(), "config": dataclasses.asdict(c)}, path)
                preemption.check(f"after time step {step}")
        finally:
            bar.close()
        self.history = history
        weights = torch.stack(state["weights"])
        config = {**dataclasses.asdict(c), "dt": dt, "parameters": parameter_count(model),
                  "saved_steps": len(weights), "steps": state["step"], "compiled": stepper.compiled}
        solution = INSRSolution(problem, copy.deepcopy(model), state["times"], weights, config,
                                time.perf_counter() - started)
        solution.history = history
        return solution

    def _restore(self, path: Path, model) -> dict:
        state = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
        mine = dataclasses.asdict(self.config)
        changed = [k for k in DISCRETISATION if state["config"].get(k) != mine[k]]
        if changed:
            was = ", ".join(f"{k}={state['config'][k]!r}" for k in changed)
            raise ValueError(f"checkpoint {path} was written with other settings ({was}); resume with the same ones")
        model.load_state_dict(state.pop("model"))
        return state


class StepFailed(RuntimeError):
    """An INSR time step whose residual stayed above ``step_tol`` at the finest refinement."""


def _checked_step(stepper: _FirstOrder, stage: _Step, c: INSRConfig, step: int, t: float, dt: float,
                  describe: str) -> dict:
    """Advance from ``t - dt`` to ``t``; while the step's residual exceeds ``step_tol``, redo it from
    ``u_n`` in twice as many pieces (at most ``2^max_refinements``)."""
    start = copy.deepcopy(stepper.model.state_dict())
    for level in range(c.max_refinements + 1):
        pieces, rows = 2**level, []
        if level:
            stepper.model.load_state_dict(start)
        for k in range(pieces):
            key = [step] if level == 0 else [step, level, k]
            rows.append(stepper.advance(_fresh_batches(stage, c.seed, key, t - dt + (k + 1) * dt / pieces,
                                                       dt / pieces), describe))
        worst = max(row["step_residual"] for row in rows)
        if worst <= c.step_tol:
            return {**rows[-1], "iterations": sum(row["iterations"] for row in rows), "step_residual": worst,
                    "refinements": level}
    raise StepFailed(f"INSR step {step} (t = {t:.6g}) did not converge: its residual is {worst:.3g} of the field "
                     f"(step_tol={c.step_tol}) even in {pieces} pieces of {dt / pieces:.3g}; give more iterations or "
                     f"lbfgs_iterations per step, more time_steps, or a smoother network (a smaller omega0)")


def _fresh_batches(stage: _Step, seed: int, key: list[int], t: float, dt: float):
    """``batch_of(i)``: a fresh point set per iteration from a generator keyed by ``(seed, *key)``
    (the step, and the piece of a refined step), so a run resumed at a step boundary draws the
    same points; the initial fit's carry ``u0``."""
    rng = np.random.default_rng([seed, *key])
    step = key[0]

    def batch_of(i: int) -> dict:
        batch = stage.batch(int(rng.integers(2**31)), t)
        batch["dt"] = stage.tensor(dt)
        if step == 0:
            batch["initial"] = stage.initial_values(batch["interior"])
        return batch

    return batch_of


def _error_at(reference, problem: Problem, model, stage: _Step, resolution: int = 64):
    """``error_at(t)``: relative L2 of the current network against ``reference`` at time ``t``."""
    coords = {k: v for k, v in default_grid(problem, resolution).items() if k != "t"}
    space = grid_points(coords)
    x = stage.tensor(space)

    def error_at(t: float) -> float:
        truth = np.asarray(reference(np.concatenate([space, np.full((len(space), 1), t)], axis=1)), dtype=float)
        with torch.no_grad():
            values = model(x).double().cpu().numpy()
        keep = np.all(np.isfinite(truth), axis=1)
        return float(np.linalg.norm(values[keep] - truth[keep]) / np.linalg.norm(truth[keep]))

    return error_at
