"""torch Datasets over an operator dataset: the three views operators learn from.

* :class:`GridPairs`: input channels and output channels on the grid, per sample (operators on
  grids: U-Net, MgNO, FNO).
* :class:`PointTriplets`: the input at sensors, one query point, the value there (DeepONet);
  :meth:`PointTriplets.cartesian` gives the aligned form (all points of every sample).
* :class:`TimeWindows`: a history of ``h`` saved steps and the next step (autoregressive models).

Arrays are channel-first (``(C, *grid)``) as torch's convolutions expect; the stored layout is
channel-last (``(sample, [t,] *grid, component)``).  Each view loads its arrays once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .layout import decode_attributes, open_dataset

__all__ = ["OperatorData", "GridPairs", "PointTriplets", "TimeWindows"]

SPACE = ("x", "y", "z")


class OperatorData:
    """The arrays of a dataset file in memory, split by role.

    Args:
        data: a dataset path or an :class:`xarray.Dataset` from :func:`pdekit.data.open`.
        outputs: output fields to use (default: all).
        inputs: input functions and scalar parameters to use (default: all).
    """

    def __init__(self, data, outputs=None, inputs=None):
        dataset = open_dataset(data) if isinstance(data, (str, Path)) else data
        if not isinstance(dataset, xr.Dataset):
            raise ValueError(f"expected a dataset path or an xarray Dataset, got {type(data).__name__}")
        roles = {name: dataset[name].attrs.get("role") for name in dataset.data_vars}
        self.attrs = decode_attributes(dataset.attrs)
        self.output_names = _pick(outputs, [n for n, r in roles.items() if r == "output"], "output field")
        available = [n for n, r in roles.items() if r in ("input", "parameter")]
        self.input_names = _pick(inputs, available, "input")
        self.seeds = dataset["seed"].values.astype(np.int64)
        self.coords = {d: dataset[d].values for d in ("t", *SPACE) if d in dataset.coords or d in dataset.variables}
        self.space = [d for d in SPACE if d in self.coords]
        self.outputs = {n: np.asarray(dataset[n].values, dtype=np.float32) for n in self.output_names}
        self.grid_inputs = {n: np.asarray(dataset[n].values, dtype=np.float32) for n in self.input_names
                            if roles[n] == "input"}
        self.scalars = {n: np.asarray(dataset[n].values, dtype=np.float32) for n in self.input_names
                        if roles[n] == "parameter"}
        if isinstance(data, (str, Path)):
            dataset.close()

    def __len__(self):
        return len(self.seeds)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(len(self.coords[d]) for d in self.space)

    def input_channels(self) -> np.ndarray:
        """``(N, C_in, *grid)``: the input functions' components, then each scalar as a constant channel."""
        channels = [np.moveaxis(values, -1, 1) for values in self.grid_inputs.values()]
        channels += [np.broadcast_to(values.reshape(-1, 1, *(1,) * len(self.space)),
                                     (len(self), 1, *self.spatial_shape)) for values in self.scalars.values()]
        if not channels:
            raise ValueError("the dataset has no inputs to learn from")
        return np.concatenate(channels, axis=1).astype(np.float32)

    def output_channels(self) -> np.ndarray:
        """``(N, C_out, [t,] *grid)``: the output fields' components."""
        return np.concatenate([np.moveaxis(v, -1, 1) for v in self.outputs.values()], axis=1)

    @property
    def output_components(self) -> list[str]:
        """The names of the output channels, in order (``u`` or ``v_0, v_1``)."""
        names = []
        for name, values in self.outputs.items():
            c = values.shape[-1]
            names += [name] if c == 1 else [f"{name}_{i}" for i in range(c)]
        return names


def _pick(chosen, available, what) -> list[str]:
    if chosen is None:
        return list(available)
    chosen = [chosen] if isinstance(chosen, str) else list(chosen)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise ValueError(f"unknown {what} {unknown[0]!r}; this dataset has: {', '.join(available) or '(none)'}")
    return chosen


class GridPairs(torch.utils.data.Dataset):
    """``(inputs (C_in, *grid), outputs (C_out, [t,] *grid))`` per sample."""

    def __init__(self, data, outputs=None, inputs=None, dtype=torch.float32):
        self.data = data if isinstance(data, OperatorData) else OperatorData(data, outputs, inputs)
        self.inputs = torch.as_tensor(self.data.input_channels(), dtype=dtype)
        self.outputs = torch.as_tensor(self.data.output_channels(), dtype=dtype)

    def __len__(self):
        return len(self.inputs)

    def __getitem__(self, index):
        return self.inputs[index], self.outputs[index]


class PointTriplets(torch.utils.data.Dataset):
    """``(branch input (m * C_in + scalars,), query point (D,), value (C_out,))`` items.

    Args:
        data: a dataset path, xarray Dataset or :class:`OperatorData`.
        sensors: number of sensors, evenly spaced over each input's grid (default: every node);
            or an explicit array of grid indices per spatial axis (1D: a list of indices).
        points_per_sample: query points drawn per sample (seeded by ``seed`` and the sample's
            seed; unaligned data); ``None``: every grid point (aligned data).
        seed: the draw of query points.

    Query points are ``(space..., t)``: space first, time last, as everywhere in pdekit.
    """

    def __init__(self, data, sensors=None, points_per_sample: int | None = None, seed: int = 0, outputs=None,
                 inputs=None, dtype=torch.float32):
        self.data = data if isinstance(data, OperatorData) else OperatorData(data, outputs, inputs)
        self.branch = torch.as_tensor(branch_inputs(self.data, sensors), dtype=dtype)  # (N, m)
        outputs = self.data.output_channels()  # (N, C, [t,] *grid)
        grid = [self.data.coords[d] for d in (["t"] if "t" in self.data.coords else []) + self.data.space]
        mesh = np.meshgrid(*grid, indexing="ij")
        points = np.stack([m.ravel() for m in mesh], axis=1)  # (P, D) in stored order (t first)
        if "t" in self.data.coords:
            points = np.concatenate([points[:, 1:], points[:, :1]], axis=1)  # space first, time last
        self.points = torch.as_tensor(points, dtype=dtype)
        self.values = torch.as_tensor(outputs.reshape(len(outputs), outputs.shape[1], -1).transpose(0, 2, 1),
                                      dtype=dtype)  # (N, P, C)
        total = self.points.shape[0]
        if points_per_sample is None:
            self.index = None
        else:
            if not 1 <= points_per_sample <= total:
                raise ValueError(f"points_per_sample must be between 1 and the {total} grid points, got {points_per_sample}")
            self.index = np.stack([np.random.default_rng([seed, int(s)]).choice(total, points_per_sample, replace=False)
                                   for s in self.data.seeds])

    def __len__(self):
        per = self.points.shape[0] if self.index is None else self.index.shape[1]
        return len(self.branch) * per

    def __getitem__(self, item):
        per = self.points.shape[0] if self.index is None else self.index.shape[1]
        sample, k = divmod(int(item), per)
        point = k if self.index is None else int(self.index[sample, k])
        return self.branch[sample], self.points[point], self.values[sample, point]

    def cartesian(self):
        """The aligned form: ``branch (N, m)``, ``trunk points (P, D)``, ``values (N, P, C)``."""
        return self.branch, self.points, self.values


def branch_inputs(data: OperatorData, sensors=None) -> np.ndarray:
    """``(N, m * C + scalars)``: every input function at the sensors, then the scalar inputs."""
    columns = []
    for values in data.grid_inputs.values():  # (N, *grid, C)
        index = sensor_index(values.shape[1:-1], sensors)
        picked = values[(slice(None), *np.ix_(*index))]
        columns.append(picked.reshape(len(values), -1))
    columns += [values[:, None] for values in data.scalars.values()]
    if not columns:
        raise ValueError("the dataset has no inputs to learn from")
    return np.concatenate(columns, axis=1).astype(np.float32)


def sensor_index(shape: tuple, sensors=None) -> list[np.ndarray]:
    """Grid indices of the sensors along each axis: all nodes, ``m`` evenly spaced per axis, or given."""
    if sensors is None:
        return [np.arange(n) for n in shape]
    if isinstance(sensors, (int, np.integer)):
        if not 2 <= sensors <= min(shape):
            raise ValueError(f"sensors must be between 2 and the grid's {min(shape)} nodes per axis, got {sensors}")
        return [np.unique(np.round(np.linspace(0, n - 1, sensors)).astype(int)) for n in shape]
    index = [np.asarray(sensors, dtype=int)] if len(shape) == 1 and np.ndim(sensors) == 1 else \
        [np.asarray(s, dtype=int) for s in sensors]
    for axis, (i, n) in enumerate(zip(index, shape)):
        if len(i) == 0 or i.min() < 0 or i.max() >= n:
            raise ValueError(f"sensor indices along axis {axis} must lie in 0..{n - 1}")
    return index


class TimeWindows(torch.utils.data.Dataset):
    """``(history (h * C, *grid), next step (C, *grid))`` over every sample and start time.

    Channels of the history are time-major: the ``C`` components at the first step, then the
    next step's, and so on.  ``starts`` limits the start times (e.g. ``range(0, 10)`` for the
    first steps only).
    """

    def __init__(self, data, history: int, outputs=None, starts=None, dtype=torch.float32):
        self.data = data if isinstance(data, OperatorData) else OperatorData(data, outputs, inputs=[])
        if "t" not in self.data.coords:
            raise ValueError("time windows need an evolution dataset (with saved times)")
        frames = self.data.output_channels()  # (N, C, T, *grid)
        self.frames = torch.as_tensor(np.moveaxis(frames, 2, 1), dtype=dtype)  # (N, T, C, *grid)
        steps = self.frames.shape[1]
        if not 1 <= history < steps:
            raise ValueError(f"history must be between 1 and {steps - 1} (the dataset has {steps} saved times)")
        self.history = history
        valid = range(steps - history)
        self.starts = list(valid if starts is None else starts)
        if any(s not in valid for s in self.starts):
            raise ValueError(f"start times must lie in 0..{steps - history - 1}")

    def __len__(self):
        return len(self.frames) * len(self.starts)

    def __getitem__(self, item):
        sample, k = divmod(int(item), len(self.starts))
        start = self.starts[k]
        window = self.frames[sample, start: start + self.history]
        return window.reshape(-1, *window.shape[2:]), self.frames[sample, start + self.history]
