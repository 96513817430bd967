"""The training loop every neural operator shares.

Mini-batches drawn in an order fixed by ``(seed, epoch)`` (a full batch is built once), AdamW
(fused where the device allows, on the parameters flattened into one buffer) with a schedule
stepped per iteration (OneCycle, cosine with warm-up, step, constant), validation each epoch with
the best model kept, a history, atomic checkpoints at epoch ends (a killed run resumes bit for bit
on CPU), a clean stop on a non-finite loss, ``torch.compile`` of the loss and its gradient as one
graph (with a fallback to eager), a stop at any step on a preemption signal (checkpoint first),
and a :class:`Distribution` hook through which a data-parallel run shards the batches, wraps the
model and averages the metrics without another loop.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from ..atomic import atomic_write
from ..batch import preemption
from ..options import config_from_options
from ..solvers.flat_parameters import FlatParameters, LossGradient
from ..solvers.training import TrainingDiverged, _fused_adam_works, resolve_device, resolve_dtype
from .losses import LOSSES

__all__ = ["OperatorTraining", "Distribution", "fit", "SCHEDULES"]

SCHEDULES = ("onecycle", "cosine", "step", "constant")


@dataclass(frozen=True)
class OperatorTraining:
    """The settings every neural operator's config shares (its own fields come after these).

    Args:
        epochs, batch_size: passes over the training data and samples per step.
        lr, weight_decay: AdamW.
        schedule: ``onecycle`` (peak ``lr``), ``cosine`` (linear warm-up over the first
            ``warmup`` fraction of steps, then cosine to 0), ``step`` (times ``gamma`` every
            ``step_size`` epochs) or ``constant``; stepped every iteration.
        loss: ``l2`` or ``h1``, relative, per sample, or ``mse`` (see :mod:`.losses`).
        keep: ``best`` (the epoch with the lowest validation error) or ``last``.
        grad_clip: largest gradient norm (0: no clipping).
        dtype, device, seed, compile: numerics and speed.
        checkpoint_every: epochs between checkpoints.
        time_budget: stop after the epoch that exceeds this many seconds (0: no limit).
        progress: show a progress bar (``None``: when writing to a terminal).
    """

    epochs: int = 100
    batch_size: int = 20
    lr: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "onecycle"
    warmup: float = 0.05
    step_size: int = 100
    gamma: float = 0.5
    loss: str = "l2"
    keep: str = "best"
    grad_clip: float = 0.0
    dtype: str = "float32"
    device: str = "auto"
    seed: int = 0
    compile: bool = False
    checkpoint_every: int = 1
    time_budget: float = 0.0
    progress: bool | None = None

    def __post_init__(self):
        resolve_dtype(self.dtype)
        resolve_device(self.device)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid schedules: {', '.join(SCHEDULES)}")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; valid losses: {', '.join(LOSSES)}")
        if self.keep not in ("best", "last"):
            raise ValueError(f"unknown keep {self.keep!r}; valid choices: best, last")
        if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ValueError("epochs, batch_size and checkpoint_every must be >= 1")

    @classmethod
    def from_options(cls, **options):
        """A config from keyword options; CLI strings are converted (errors name the operator)."""
        return config_from_options(cls, options, cls.__name__.removesuffix("Config"))


class Distribution:
    """How one process takes part in training: here, all of it.

    Each epoch's order is that of a :class:`torch.utils.data.DistributedSampler` (a permutation
    fixed by ``seed + epoch``) and this process takes its share of every global batch, so a
    data-parallel run (:class:`pdekit.batch.distributed.TorchDistributed` under torchrun, which
    also wraps the model in DistributedDataParallel and averages metrics over ranks) takes the
    same steps as one process with the same global batch.
    """

    rank, world = 0, 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def order(self, size: int, seed: int, epoch: int) -> torch.Tensor:
        """This process's indices of the epoch, in the order its batches take them."""
        sampler = torch.utils.data.DistributedSampler(range(size), num_replicas=self.world, rank=self.rank,
                                                      shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
        return torch.as_tensor(list(sampler))

    def local_batch(self, batch_size: int) -> int:
        """Samples per step on this process (the global batch split over the processes)."""
        if batch_size % self.world:
            raise ValueError(f"batch_size {batch_size} does not split over {self.world} processes")
        return batch_size // self.world

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        return model

    def average(self, value: float) -> float:
        return value


def _schedule(optimizer, config: OperatorTraining, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total)
    if config.schedule == "cosine":
        warm = max(1, int(config.warmup * total))
        factor = lambda k: (k + 1) / warm if k < warm else 0.5 * (1 + math.cos(math.pi * (k - warm) / max(1, total - warm)))  # noqa: E731
    elif config.schedule == "step":
        factor = lambda k: config.gamma ** (k // (config.step_size * steps_per_epoch))  # noqa: E731
    else:
        factor = lambda k: 1.0  # noqa: E731
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(model: torch.nn.Module, batches, size: int, loss: Callable, config: OperatorTraining, *,
        validate: Callable[[torch.nn.Module], dict] | None = None, checkpoint: str | Path | None = None,
        resume: bool = False, describe: str = "training", distribution: Distribution | None = None,
        on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``model`` and return the history (one row per epoch).

    Args:
        model: the network (in physical units; its normalisers already fitted).
        batches: ``batches(indices) -> batch`` for a tensor of sample indices.
        size: number of training samples.
        loss: ``loss(model, batch) -> scalar tensor``.
        config: :class:`OperatorTraining`.
        validate: ``validate(model) -> {"rel_l2": ..., ...}`` on the validation data, each epoch;
            the best model is chosen by its ``rel_l2`` (without it: by the training loss).
        checkpoint: file for checkpoints; an existing one is continued only with ``resume=True``.
        distribution: see :class:`Distribution`.
        on_epoch: called with each epoch's history row; the time it takes is not training time (so
            runs that take turns epoch by epoch, as a benchmark's contenders do, time only their own work).

    On return the model holds the kept parameters (``config.keep``).
    """
    distribution = distribution or Distribution()
    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists() and not resume:
        raise ValueError(f"checkpoint {path} exists: pass resume=True to continue it, or remove it")
    local = distribution.local_batch(config.batch_size)
    parameters = FlatParameters(model)  # the optimiser updates one tensor per dtype
    trained = distribution.wrap(model)
    fused = {"fused": True} if _fused_adam_works(parameters.tensors) else {}  # one kernel for all of them
    optimizer = torch.optim.AdamW(parameters.tensors, lr=config.lr, weight_decay=config.weight_decay, **fused)
    scheduler = _schedule(optimizer, config, math.ceil(size / config.batch_size))
    # compiled: loss and gradient in one graph (not under a distributed wrapper, whose hooks reduce the gradients)
    gradient = LossGradient(parameters, lambda batch: loss(trained, batch), config.compile and trained is model)
    # "steps" and "running": the global batches done in the current epoch and their summed loss
    state = {"epoch": 0, "steps": 0, "running": 0.0, "elapsed": 0.0, "history": [], "best": None}
    if resume and path is not None and path.exists():
        saved = torch.load(path, map_location=next(model.parameters()).device, weights_only=False)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = {key: saved[key] for key in state}
    whole = None  # full-batch training: one step sees every sample, so the batch is built once
    if config.batch_size >= size:
        order = distribution.order(size, config.seed, 0)
        whole = batches(order)
    show = distribution.is_main and (sys.stderr.isatty() if config.progress is None else config.progress)
    bar = tqdm(total=config.epochs, initial=state["epoch"], desc=describe, unit="epoch", disable=not show)
    started = time.perf_counter() - state["elapsed"]

    def save():
        if path is not None and distribution.is_main:
            state["elapsed"] = time.perf_counter() - started
            _save(path, model, optimizer, scheduler, state)

    try:
        while state["epoch"] < config.epochs:
            epoch = state["epoch"]
            if whole is None:
                order = distribution.order(size, config.seed, epoch)
            if not model.training:  # (setting the mode walks every module: not for nothing each epoch)
                model.train()
            for start in range(state["steps"] * local, len(order), local):
                value = gradient(whole if whole is not None else batches(order[start: start + local]))
                if config.grad_clip:
                    torch.nn.utils.clip_grad_norm_(parameters.tensors, config.grad_clip)
                optimizer.step()
                scheduler.step()
                state["running"] += float(value.detach())
                state["steps"] += 1
                preemption.check(f"in epoch {epoch + 1} after {state['steps']} steps", save)
            train_loss = distribution.average(state["running"] / max(1, state["steps"]))
            state["steps"], state["running"] = 0, 0.0
            if not math.isfinite(train_loss):
                raise TrainingDiverged(f"{describe}: the training loss became {train_loss} in epoch {epoch + 1}"
                                       f"{_kept(path)}. Lower the learning rate or check the data's scales.")
            row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": optimizer.param_groups[0]["lr"]}
            if validate is not None:
                model.eval()
                with torch.no_grad():
                    row.update({f"val_{k}": distribution.average(v) for k, v in validate(model).items()})
            state["elapsed"] = time.perf_counter() - started
            row["wall_time"] = state["elapsed"]
            state["history"].append(row)
            score = row.get("val_rel_l2", train_loss)
            if config.keep == "best" and (state["best"] is None or score < state["best"]["score"]):
                state["best"] = {"score": score, "epoch": epoch + 1,
                                 "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
            state["epoch"] = epoch + 1
            bar.update(1)
            bar.set_postfix({k: f"{v:.3e}" for k, v in row.items() if k in ("train_loss", "val_rel_l2")})
            out_of_time = bool(config.time_budget) and state["elapsed"] >= config.time_budget
            if state["epoch"] % config.checkpoint_every == 0 or state["epoch"] == config.epochs or out_of_time:
                save()
            if on_epoch is not None:
                paused = time.perf_counter()
                on_epoch(row)
                started += time.perf_counter() - paused
            if out_of_time:
                break
    finally:
        bar.close()
    if config.keep == "best" and state["best"] is not None:
        model.load_state_dict(state["best"]["model"])
    model.eval()
    return state["history"]


def _save(path: Path, model, optimizer, scheduler, state: dict):
    payload = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "scheduler": scheduler.state_dict(), **state}
    atomic_write(path, lambda temporary: torch.save(payload, temporary))


def _kept(path) -> str:
    if path is not None and path.exists():
        epoch = torch.load(path, map_location="cpu", weights_only=False)["epoch"]
        return f"; the last good checkpoint (epoch {epoch}) is kept at {path}"
    return "; no checkpoint had been written"
