"""Solutions: callable on points, convertible to labelled xarray data, saved as netCDF4/HDF5.

Every solver (the FEniCS reference, neural fields, neural operators) returns a
:class:`Solution`, so comparison, plotting and the CLI treat them alike.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
import sys
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import xarray as xr
from scipy.interpolate import RegularGridInterpolator

from .atomic import atomic_write

__all__ = ["Solution", "FunctionSolution", "GridSolution", "load", "save_dataset", "default_grid", "versions",
           "interpolation_error"]

AXES = ("x", "y", "z")
DEFAULT_RESOLUTION = {1: 256, 2: 101, 3: 33}
DEFAULT_TIMES = 101


def versions() -> dict[str, str]:
    """Versions of Python and the packages a result depends on (those installed)."""
    found = {"python": platform.python_version()}
    for name, dists in {"pdekit": ["pdekit"], "numpy": ["numpy"], "torch": ["torch"], "xarray": ["xarray"],
                        "dolfinx": ["fenics-dolfinx", "dolfinx"]}.items():
        for dist in dists:
            try:
                found[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
        else:
            module = sys.modules.get(name)
            if module is not None and hasattr(module, "__version__"):
                found[name] = str(module.__version__)
    return found


def default_grid(problem, resolution: int | None = None, times: int | None = None) -> dict[str, np.ndarray]:
    """Evaluation coordinates: a regular grid over the bounding box, and times for evolution."""
    n = resolution or DEFAULT_RESOLUTION[problem.dim]
    coords = {AXES[j]: np.linspace(problem.geometry.lower[j], problem.geometry.upper[j], n) for j in range(problem.dim)}
    if problem.is_evolution:
        coords = {"t": np.linspace(problem.time.t0, problem.time.t1, times or DEFAULT_TIMES), **coords}
    return coords


def grid_points(coords: dict[str, np.ndarray]) -> np.ndarray:
    """All grid points, ``(N, input_dim)`` with space first and time last, in C order of the dims."""
    mesh = np.meshgrid(*coords.values(), indexing="ij")
    names = list(coords)
    columns = [mesh[names.index(axis)].ravel() for axis in AXES if axis in coords]  # x, y, z in any dim order
    if "t" in coords:
        columns.append(mesh[names.index("t")].ravel())
    return np.stack(columns, axis=1)


class Solution(ABC):
    """A solution of a Problem, evaluable at ``(N, input_dim)`` points (space first, time last).

    Attributes:
        problem: the :class:`~pdekit.problem.Problem` solved (may be ``None`` for loaded data
            whose problem is not a registered case).
        solver: name of the method that produced it.
        config: the settings used, as a JSON-able dict.
        wall_time: seconds spent solving.
    """

    def __init__(self, problem, solver: str, config: dict | None = None, wall_time: float = 0.0):
        self.problem = problem
        self.solver = solver
        self.config = dict(config or {})
        self.wall_time = float(wall_time)

    @property
    def components(self) -> tuple[str, ...]:
        return self.problem.components

    @abstractmethod
    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Values ``(N, n_components)`` at ``(N, input_dim)`` points."""

    def grid(self, resolution: int | None = None, times: int | None = None) -> dict[str, np.ndarray]:
        """The coordinates :meth:`to_xarray` uses when given none (here :func:`default_grid`)."""
        if self.problem is None:
            raise ValueError("this solution has no problem to take a default grid from; give coords")
        return default_grid(self.problem, resolution, times)

    def to_xarray(self, coords: dict[str, np.ndarray] | None = None, resolution: int | None = None,
                  times: int | None = None) -> xr.Dataset:
        """The solution on a grid as a Dataset named after the fields (NaN outside the domain).

        Args:
            coords: explicit coordinates (``t`` first, then ``x, y, z``); else :meth:`grid`.
            resolution: points per spatial axis of the default grid.
            times: number of times of the default grid.
        """
        if coords is None:
            coords = self.grid(resolution, times)
        points = grid_points(coords)
        values = np.asarray(self(points), dtype=float)
        if self.problem is not None:
            inside = self.problem.geometry.contains(points[:, : self.problem.dim])
            values[~inside] = np.nan
        shape = tuple(len(c) for c in coords.values())
        data = {name: (tuple(coords), values[:, i].reshape(shape)) for i, name in enumerate(self.components)}
        return xr.Dataset(data, coords=coords, attrs=self.attributes())

    def attributes(self) -> dict:
        """Metadata stored with the data: problem, parameters, solver, config, versions, time."""
        params = {k: v for k, v in self.problem.params.items() if isinstance(v, (int, float, str))}
        return {
            "problem": self.problem.name,
            "description": self.problem.description,
            "params": json.dumps(params),
            "solver": self.solver,
            "config": json.dumps(self.config, default=repr),
            "versions": json.dumps(versions()),
            "wall_time_s": self.wall_time,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }

    def save(self, path, **grid) -> Path:
        """Write :meth:`to_xarray` to ``path`` (netCDF4/HDF5), atomically, with the
        :func:`interpolation_error` of the grid as the attribute ``interpolation_error``."""
        dataset = self.to_xarray(**grid)
        dataset.attrs["interpolation_error"] = json.dumps(interpolation_error(self, dataset))
        return save_dataset(dataset, path)


class FunctionSolution(Solution):
    """A Solution backed by a function of points (an exact solution, a trained network)."""

    def __init__(self, problem, function, solver: str, config: dict | None = None, wall_time: float = 0.0):
        super().__init__(problem, solver, config, wall_time)
        self._function = function

    def __call__(self, points):
        points = np.asarray(points, dtype=float)
        self.problem.split_points(points)  # shape check with a clear message
        return np.asarray(self._function(points), dtype=float).reshape(len(points), -1)


class GridSolution(Solution):
    """A Solution given by values on a grid (a loaded result), interpolated multilinearly."""

    def __init__(self, dataset: xr.Dataset, problem=None):
        attrs = dataset.attrs
        super().__init__(problem, attrs.get("solver", "unknown"), json.loads(attrs.get("config", "{}")),
                         attrs.get("wall_time_s", 0.0))
        self.dataset = dataset
        self._fields = [name for name in dataset.data_vars]
        self._dims = [d for d in AXES if d in dataset.dims] + (["t"] if "t" in dataset.dims else [])

    @property
    def components(self):
        return tuple(self._fields)

    def __call__(self, points):
        points = np.asarray(points, dtype=float)
        if points.ndim != 2 or points.shape[1] != len(self._dims):
            raise ValueError(f"points must have shape (N, {len(self._dims)}) ordered {self._dims}, got {points.shape}")
        axes = [self.dataset[d].values for d in self._dims]
        points = points.copy()
        for j, axis in enumerate(axes):  # a coordinate a rounding error outside the grid is on its edge
            tolerance = 1e-9 * (axis[-1] - axis[0])
            near = (points[:, j] >= axis[0] - tolerance) & (points[:, j] <= axis[-1] + tolerance)
            points[near, j] = np.clip(points[near, j], axis[0], axis[-1])
        out = []
        for name in self._fields:
            values = self.dataset[name].transpose(*self._dims).values
            finite = np.isfinite(values)
            interpolate = RegularGridInterpolator(axes, np.where(finite, values, 0.0), bounds_error=False,
                                                  fill_value=np.nan)
            result = interpolate(points)
            if not finite.all():  # NaN (outside the domain) only where a NaN node has weight, not beside it
                on_nan = RegularGridInterpolator(axes, (~finite).astype(float), bounds_error=False, fill_value=0.0)
                result[on_nan(points) > 1e-10] = np.nan
            out.append(result)
        return np.stack(out, axis=1)

    def to_xarray(self, coords=None, resolution=None, times=None):
        if coords is None and resolution is None and times is None:
            return self.dataset
        return super().to_xarray(coords, resolution, times)

    def attributes(self):
        return dict(self.dataset.attrs)


def interpolation_error(solution: Solution, dataset: xr.Dataset, max_times: int = 10) -> dict[str, float]:
    """How far linear interpolation of ``dataset`` (``solution`` on a grid) is from ``solution`` itself.

    Per field, the relative L2 difference at the centres of the grid's cells (at up to
    ``max_times`` of them along time, evenly spread), where interpolation errs most: what a
    reader of the saved grid loses against the solution that wrote it.
    """
    centres = {}
    for dim in dataset.dims:
        axis = dataset[dim].values
        middle = 0.5 * (axis[1:] + axis[:-1]) if len(axis) > 1 else axis
        if dim == "t" and len(middle) > max_times:
            middle = middle[np.linspace(0, len(middle) - 1, max_times).round().astype(int)]
        centres[dim] = middle
    points = grid_points(centres)
    exact = np.asarray(solution(points), dtype=float)
    interpolated = GridSolution(dataset)(points)
    keep = np.all(np.isfinite(exact), axis=1) & np.all(np.isfinite(interpolated), axis=1)
    if solution.problem is not None:
        keep &= solution.problem.geometry.contains(points[:, : solution.problem.dim])
    errors = {}
    for i, name in enumerate(dataset.data_vars):
        norm = np.linalg.norm(exact[keep, i])
        errors[name] = float(np.linalg.norm(interpolated[keep, i] - exact[keep, i]) / norm) if norm else 0.0
    return errors


def save_dataset(dataset: xr.Dataset, path) -> Path:
    """Write ``dataset`` as netCDF4/HDF5 to ``path``, atomically (an interrupted write leaves no file)."""
    return atomic_write(path, lambda temporary: dataset.to_netcdf(temporary, engine="h5netcdf", invalid_netcdf=False))


def load(path) -> GridSolution:
    """Load a saved result; its problem is rebuilt when it is a registered case."""
    dataset = xr.load_dataset(path, engine="h5netcdf")
    problem = None
    from .pde_cases import CASES, get_case

    name = dataset.attrs.get("problem")
    if name in CASES:
        params = json.loads(dataset.attrs.get("params", "{}"))
        known = get_case(name).params
        problem = get_case(name, **{k: v for k, v in params.items() if k in known})
    return GridSolution(dataset, problem)
