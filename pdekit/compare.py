"""Compare any Solution with a reference: errors as xarray, a printable table, a figure."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from .results import GridSolution, Solution, default_grid

__all__ = ["compare", "Comparison", "relative_l2", "interpolation_estimate"]

# an interpolation error of at least this fraction of the reported error is the larger part of it (errors
# adding in quadrature): the comparison then says so
DOMINANT = 2**-0.5


def relative_l2(values, reference, dims=None, inside=None):
    """``||values - reference|| / ||reference||`` over ``dims`` (all by default), on the points
    ``inside`` (a boolean array: the problem's domain; default: where the reference has a value).
    Points outside are left out; a missing (NaN) value inside makes the error NaN, so a solution
    that fails somewhere never reads as accurate."""
    inside = reference.notnull() if inside is None else inside
    error = ((values - reference) ** 2).where(inside, 0.0).sum(dim=dims, skipna=False)
    norm = (reference**2).where(inside, 0.0).sum(dim=dims, skipna=False)
    return np.sqrt(error / norm)


def _domain(problem, coords: dict) -> xr.DataArray | None:
    """Whether each point of the grid ``coords`` lies in ``problem``'s geometry (``None``: no problem)."""
    if problem is None:
        return None
    space = {d: np.asarray(v) for d, v in coords.items() if d != "t"}
    grids = dict(zip(space, np.meshgrid(*space.values(), indexing="ij")))
    points = np.stack([grids[d].ravel() for d in ("x", "y", "z") if d in grids], axis=1)  # the geometry's order
    inside = problem.geometry.contains(points).reshape([len(v) for v in space.values()])
    return xr.DataArray(inside, dims=tuple(space), coords=space)


@dataclass
class Comparison:
    """A solution and its reference on one grid, with their errors.

    Attributes:
        solution, reference: the two Datasets on the common grid.
        metrics: per field ``rel_l2`` (overall), ``max_error`` and, for evolution problems,
            ``rel_l2_t`` (relative L2 at each time); for a saved grid that had to be interpolated
            to the common grid, ``interpolation_solution`` or ``interpolation_reference``
            (:func:`interpolation_estimate`).
        notes: what the reader should know about the numbers (an interpolation that dominates).
    """

    solution: xr.Dataset
    reference: xr.Dataset
    metrics: xr.Dataset
    notes: list[str] = field(default_factory=list)

    @property
    def error(self) -> xr.Dataset:
        return self.solution - self.reference

    def summary(self) -> str:
        """A short table: one row per field."""
        lines = [f"{'field':<8} {'rel L2':>10} {'max error':>10}" + (f" {'rel L2 at t1':>13}" if "t" in self.metrics.dims else "")]
        for name in self.reference.data_vars:
            row = f"{name:<8} {float(self.metrics[f'{name}_rel_l2']):>10.3e} {float(self.metrics[f'{name}_max_error']):>10.3e}"
            if "t" in self.metrics.dims:
                row += f" {float(self.metrics[f'{name}_rel_l2_t'][-1]):>13.3e}"
            lines.append(row)
        return "\n".join(lines + [f"note: {note}" for note in self.notes])

    def figure(self, field: str | None = None, times: int = 3):
        """Solution, reference and error side by side (over time where relevant)."""
        import matplotlib.pyplot as plt

        field = field or next(iter(self.reference.data_vars))
        panels = (("solution", self.solution[field]), ("reference", self.reference[field]),
                  ("error", self.solution[field] - self.reference[field]))
        space = [d for d in ("x", "y", "z") if d in self.reference.dims]
        has_time = "t" in self.reference.dims
        if len(space) == 1 and has_time or len(space) == 2 and not has_time:
            fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
            for ax, (title, data) in zip(axes, panels):
                data.plot(ax=ax, x=space[0] if has_time else space[0], y="t" if has_time else space[1],
                          cmap="RdBu_r" if title == "error" else "viridis")
                ax.set_title(f"{title}: {field}")
            return fig
        if len(space) == 1:
            fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
            panels[0][1].plot(ax=ax, label="solution")
            panels[1][1].plot(ax=ax, label="reference", linestyle="--")
            ax.legend()
            return fig
        picks = np.linspace(0, self.reference.sizes["t"] - 1, times).round().astype(int) if has_time else [None]
        fig, axes = plt.subplots(len(picks), 3, figsize=(13, 3.6 * len(picks)), squeeze=False, constrained_layout=True)
        for row, k in zip(axes, picks):
            for ax, (title, data) in zip(row, panels):
                frame = data.isel(t=k) if k is not None else data
                for extra in space[2:]:
                    frame = frame.isel({extra: frame.sizes[extra] // 2})
                frame.plot(ax=ax, x=space[0], y=space[1], cmap="RdBu_r" if title == "error" else "viridis")
                ax.set_title(f"{title}: {field}" + (f", t = {float(frame.t):.3g}" if k is not None else ""))
        return fig


def compare(solution: Solution | xr.Dataset, reference: Solution | xr.Dataset, coords=None) -> Comparison:
    """Evaluate ``solution`` on the reference's grid and measure the errors.

    Args:
        solution: any Solution (or a Dataset on the reference's grid).
        reference: the Solution or Dataset taken as truth; a Dataset or loaded result fixes
            the grid, otherwise the default grid of the problem is used.
        coords: explicit grid coordinates (``t`` first, then ``x, y, z``).
    """
    if coords is None:
        if isinstance(reference, xr.Dataset):
            coords = {d: reference[d].values for d in reference.dims}
        elif isinstance(reference, GridSolution):
            coords = {d: reference.dataset[d].values for d in reference.dataset.dims}
        else:
            coords = default_grid(reference.problem)
    ref = reference if isinstance(reference, xr.Dataset) else reference.to_xarray(coords=coords)
    sol = solution.to_xarray(coords=coords) if isinstance(solution, Solution) else solution
    missing = [name for name in ref.data_vars if name not in sol.data_vars]
    if missing:
        raise ValueError(f"the solution lacks fields {missing}; it has: {', '.join(sol.data_vars)}")
    sol = sol[list(ref.data_vars)]
    metrics = {}
    space = [d for d in ref.dims if d != "t"]
    problem = next((side.problem for side in (reference, solution) if isinstance(side, Solution)), None)
    domain = _domain(problem, {d: ref[d].values for d in ref.dims})
    for name in ref.data_vars:
        inside = ref[name].notnull() if domain is None else domain
        metrics[f"{name}_rel_l2"] = relative_l2(sol[name], ref[name], inside=inside)
        metrics[f"{name}_max_error"] = abs(sol[name] - ref[name]).where(inside, 0.0).max(skipna=False)
        if "t" in ref.dims:
            metrics[f"{name}_rel_l2_t"] = relative_l2(sol[name], ref[name], dims=space, inside=inside)
    notes = []
    for side, source in (("solution", solution), ("reference", reference)):
        if not isinstance(source, GridSolution):
            continue  # a Dataset is used on its own grid; other solutions are evaluated, not interpolated
        grid = source.dataset
        dims = [d for d in grid.dims if d in coords and grid.sizes[d] > 1 and not _on_grid(coords[d], grid[d].values)]
        if not dims:
            continue
        for name, estimate in interpolation_estimate(grid, coords, dims).items():
            if name not in ref.data_vars:
                continue
            metrics[f"{name}_interpolation_{side}"] = estimate
            reported = float(metrics[f"{name}_rel_l2"])
            if reported > 0 and estimate >= DOMINANT * reported:
                notes.append(f"{name}: interpolating the {side}'s grid linearly along {', '.join(dims)} errs by about "
                             f"{estimate:.1e} (from its second differences), {estimate / reported:.0%} of the reported "
                             f"rel L2 {reported:.1e}: compare on the {side}'s own grid, or save it finer")
    return Comparison(sol, ref, xr.Dataset(metrics), notes)


def _on_grid(points: np.ndarray, axis: np.ndarray) -> bool:
    """Whether every coordinate in ``points`` is one of ``axis``'s (no interpolation along it)."""
    tolerance = 1e-9 * float(np.ptp(axis))
    nearest = np.clip(np.searchsorted(axis, points), 1, len(axis) - 1)
    gap = np.minimum(np.abs(points - axis[nearest - 1]), np.abs(points - axis[nearest]))
    return bool(np.all(gap <= tolerance))


def interpolation_estimate(grid: xr.Dataset, coords: dict, dims) -> dict[str, float]:
    """Per field, the relative L2 error of interpolating ``grid`` linearly along ``dims`` to the
    points of ``coords``, estimated from its second differences ``D``: a locally quadratic field
    errs by ``s (1 - s) D / 2`` at a fraction ``s`` of a grid interval."""
    others = {d: coords[d] for d in grid.dims if d in coords and d not in dims}
    targets = {d: coords[d] for d in dims}
    weights = {}
    for d in dims:
        axis = grid[d].values
        i = np.clip(np.searchsorted(axis, targets[d]) - 1, 0, len(axis) - 2)
        s = np.clip((targets[d] - axis[i]) / (axis[i + 1] - axis[i]), 0.0, 1.0)
        weights[d] = xr.DataArray(s * (1 - s) / 2, dims=d, coords={d: targets[d]})
    estimates = {}
    for name in grid.data_vars:
        values = grid[name].sel(others, method="nearest") if others else grid[name]
        error = 0.0
        for d in dims:
            if values.sizes[d] > 2:
                axis = values.get_axis_num(d)
                second = np.diff(values.values, n=2, axis=axis)  # at the interior nodes; the ends take their neighbour's
                second = np.concatenate([second.take([0], axis), second, second.take([-1], axis)], axis=axis)
                error = error + values.copy(data=second).interp(targets) * weights[d]
        norm = float((values.interp(targets) ** 2).sum(skipna=True))
        estimates[name] = float(np.sqrt(float((error**2).sum(skipna=True)) / norm)) if norm else 0.0
    return estimates
