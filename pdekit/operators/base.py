"""The interface every neural operator shares: ``fit``, ``predict``, ``evaluate``, ``solve``, ``save``/``load``.

An operator learns a Problem's solution map over its input family from a dataset of
:mod:`pdekit.data`.  What the model is trained on is remembered with it (``meta``: the
problem's name and fingerprint, its structure, the grid, the inputs and outputs), so that
``solve(problem)`` can rasterise a new member of the family onto that grid and answer with a
:class:`~pdekit.results.Solution` that ``compare``, ``save`` and the CLI treat like any other.

:class:`GridOperator` is the base of the operators that map fields on a grid to fields on the
same grid (U-Net, MgNO, SineNet's one-step map): subclasses only build their network.
"""

from __future__ import annotations

import dataclasses
import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import xarray as xr

from ..atomic import atomic_write
from ..options import with_options
from ..problem import Initial
from ..problem.inputs import InputFunction
from ..results import GridSolution, versions
from ..solvers.models import parameter_count
from ..solvers.training import resolve_device, resolve_dtype
from .layers import PeriodicPosition
from .losses import LOSSES
from .normaliser import Normalised
from .training import Distribution, OperatorTraining, fit

__all__ = ["NeuralOperator", "GridOperator", "GridTraining", "load"]


class NeuralOperator(ABC):
    """Base class: a config dataclass (``Config``), a network built from the data, one training loop."""

    name: str = "operator"
    Config: type = OperatorTraining

    def __init__(self, config=None, **options):
        base = config if config is not None else self.Config()
        if not isinstance(base, self.Config):
            raise ValueError(f"{type(self).__name__} takes a {self.Config.__name__}, got {type(base).__name__}")
        self.config = with_options(base, options, self.name)
        self.model: Normalised | None = None
        self.meta: dict = {}
        self.history: list[dict] = []
        self.wall_time = 0.0

    # -- what subclasses provide ---------------------------------------------------------------
    @abstractmethod
    def _meta(self, data) -> dict:
        """What the model needs to know of the training data (shapes, names, grid, structure)."""

    @abstractmethod
    def _network(self, meta: dict) -> torch.nn.Module:
        """The network between normalised inputs and outputs."""

    @abstractmethod
    def _tensors(self, data, training: bool) -> tuple[torch.Tensor, ...]:
        """The tensors of a dataset, inputs first, the target last (sample axis first): to train on
        (``training``), or to evaluate on."""

    def _data(self, data):
        """A dataset (path, xarray Dataset or OperatorData) as the :class:`~pdekit.data.OperatorData` this
        operator learns from (``None`` stays ``None``)."""
        return _as_data(data)

    def _batch(self, tensors, index: torch.Tensor) -> list[torch.Tensor]:
        """The samples ``index`` of every tensor (override for tensors shared by all samples)."""
        return [t[index.to(t.device)] for t in tensors]

    @abstractmethod
    def _metrics(self, prediction: torch.Tensor, target: torch.Tensor, coords: dict | None = None) -> dict:
        """Errors of a prediction on a dataset's target (``rel_l2`` first) on the data's grid ``coords``
        (default: the training grid)."""

    # -- shared ------------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return resolve_dtype(self.config.dtype)

    @property
    def device(self) -> torch.device:
        return resolve_device(self.config.device)

    @property
    def n_parameters(self) -> int:
        """Trainable real parameters of the network (a complex one counts twice, as FNO's spectral weights;
        normalisers excluded: they are fitted, not trained)."""
        if self.model is None:
            raise ValueError(f"{type(self).__name__} has no network yet: fit it, or call build(data) first")
        return parameter_count(self.model.network)

    def build(self, data) -> "NeuralOperator":
        """Build the network for a dataset (its shapes and structure) without training."""
        self.meta = self._meta(self._data(data))
        torch.manual_seed(self.config.seed)
        self.model = self._model()
        return self

    def _model(self) -> Normalised:
        """The network for ``self.meta`` between normalisers, in ``self.dtype`` (complex weights, as FNO's
        spectral ones, in the complex type of that precision), on ``self.device``."""
        complex_dtype = {torch.float32: torch.complex64, torch.float64: torch.complex128}[self.dtype]
        model = Normalised(self._full_network(), self.meta["in_channels"], self.meta["out_channels"])
        return model._apply(lambda t: t.to(complex_dtype) if t.is_complex() else
                            t.to(self.dtype) if t.is_floating_point() else t).to(self.device)

    def _full_network(self) -> torch.nn.Module:
        """The network between the normalisers: :meth:`_network` (grid operators add position channels)."""
        return self._network(self.meta)

    def fit(self, data, validation=None, checkpoint=None, resume: bool = False,
            distribution: Distribution | None = None, on_epoch=None) -> "NeuralOperator":
        """Train on ``data`` (a dataset path, xarray Dataset or OperatorData); returns ``self``.

        Args:
            validation: a dataset of the same problem and grid with other seeds; the kept model
                is the one with the lowest validation error (``keep="best"``).
            checkpoint, resume: atomic per-epoch checkpoints; a killed run continues bit for bit.
            on_epoch: ``on_epoch(row)`` after every epoch (see :func:`.training.fit`).
        """
        started = time.perf_counter()
        objective = self._objective(self._data(data))
        check = None
        if validation is not None:
            validation = self._data(validation)
            _check_compatible(self.meta, validation)
            shared = np.intersect1d(objective.seeds, validation.seeds)
            if shared.size:
                raise ValueError(f"the validation data shares {shared.size} seed(s) with the training data (e.g. "
                                 f"{shared[0]}); generate it with split='validation'")
            held = [t.to(self.device) for t in self._tensors(validation, training=False)]

            def check(model):
                return self._metrics(self._forward(model, held[:-1]), held[-1])

        self.history = fit(self.model, objective.batches, objective.size, objective.loss, self.config, validate=check,
                           checkpoint=checkpoint, resume=resume, describe=f"{self.name} on {self.meta['problem']}",
                           distribution=distribution, on_epoch=on_epoch)
        self.wall_time = time.perf_counter() - started
        return self

    def _objective(self, data) -> "Objective":
        """Build the network for ``data``, fit its normalisers, and say what the loop trains on."""
        if data is None:
            raise ValueError(f"{type(self).__name__} learns from data: give a dataset")
        self.build(data)
        tensors = [t.to(self.device) for t in self._tensors(data, training=True)]
        self.model.inputs.fit(tensors[0])
        self.model.outputs.fit(tensors[-1])
        criterion = self._criterion()

        def loss(model, batch):
            return criterion(model(*batch[:-1]), batch[-1])

        return Objective(lambda index: self._batch(tensors, index), len(tensors[0]), loss, data.seeds)

    def _criterion(self):
        if self.config.loss == "h1":
            spacing, periodic = self._grid_spacing()
            return lambda p, t: LOSSES["h1"](p, t, spacing=spacing, periodic=periodic)
        return LOSSES[self.config.loss]

    def _grid_spacing(self, coords: dict | None = None):
        coords, structure = coords if coords is not None else self.meta["coords"], self.meta["structure"]
        axes = [d for d in ("x", "y", "z") if d in coords]
        spacing = tuple(float(coords[d][1] - coords[d][0]) for d in axes)
        periodic = tuple(j in structure["periodic_axes"] for j in range(len(axes)))
        return spacing, periodic

    def _forward(self, model, inputs, batch: int = 100) -> torch.Tensor:
        """The model on ``inputs`` in chunks of ``batch`` samples, without gradients."""
        with torch.no_grad():
            return torch.cat([model(*self._batch(inputs, torch.arange(i, min(i + batch, len(inputs[0])))))
                              for i in range(0, len(inputs[0]), batch)])

    def _ready(self):
        if self.model is None:
            raise ValueError(f"this {type(self).__name__} is not trained: call fit(data) or load a saved one")

    def evaluate(self, data) -> dict:
        """Errors on a dataset (``rel_l2`` mean over samples, and the others of :meth:`_metrics`), on its own
        grid (which may differ from the training grid: zero-shot transfer to another resolution)."""
        self._ready()
        data = self._data(data)
        _check_compatible(self.meta, data)
        tensors = [t.to(self.device) for t in self._tensors(data, training=False)]
        return self._metrics(self._forward(self.model, tensors[:-1]), tensors[-1], coords=data.coords)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path) -> Path:
        """The trained operator (config, network, normalisers, meta, history) in one file, atomically."""
        self._ready()
        payload = {"operator": self.name, "config": dataclasses.asdict(self.config), "meta": self.meta,
                   "state": self.model.state_dict(), "history": self.history, "wall_time": self.wall_time}
        return atomic_write(path, lambda temporary: torch.save(payload, temporary))


class Objective(NamedTuple):
    """What the training loop minimises: ``batches(index) -> batch`` over ``size`` samples, ``loss(model,
    batch) -> scalar``; ``seeds`` of the training samples (no validation sample may share one)."""

    batches: Callable
    size: int
    loss: Callable
    seeds: np.ndarray


def _as_data(data):
    """``None``, or the dataset as :class:`~pdekit.data.OperatorData`."""
    from ..data.views import OperatorData

    return data if data is None or isinstance(data, OperatorData) else OperatorData(data)


def _check_compatible(meta: dict, data):
    problem = data.attrs.get("problem")
    if problem != meta["problem"]:
        raise ValueError(f"this data is of problem {problem!r}; the operator was trained on {meta['problem']!r}")
    for name in ("inputs", "outputs"):
        found = data.input_names if name == "inputs" else data.output_names
        if list(found) != list(meta[name]):
            raise ValueError(f"this data's {name} are {list(found)}; the operator expects {list(meta[name])}")


@dataclass(frozen=True)
class GridTraining(OperatorTraining):
    """Settings of every operator on a grid, beside the training ones.

    Args:
        history: ``0``: map the inputs to the outputs on one grid (a steady problem).  ``h >= 1``:
            learn one time step of an evolution problem from its last ``h`` saved frames (the
            frames as channels), trained on every window of the trajectories and evaluated by
            autoregressive :meth:`GridOperator.rollout` too.
        fields: the output fields to learn, comma-separated (default: all).
        periodic_position: give the network ``cos`` and ``sin`` of the phase along each periodic
            axis as extra input channels (:class:`.layers.PeriodicPosition`): without them a
            circularly padded network cannot place a fixed forcing or coefficient.  ``False``
            keeps the network exactly equivariant to periodic shifts (for a problem that is).
    """

    history: int = 0
    fields: str = ""
    periodic_position: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.history < 0:
            raise ValueError(f"history must be >= 0 (0: no time axis), got {self.history}")


class GridOperator(NeuralOperator):
    """An operator from fields on a grid to fields on the same grid (inputs ``(N, C_in, *grid)``);
    with ``history = h``, from the last ``h`` frames of an evolution to the next one."""

    Config = GridTraining
    #: the network places itself on the grid (FNO's positional embedding): no position channels
    embeds_position = False

    def _full_network(self):
        axes = self.meta["structure"]["periodic_axes"]
        if not self.config.periodic_position or self.embeds_position or not axes:
            return self._network(self.meta)
        dim = self.meta["structure"]["dim"]
        widened = {**self.meta, "in_channels": self.meta["in_channels"] + 2 * len(axes)}
        return PeriodicPosition(self._network(widened), dim, axes)

    def _data(self, data):
        from ..data.views import OperatorData

        if data is None or isinstance(data, OperatorData):
            return data
        fields = [f for f in self.config.fields.split(",") if f] or None
        return OperatorData(data, outputs=fields, inputs=[] if self.config.history else None)

    def _meta(self, data) -> dict:
        evolution = "t" in data.coords
        if evolution and not self.config.history:
            raise ValueError(f"{type(self).__name__} maps fields on a grid to fields on the same grid; "
                             f"{data.attrs.get('problem')}'s outputs have a time axis: give history=h to learn a "
                             "time step from the last h frames (or use DeepONet)")
        if self.config.history and not evolution:
            raise ValueError(f"history={self.config.history} needs an evolution dataset (saved times); "
                             f"{data.attrs.get('problem')}'s has none")
        if self.config.history and self.config.history >= len(data.coords["t"]):
            raise ValueError(f"history={self.config.history} leaves no frame to predict: the data has "
                             f"{len(data.coords['t'])} saved times")
        generation = data.attrs["generation"]
        out_channels = len(data.output_components)
        return {"problem": data.attrs.get("problem"), "problem_fingerprint": data.attrs.get("problem_fingerprint"),
                "structure": generation["structure"], "rasterize": generation["rasterize"],
                "coords": {d: np.asarray(v).tolist() for d, v in data.coords.items()},
                "inputs": list(data.input_names), "outputs": list(data.output_names),
                "output_components": data.output_components, "history": self.config.history,
                "in_channels": self.config.history * out_channels if self.config.history else int(data.input_channels().shape[1]),
                "out_channels": out_channels}

    def _frames(self, data) -> torch.Tensor:
        """The trajectories ``(N, T, C, *grid)`` of an evolution dataset."""
        return torch.as_tensor(np.moveaxis(data.output_channels(), 2, 1).copy(), dtype=self.dtype)

    def _tensors(self, data, training=True):
        if not self.config.history:
            return (torch.as_tensor(data.input_channels(), dtype=self.dtype),
                    torch.as_tensor(data.output_channels(), dtype=self.dtype))
        frames, h = self._frames(data), self.config.history
        windows = frames.unfold(1, h + 1, 1).movedim(-1, 2)  # (N, S, h + 1, C, *grid), S = T - h
        windows = windows.reshape(-1, *windows.shape[2:])
        return windows[:, :h].flatten(1, 2).contiguous(), windows[:, h].contiguous()

    def _metrics(self, prediction, target, coords=None) -> dict:
        spacing, periodic = self._grid_spacing(coords)
        return {"rel_l2": float(LOSSES["l2"](prediction, target)),
                "rel_h1": float(LOSSES["h1"](prediction, target, spacing=spacing, periodic=periodic))}

    def evaluate(self, data) -> dict:
        """Errors on a dataset.  With a history: ``rel_l2``, ``rel_h1`` of one step from true frames,
        and ``rollout_rel_l2`` (the mean over the predicted steps) and ``rollout_rel_l2_last`` of
        :meth:`rollout_errors`."""
        metrics = super().evaluate(data)
        if self.config.history:
            errors = self.rollout_errors(data)
            metrics.update(rollout_rel_l2=float(errors.mean()), rollout_rel_l2_last=float(errors[-1]))
        return metrics

    def rollout_errors(self, data) -> np.ndarray:
        """Per predicted step, the mean over samples of the relative L2 error of a rollout from each
        trajectory's first ``history`` frames to its last (the FNO protocol: 10 frames in, 40 out)."""
        self._ready()
        data = self._data(data)
        _check_compatible(self.meta, data)
        frames = self._frames(data)
        predicted = torch.as_tensor(self.rollout(frames[:, : self.config.history], frames.shape[1] - self.config.history),
                                    dtype=self.dtype)
        truth = frames[:, self.config.history:]
        error = (predicted - truth).flatten(2).norm(dim=2) / truth.flatten(2).norm(dim=2).clamp_min(1e-30)
        return error.mean(dim=0).double().numpy()

    def rollout(self, history, steps: int) -> np.ndarray:
        """``steps`` frames ``(N, steps, C, *grid)`` predicted one after the other from ``history``
        ``(N, h, C, *grid)``, each from the ``h`` frames before it (physical units)."""
        self._ready()
        if not self.config.history:
            raise ValueError(f"this {type(self).__name__} has no history: it maps inputs to outputs, it does not step")
        frames = torch.as_tensor(np.asarray(history), dtype=self.dtype, device=self.device)
        h, c = self.config.history, self.meta["out_channels"]
        if frames.ndim != 3 + self.meta["structure"]["dim"] or frames.shape[1:3] != (h, c):
            raise ValueError(f"history must have shape (N, {h}, {c}, *grid), got {tuple(frames.shape)}")
        predicted = []
        for _ in range(steps):
            following = self._forward(self.model, [frames.flatten(1, 2)])
            predicted.append(following)
            frames = torch.cat([frames[:, 1:], following[:, None]], dim=1)
        return torch.stack(predicted, dim=1).double().cpu().numpy()

    def predict(self, inputs) -> np.ndarray:
        """Outputs ``(N, C_out, *grid)`` for input channels ``(N, C_in, *grid)`` (NumPy or torch, physical units)."""
        self._ready()
        x = torch.as_tensor(np.asarray(inputs), dtype=self.dtype, device=self.device)
        if x.ndim != 2 + self.meta["structure"]["dim"] or x.shape[1] != self.meta["in_channels"]:
            raise ValueError(f"inputs must have shape (N, {self.meta['in_channels']}, *grid) "
                             f"({self.meta['structure']['dim']} grid axes), got {tuple(x.shape)}")
        return self._forward(self.model, [x]).double().cpu().numpy()

    def solve(self, problem, history=None) -> GridSolution:
        """The prediction for one member of the trained family, as a Solution on the training grid.

        With a history, the Solution covers the training times: the first ``h`` frames are
        ``history`` (``(h, C, *grid)``; by default the initial value, when ``h = 1``), the rest
        the rollout from them.
        """
        self._ready()
        if problem.name != self.meta["problem"]:
            raise ValueError(f"this operator was trained on {self.meta['problem']!r}, not {problem.name!r}")
        coords = {d: np.asarray(v) for d, v in self.meta["coords"].items()}
        space = {d: v for d, v in coords.items() if d != "t"}
        started = time.perf_counter()
        if self.config.history:
            frames = self._initial_frames(problem, space) if history is None else np.asarray(history, dtype=float)
            values = np.concatenate([frames, self.rollout(frames[None], len(coords["t"]) - self.config.history)[0]])
            values = np.moveaxis(values, 1, 0)  # (C, T, *grid)
        else:
            shape = tuple(len(v) for v in space.values())
            channels = [value.on_grid(space)[None] if isinstance(value, InputFunction)
                        else np.full((1, *shape), float(value))
                        for value in (problem.params[name] for name in self.meta["inputs"])]
            values = self.predict(np.concatenate(channels)[None])[0]
        elapsed = time.perf_counter() - started
        dims = tuple(coords)
        params = {k: v for k, v in problem.params.items() if isinstance(v, (int, float, str))}
        attrs = {"problem": problem.name, "description": problem.description, "params": json.dumps(params),
                 "solver": self.name, "config": json.dumps(dataclasses.asdict(self.config)),
                 "versions": json.dumps(versions()), "wall_time_s": elapsed}
        dataset = xr.Dataset({name: (dims, values[i]) for i, name in enumerate(self.meta["output_components"])},
                             coords=coords, attrs=attrs)
        return GridSolution(dataset, problem)

    def _initial_frames(self, problem, space: dict) -> np.ndarray:
        """``(1, C, *grid)``: the problem's initial values of the learnt fields on the grid."""
        if self.config.history != 1:
            raise ValueError(f"a rollout from the initial value alone needs history=1; this operator reads "
                             f"{self.config.history} frames: pass history=(h, C, *grid) frames (e.g. from the reference)")
        from ..results import grid_points

        points = grid_points(space)
        t0 = problem.time.t0
        x = points.T
        initial = {c.field: c for c in problem.conditions_of(Initial) if c.derivative == 0}
        channels = []
        for name in self.meta["outputs"]:
            condition = initial.get(name) or initial.get(None)
            if condition is None:
                raise ValueError(f"{problem.name!r} has no initial value for {name!r}; pass history= frames")
            value = problem.value_of(condition.value, x, t0)
            rows = [value] if problem.component_slice(name).stop - problem.component_slice(name).start == 1 \
                else list(value)
            channels += [np.broadcast_to(np.asarray(row, dtype=float), (len(points),)) for row in rows]
        shape = tuple(len(v) for v in space.values())
        return np.stack(channels).reshape(1, len(channels), *shape)


def load(path) -> NeuralOperator:
    """A saved operator, ready to predict."""
    from . import OPERATORS

    payload = torch.load(path, map_location="cpu", weights_only=False)
    name = payload.get("operator")
    if name not in OPERATORS:
        raise ValueError(f"{path} holds an unknown operator {name!r}; known operators: {', '.join(OPERATORS)}")
    cls = OPERATORS[name]
    operator = cls(cls.Config(**payload["config"]))
    operator.meta, operator.history, operator.wall_time = payload["meta"], payload["history"], payload["wall_time"]
    operator.model = operator._model()
    operator.model.load_state_dict(payload["state"])
    operator.model.eval()
    return operator
