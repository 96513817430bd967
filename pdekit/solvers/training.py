"""The training loop every neural-field solver shares.

Adam, then L-BFGS; collocation points drawn by a step-keyed sampler (so a resumed run sees
the same points as an uninterrupted one); a history of loss terms, wall time and the error
against a reference; atomic checkpoints; resume; a clean stop on a non-finite loss; optional
``torch.compile`` of the loss and its gradient as one graph (:mod:`.flat_parameters`), with a logged
fallback to eager.
"""

from __future__ import annotations

import copy
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import atomic_write
from ..batch import preemption
from ..options import config_from_options
from .flat_parameters import AdamStep, FlatParameters, LossGradient

__all__ = ["TrainingDiverged", "TrainingConfig", "TrainingSettings", "Trainer", "train", "predictor",
           "reference_error", "resolve_device", "resolve_dtype", "Minimiser"]

log = logging.getLogger("pdekit")

DTYPES = {"float32": torch.float32, "float64": torch.float64}


class TrainingDiverged(RuntimeError):
    """The loss became non-finite; the last good checkpoint (if any) was kept."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; valid devices: auto, cpu, cuda, cuda:N") from None


def resolve_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; valid dtypes: {', '.join(DTYPES)}")
    return DTYPES[name]


@dataclass(frozen=True)
class TrainingConfig:
    """The settings every neural-field solver's config shares (its fields come first).

    Args:
        adam_steps, lr, lr_decay: Adam phase (rate times ``lr_decay`` every 1000 steps).
        lbfgs_steps: L-BFGS calls after Adam, each of up to 20 iterations.
        dtype, device, seed, compile: numerics and speed.
        log_every, eval_every, checkpoint_every: history, error and checkpoint intervals.
        progress: show a progress bar (``None``: when writing to a terminal).
        time_budget: stop after this many seconds of training (0: no limit), for comparisons
            at equal wall-clock time.
    """

    adam_steps: int = 10000
    lr: float = 1e-3
    lr_decay: float = 1.0
    lbfgs_steps: int = 0
    dtype: str = "float32"
    device: str = "auto"
    seed: int = 0
    compile: bool = False
    log_every: int = 100
    eval_every: int = 1000
    checkpoint_every: int = 1000
    progress: bool | None = None
    time_budget: float = 0.0

    def __post_init__(self):
        resolve_dtype(self.dtype)
        resolve_device(self.device)
        if self.adam_steps < 0 or self.lbfgs_steps < 0 or self.adam_steps + self.lbfgs_steps == 0:
            raise ValueError("give a positive number of adam_steps and/or lbfgs_steps")

    @classmethod
    def from_options(cls, **options):
        """A config from keyword options; CLI strings are converted to each field's type.

        Errors name the solver (``PINNConfig`` -> ``unknown PINN option ...``)."""
        return config_from_options(cls, options, cls.__name__.removesuffix("Config"))

    def training_settings(self, resample_every: int, checkpointing: bool) -> "TrainingSettings":
        return TrainingSettings(adam_steps=self.adam_steps, lr=self.lr, lbfgs_steps=self.lbfgs_steps,
                                resample_every=resample_every, log_every=self.log_every,
                                eval_every=self.eval_every, checkpoint_every=self.checkpoint_every if checkpointing else 0,
                                compile=self.compile, progress=self.progress, lr_decay=self.lr_decay,
                                time_budget=self.time_budget)


@dataclass
class TrainingSettings:
    """What the loop needs from a solver's config."""

    adam_steps: int
    lr: float
    lbfgs_steps: int
    resample_every: int
    log_every: int
    eval_every: int
    checkpoint_every: int
    compile: bool
    progress: bool | None
    lr_decay: float = 1.0  # multiply the learning rate by this every 1000 Adam steps
    time_budget: float = 0.0  # seconds; 0: no limit


@dataclass
class History:
    """Rows of (step, phase, loss, loss terms, wall time, error against the reference)."""

    rows: list = field(default_factory=list)

    def append(self, **row):
        self.rows.append(row)

    def column(self, name):
        return [row.get(name) for row in self.rows]


def _atomic_save(state, path: Path):
    atomic_write(path, lambda temporary: torch.save(state, temporary))


class Trainer:
    """Minimises ``sum(weights * terms)`` over a model's parameters.

    Args:
        model: the network.
        loss_terms: ``loss_terms(batch) -> dict[name, scalar tensor]``.
        weights: factor per term name (missing: 1).
        sampler: ``sampler(step) -> batch``, deterministic in ``step``.
        settings: :class:`TrainingSettings`.
        evaluate: optional ``evaluate() -> float`` (error against a reference), logged.
        checkpoint: file to write checkpoints to (``None``: no checkpoints).
    """

    def __init__(self, model, loss_terms: Callable, weights: dict, sampler: Callable, settings: TrainingSettings,
                 evaluate: Callable | None = None, checkpoint: Path | None = None, describe: str = "training"):
        self.model, self.weights, self.sampler, self.settings = model, weights, sampler, settings
        self.evaluate, self.checkpoint, self.describe = evaluate, checkpoint, describe
        self.history = History()
        self.step = 0
        self.elapsed = 0.0
        self.parameters = FlatParameters(model)  # the optimisers update one tensor per dtype
        self._total = self._weighted(loss_terms)
        self._gradient = LossGradient(self.parameters, self._total, settings.compile)
        params = self.parameters.tensors
        fused = {"fused": True} if _fused_adam_works(params) else {}
        self.adam = torch.optim.Adam(params, lr=settings.lr, **fused)
        self._adam_step = AdamStep(self._gradient, self.adam)
        self.lbfgs = torch.optim.LBFGS(params, lr=1.0, max_iter=20, history_size=50, tolerance_grad=1e-12,
                                       tolerance_change=1e-15, line_search_fn="strong_wolfe")
        self.lbfgs_start, self.lbfgs_restarts = None, 0  # the loss the last call started from; memory clearings

    @property
    def compiled(self) -> bool:
        """Whether the loss and its gradient run compiled (false after a fallback to eager)."""
        return self._gradient.compiled

    def _weighted(self, loss_terms):
        """The loss terms and their weighted sum, in one function (compiled as one graph)."""

        def terms_and_total(batch):
            terms = loss_terms(batch)
            return sum(self.weights.get(name, 1.0) * value for name, value in terms.items()), terms

        return terms_and_total

    # -- checkpoints -----------------------------------------------------------------------
    def state(self) -> dict:
        return {"step": self.step, "elapsed": self.elapsed, "model": self.model.state_dict(),
                "adam": self.adam.state_dict(), "lbfgs": self.lbfgs.state_dict(), "lbfgs_start": self.lbfgs_start,
                "lbfgs_restarts": self.lbfgs_restarts, "history": self.history.rows}

    def save(self):
        if self.checkpoint is not None:
            _atomic_save(self.state(), self.checkpoint)

    def restore(self) -> bool:
        """Continue from the checkpoint file if there is one; returns whether it did."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return False
        state = torch.load(self.checkpoint, map_location=next(self.model.parameters()).device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.adam.load_state_dict(state["adam"])
        self.lbfgs.load_state_dict(state["lbfgs"])
        self.lbfgs_start, self.lbfgs_restarts = state.get("lbfgs_start"), state.get("lbfgs_restarts", 0)
        self.step, self.elapsed, self.history.rows = state["step"], state["elapsed"], list(state["history"])
        return True

    # -- the loop --------------------------------------------------------------------------
    def run(self) -> History:
        s = self.settings
        total_steps = s.adam_steps + s.lbfgs_steps
        show = sys.stderr.isatty() if s.progress is None else s.progress
        bar = tqdm(total=total_steps, initial=self.step, desc=self.describe, disable=not show, mininterval=1.0)
        batch, batch_step = None, None
        pending = None  # a checkpoint waits until the loss of its parameters is seen to be finite
        started = time.perf_counter() - self.elapsed
        try:
            while self.step < total_steps:
                key = self.step - self.step % s.resample_every if s.resample_every else 0
                if batch_step != key:
                    batch, batch_step = self.sampler(key), key
                adam = self.step < s.adam_steps
                if adam:
                    self._set_lr()
                    loss, terms = self._adam_step(batch)
                else:
                    loss, terms = self._lbfgs_step(batch)
                self.step += 1
                bar.update(1)
                out_of_time = bool(s.time_budget) and time.perf_counter() - started >= s.time_budget
                due_log = self.step % s.log_every == 0 or self.step == total_steps or out_of_time
                due_checkpoint = s.checkpoint_every and self.step % s.checkpoint_every == 0
                if due_log or due_checkpoint or pending is not None or not adam:
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise TrainingDiverged(
                            f"{self.describe}: the loss became {value} at step {self.step}{self._kept()}. "
                            "Lower the learning rate, use float64, or check the problem's scales.")
                    if pending is not None:  # its parameters gave this finite loss
                        _atomic_save(pending, self.checkpoint)
                        pending = None
                    self.elapsed = time.perf_counter() - started
                    if due_log:
                        row = {"step": self.step, "phase": "adam" if adam else "lbfgs", "loss": value,
                               "wall_time": self.elapsed, **{k: float(v.detach()) for k, v in terms.items()}}
                        if self.evaluate is not None and (self.step % s.eval_every == 0 or self.step == total_steps
                                                          or out_of_time):
                            row["error"] = self.evaluate()
                        if not adam:
                            row["lbfgs_restarts"] = self.lbfgs_restarts
                        self.history.append(**row)
                        bar.set_postfix(loss=f"{value:.3e}")
                    if due_checkpoint and self.checkpoint is not None:
                        pending = copy.deepcopy(self.state())
                if out_of_time:
                    break
                preemption.check(f"at step {self.step}", self.save)
        finally:
            bar.close()
        self.elapsed = time.perf_counter() - started
        if batch is None:  # resumed a run that had already finished
            batch = self.sampler(self.step - self.step % s.resample_every if s.resample_every else 0)
        final, _ = self._total(batch)
        if not math.isfinite(float(final.detach())):
            raise TrainingDiverged(f"{self.describe}: the final loss is {float(final.detach())}{self._kept()}")
        self.save()
        return self.history

    def _kept(self) -> str:
        if self.checkpoint is not None and self.checkpoint.exists():
            step = torch.load(self.checkpoint, map_location="cpu", weights_only=False)["step"]
            return f"; the last good checkpoint (step {step}) is kept at {self.checkpoint}"
        return "; no checkpoint had been written"

    def _set_lr(self):
        if self.settings.lr_decay != 1.0:
            for group in self.adam.param_groups:
                group["lr"] = self.settings.lr * self.settings.lr_decay ** (self.step // 1000)

    def _lbfgs_step(self, batch):
        """One L-BFGS call (up to 20 iterations).  When a call starts from no lower a loss than the
        one before it, the one before stalled (its line search found no descent along the direction
        its curvature pairs give, and would not again): its memory is cleared, so the next call
        starts afresh from the gradient."""
        record = {}

        def closure():
            loss, terms = self._gradient(batch)
            record["terms"] = terms
            return loss

        loss = self.lbfgs.step(closure)  # the loss where this call started
        start = float(loss.detach())
        if self.lbfgs_start is not None and start >= self.lbfgs_start:
            self.lbfgs.state.clear()
            self.lbfgs_restarts += 1
        self.lbfgs_start = start
        return loss, record["terms"]


def train(model, loss_terms: Callable, weights: dict, sampler: Callable, config: TrainingConfig, *,
          resample_every: int = 0, evaluate: Callable | None = None, checkpoint: str | Path | None = None,
          resume: bool = False, describe: str = "training") -> Trainer:
    """Run a :class:`Trainer` with a solver's config; returns it (history, steps, elapsed time).

    An existing ``checkpoint`` is continued only with ``resume=True`` (never overwritten).
    """
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists() and not resume:
        raise ValueError(f"checkpoint {path} exists: pass resume=True to continue it, or remove it")
    trainer = Trainer(model, loss_terms, weights, sampler, config.training_settings(resample_every, path is not None),
                      evaluate, path, describe)
    if resume:
        trainer.restore()
    trainer.run()
    model.eval()
    return trainer


def predictor(values: Callable, n_components: int, dtype, device, chunk: int = 65536) -> Callable:
    """``predict(points) -> (N, n)`` NumPy values from a torch ``values(points)``, in chunks, no grad."""

    def predict(points: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(points), chunk):
                batch = torch.as_tensor(np.asarray(points[start : start + chunk], dtype=float), dtype=dtype,
                                        device=device)
                out.append(values(batch).double().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, n_components))

    return predict


def reference_error(reference, problem, predict: Callable) -> Callable[[], float]:
    """A function giving the relative L2 error of ``predict`` on the reference's grid.

    ``reference`` is a Solution (evaluated on the default grid) or an xarray Dataset.
    """
    import xarray as xr

    from ..results import default_grid, grid_points

    if isinstance(reference, xr.Dataset):
        coords = {d: reference[d].values for d in reference.dims}
        data = reference
    else:
        coords = default_grid(problem, times=41)
        data = reference.to_xarray(coords=coords)
    points = grid_points(coords)
    truth = np.stack([data[name].transpose(*coords).values.ravel() for name in problem.components], axis=1)
    keep = np.all(np.isfinite(truth), axis=1)
    points, truth = points[keep], truth[keep]

    def evaluate() -> float:
        return float(np.linalg.norm(predict(points) - truth) / np.linalg.norm(truth))

    return evaluate


class Minimiser:
    """Adam with plateau decay until converged, then optional L-BFGS, for one stage of a stepping
    solver (INSR's initial fit and time steps, each stage of its flow splitting).

    ``config`` has ``lr``, ``patience``, ``decay``, ``min_lr``, ``tol``, ``weight_boundary`` and
    ``compile`` (an :class:`~pdekit.solvers.insr.INSRConfig`).
    """

    def __init__(self, model, config):
        self.model, self.config = model, config
        self.parameters = FlatParameters(model)

    def weighted(self, terms_of) -> LossGradient:
        """``batch -> (total, terms)``, leaving the total's gradient in the parameters: the terms and
        their weighted sum, in one (compilable) function."""
        w = self.config.weight_boundary

        def total_and_terms(batch):
            terms = terms_of(batch)
            total = sum(value * (w if name in ("dirichlet", "periodic") else 1.0) for name, value in terms.items())
            return total, terms

        return LossGradient(self.parameters, total_and_terms, self.config.compile)

    def run(self, gradient: LossGradient, batch_of, iterations: int, lbfgs_iterations: int, describe: str) -> dict:
        """Minimise the total of ``gradient`` (from :meth:`weighted`), a fresh batch ``batch_of(i)`` per iteration."""
        c = self.config
        adam = torch.optim.Adam(self.parameters.tensors, lr=c.lr)
        lr, best, stale, done, value, terms = c.lr, math.inf, 0, 0, math.nan, {}
        for done in range(1, iterations + 1):
            loss, terms = gradient(batch_of(done))
            value = float(loss.detach())
            self._check(value, describe)
            adam.step()
            if value < best:
                best, stale = value, 0
            else:
                stale += 1
            if stale >= c.patience:
                lr, stale = lr * c.decay, 0
                for group in adam.param_groups:
                    group["lr"] = lr
            if lr < c.min_lr or value <= c.tol:
                break
        if lbfgs_iterations:
            batch = batch_of(iterations + 1)
            lbfgs = torch.optim.LBFGS(self.parameters.tensors, lr=1.0, max_iter=lbfgs_iterations, history_size=50,
                                      tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")
            lbfgs.step(lambda: gradient(batch)[0])
            with torch.no_grad():
                loss, terms = gradient.loss(batch)
            value = float(loss)
            self._check(value, describe)
        return {"loss": value, "iterations": done, "lr": lr, **{k: float(v.detach()) for k, v in terms.items()}}

    @staticmethod
    def _check(value: float, describe: str):
        if not math.isfinite(value):
            raise TrainingDiverged(f"{describe}: the loss became {value}. Lower lr, use more iterations, "
                                   "float64 or smaller time steps")


def _fused_adam_works(params) -> bool:
    """Fused Adam (one kernel for all parameters) where this PyTorch supports the device and every
    parameter is real (spectral weights, as in an FNO, are complex and are not fused)."""
    if any(p.is_complex() for p in params):
        return False
    try:
        torch.optim.Adam([torch.zeros(1, device=params[0].device, dtype=params[0].dtype, requires_grad=True)],
                         fused=True)
        return True
    except (RuntimeError, TypeError, ValueError):
        return False


def seeded(seed: int, step: int) -> np.random.Generator:
    """The random generator for collocation points drawn at ``step`` (resume-safe)."""
    return np.random.default_rng([seed, step])
