"""FEniCSx reference solutions generated from a Problem.

The weak form comes from the Problem's divergence-form equation: for
``c1 u_t + div F = S`` it is ``(c1 u_t, v) - (F, grad v) - (S, v) - <g, v>_Neumann = 0``,
discretised by Lagrange elements in space and implicit Euler or Crank-Nicolson in time
(Newmark average acceleration for second time derivatives), solved by Newton's method.
Dirichlet values and periodic identifications act through one restriction ``U = P z + g`` on
the assembled SciPy systems, which keeps the DOLFINx surface small (see :mod:`.compat`).

A case outside the divergence form supplies ``Equation(weak_form=...)``: a callable that
receives a :class:`WeakFormContext` and returns the residual form of one time step.
"""

from __future__ import annotations

import dataclasses
import sys
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import xarray as xr
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

from ..atomic import atomic_write
from ..batch import preemption
from ..options import config_from_options, with_options
from ..problem import Dirichlet, Disk, Initial, Neumann, Polygon, Problem
from ..problem.equation import flux_rows, source_rows
from ..problem.fingerprint import fingerprint
from ..problem.geometry import _AxisBox
from ..problem.inputs import InputFunction
from ..problem.problem import Parameters
from ..results import AXES, DEFAULT_RESOLUTION, Solution, default_grid, save_dataset
from . import cache_dir, compat
from .compat import fem, ufl
from .compat import mesh as dmesh

__all__ = ["ReferenceSettings", "ReferenceSolution", "WeakFormContext", "solve"]

SCHEMES = {"implicit_euler": 1.0, "crank_nicolson": 0.5}
DEFAULT_CELLS = {1: 1024, 2: 32, 3: 8}
CACHE_VERSION = "fenics-reference-1"


@dataclass(frozen=True)
class ReferenceSettings:
    """Discretisation settings of the FEniCS reference.

    Args:
        degree: Lagrange element degree.
        cells: cells per axis for intervals, rectangles and boxes (scaled by aspect ratio);
            cells across the largest extent for gmsh meshes (disks, polygons).
        dt: largest time step (default: a 200th of the interval); the step used divides the
            interval into a multiple of ``saves``.
        scheme: ``implicit_euler`` or ``crank_nicolson``.
        saves: number of intervals between stored snapshots (``saves + 1`` times are kept);
            ``None``: every step, so that the Solution, linear in time between snapshots, errs
            in time no more than the scheme does.
        newton_rtol, newton_atol: Newton stopping tolerances on the residual norm.
        max_newton: most Newton iterations per step.
    """

    degree: int = 2
    cells: int | None = None
    dt: float | None = None
    scheme: str = "crank_nicolson"
    saves: int | None = None
    newton_rtol: float = 1e-10
    newton_atol: float = 1e-12
    max_newton: int = 25

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown time scheme {self.scheme!r}; valid schemes: {', '.join(SCHEMES)}")
        if self.degree < 1:
            raise ValueError(f"degree must be >= 1, got {self.degree}")
        if self.cells is not None and self.cells < 1:
            raise ValueError(f"cells must be >= 1, got {self.cells}")
        if self.dt is not None and not self.dt > 0:
            raise ValueError(f"dt must be positive, got {self.dt}")
        if self.saves is not None and self.saves < 1:
            raise ValueError(f"saves must be >= 1, got {self.saves}")

    @classmethod
    def from_options(cls, **options) -> "ReferenceSettings":
        """Settings from keyword options (strings from the CLI are converted to each field's type)."""
        return config_from_options(cls, options, "reference")


@dataclass
class WeakFormContext:
    """What a hand-written weak form receives: unknown, previous step, test function, etc."""

    u: Any
    u_n: Any
    v: Any
    x: Any
    t: Any
    t_n: Any
    dt: Any
    p: Any
    mesh: Any
    space: Any
    theta: float


class _Interpolated:
    """An input function as the forms see it: its finite-element interpolant, whatever the
    arguments (input functions depend on space alone)."""

    def __init__(self, function):
        self.function = function

    def __call__(self, x=None, t=None, p=None):
        return self.function


# -- mesh --------------------------------------------------------------------------------------
def build_mesh(problem: Problem, cells: int, degree: int = 1):
    """The DOLFINx mesh of the problem's geometry (built-in meshes for boxes, gmsh otherwise).

    For elements of ``degree`` 2 or more, curved boundaries (a Disk's circle) get second-order
    cells whose edges follow the curve, so the geometry errs by ``O(h^3)`` rather than the
    ``O(h^2)`` of straight edges that would cap P2 at second order.
    """
    geometry = problem.geometry
    if isinstance(geometry, _AxisBox):
        extent = geometry.upper - geometry.lower
        n = [max(1, int(round(cells * e / extent.max()))) for e in extent]
        if geometry.dim == 1:
            return compat.interval(n[0], geometry.lower[0], geometry.upper[0])
        if geometry.dim == 2:
            return compat.rectangle(geometry.lower, geometry.upper, n)
        return compat.box(geometry.lower, geometry.upper, n)
    if isinstance(geometry, (Disk, Polygon)):
        order = 2 if isinstance(geometry, Disk) and degree >= 2 else 1
        return _gmsh_mesh(geometry, float((geometry.upper - geometry.lower).max()) / cells, order)
    raise ValueError(f"no mesher for {type(geometry).__name__}; supported: Interval, Rectangle, Box, Disk, Polygon")


def _gmsh_mesh(geometry, size: float, order: int):
    import gmsh

    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(interruptible=False)  # leave Ctrl-C to Python
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.model.add("pdekit")
        if isinstance(geometry, Disk):
            surface = gmsh.model.occ.addDisk(*geometry.center, 0.0, geometry.radius, geometry.radius)
            gmsh.model.occ.synchronize()
        else:
            points = [gmsh.model.geo.addPoint(x, y, 0.0) for x, y in geometry.vertices]
            lines = [gmsh.model.geo.addLine(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
            surface = gmsh.model.geo.addPlaneSurface([gmsh.model.geo.addCurveLoop(lines)])
            gmsh.model.geo.synchronize()
        gmsh.model.addPhysicalGroup(2, [surface], 1)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMin", size)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMax", size)
        gmsh.model.mesh.generate(2)
        if order > 1:
            gmsh.model.mesh.setOrder(order)  # new nodes on curved boundaries lie on the curve
        return compat.gmsh_to_mesh(gmsh.model, gdim=2)
    finally:
        gmsh.model.remove()
        if started:
            gmsh.finalize()


def _boundary_marker(geometry, on):
    if on is None:
        return lambda x: np.ones(x.shape[1], dtype=bool)
    if callable(on):
        return lambda x: np.asarray(on(x), dtype=bool)
    markers = [geometry.side_marker(name) for name in ((on,) if isinstance(on, str) else on)]
    return lambda x: np.any([m(x) for m in markers], axis=0)


# -- the discrete problem ----------------------------------------------------------------------
class _Discretisation:
    """Function space, forms, constraints and Newton solver of one reference solve."""

    def __init__(self, problem: Problem, settings: ReferenceSettings):
        self.problem, self.settings = problem, settings
        self.n = problem.n_components
        self.mesh = build_mesh(problem, settings.cells or DEFAULT_CELLS[problem.dim], settings.degree)
        self.space = compat.function_space(self.mesh, settings.degree, self.n)
        self.fdim = self.mesh.topology.dim - 1
        self.mesh.topology.create_connectivity(self.fdim, self.mesh.topology.dim)
        self.u = fem.Function(self.space)
        self.size = len(self.u.x.array)
        self.p = self._form_parameters()

    def _form_parameters(self) -> Parameters:
        """The parameters as the forms see them: numbers as constants and input functions
        interpolated into finite-element functions (Lagrange of the solution's degree, DG0 where
        they jump), so that every sample of an input family shares one compiled form."""
        values = {}
        for name, value in self.problem.params.items():
            if isinstance(value, float):
                values[name] = compat.constant(self.mesh, value)
            elif isinstance(value, InputFunction):
                space = compat.discontinuous_space(self.mesh) if value.discontinuous \
                    else compat.function_space(self.mesh, self.settings.degree, 1)
                function = fem.Function(space)
                function.interpolate(lambda x, f=value: np.asarray(f(x[: self.problem.dim]), dtype=float))
                values[name] = _Interpolated(function)
            else:
                values[name] = value
        return Parameters(values)

    # constraints: U = P z + g ----------------------------------------------------------------
    def dirichlet(self):
        """Constrained dof indices and a function ``t -> values`` for them."""
        scratch = fem.Function(self.space)
        parts = []
        for condition in self.problem.conditions_of(Dirichlet):
            facets = dmesh.locate_entities_boundary(self.mesh, self.fdim, _boundary_marker(self.problem.geometry, condition.on))
            blocks = fem.locate_dofs_topological(self.space, self.fdim, facets)
            components = range(self.n)[self.problem.component_slice(condition.field)]
            dofs = np.concatenate([blocks * self.n + c for c in components]) if len(components) else blocks
            parts.append((condition, components, np.asarray(dofs, dtype=np.int64)))

        def values(t):
            g = np.zeros(self.size)
            for condition, components, dofs in parts:
                scratch.interpolate(self._interpolant(condition.value, t, components))
                g[dofs] = scratch.x.array[dofs]
            return g

        dofs = np.unique(np.concatenate([d for _, _, d in parts])) if parts else np.zeros(0, dtype=np.int64)
        return dofs, values

    def _interpolant(self, value, t, components):
        p = self.problem.p

        def evaluate(x):
            raw = value(x[: self.problem.dim], t, p) if callable(value) else value
            if self.n == 1:
                return np.broadcast_to(np.asarray(raw, dtype=float), (x.shape[1],)).copy()
            out = np.zeros((self.n, x.shape[1]))
            rows = [raw] if len(components) == 1 else list(raw)
            for c, row in zip(components, rows):
                out[c] = row
            return out

        return evaluate

    def restriction(self, fixed: np.ndarray) -> scipy.sparse.csr_matrix:
        """``P`` mapping free (reduced) unknowns to all dofs, with periodic sides identified."""
        representative = np.arange(self.size)
        coords = self.space.tabulate_dof_coordinates()[:, : self.problem.dim]
        geometry = self.problem.geometry
        tol = 1e-8 * geometry.diameter
        for axis in self.problem.periodic_axes:
            lower, upper = geometry.lower[axis], geometry.upper[axis]
            masters = np.nonzero(np.abs(coords[:, axis] - lower) < tol)[0]
            slaves = np.nonzero(np.abs(coords[:, axis] - upper) < tol)[0]
            shifted = coords[slaves].copy()
            shifted[:, axis] = lower
            distance, nearest = cKDTree(coords[masters]).query(shifted)
            if len(slaves) != len(masters) or np.any(distance > tol):
                raise ValueError(f"the mesh is not periodic along axis {axis}: opposite sides' nodes do not match")
            for c in range(self.n):
                representative[slaves * self.n + c] = masters[nearest] * self.n + c
        for _ in range(len(self.problem.periodic_axes)):  # corners: follow chains to the root
            representative = representative[representative]
        free = np.setdiff1d(np.arange(self.size), fixed)
        roots, column = np.unique(representative[free], return_inverse=True)
        if np.intersect1d(roots, fixed).size:
            keep = ~np.isin(representative[free], fixed)  # slaves of a constrained master are constrained too
            free, column = free[keep], np.unique(representative[free[keep]], return_inverse=True)[1]
        return scipy.sparse.csr_matrix((np.ones(len(free)), (free, column)), shape=(self.size, column.max() + 1))

    # forms --------------------------------------------------------------------------------
    def operator(self, w, t, v, x):
        """``L(w, t) = -(F, grad v) - (S, v) - <g, v>`` for the divergence-form equation."""
        problem, eq, p = self.problem, self.problem.equation, self.p
        n, d = self.n, problem.dim
        grad_w = ufl.grad(w) if n == 1 else [ufl.grad(w)[i, :] for i in range(n)]  # rows: grad_u[i][j]
        form = 0
        if eq.flux is not None:
            rows = flux_rows(eq.flux(w, grad_w, x, t, p), n, d)
            flux = ufl.as_vector(rows[0]) if n == 1 else ufl.as_matrix(rows)
            form = form - ufl.inner(flux, ufl.grad(v)) * ufl.dx
        if eq.source is not None:
            values = source_rows(eq.source(w, grad_w, x, t, p), n)
            source = values[0] if n == 1 else ufl.as_vector(values)
            form = form - ufl.inner(source, v) * ufl.dx
        for tag, condition in enumerate(problem.conditions_of(Neumann), start=1):
            g = condition.value(x, t, p) if callable(condition.value) else condition.value
            if n > 1:
                components = range(n)[problem.component_slice(condition.field)]
                rows = [g] if len(components) == 1 else list(g)
                g = ufl.as_vector([rows[list(components).index(c)] if c in components else 0.0 for c in range(n)])
            form = form - ufl.inner(g, v) * self.ds(tag)
        return form

    @property
    def ds(self):
        if not hasattr(self, "_ds"):
            neumann = self.problem.conditions_of(Neumann)
            indices, values = [], []
            for tag, condition in enumerate(neumann, start=1):
                facets = dmesh.locate_entities_boundary(self.mesh, self.fdim, _boundary_marker(self.problem.geometry, condition.on))
                indices.append(facets)
                values.append(np.full(len(facets), tag, dtype=np.int32))
            if indices:
                order_indices = np.concatenate(indices)
                order, unique = np.unique(order_indices, return_index=True)
                tags = dmesh.meshtags(self.mesh, self.fdim, order.astype(np.int32), np.concatenate(values)[unique])
                self._ds = ufl.Measure("ds", domain=self.mesh, subdomain_data=tags)
            else:
                self._ds = ufl.Measure("ds", domain=self.mesh)
        return self._ds


class _Newton:
    """Newton's method on the reduced system ``P^T R(P z + g) = 0`` with SciPy's sparse LU."""

    def __init__(self, disc: _Discretisation, residual_form, unknown, P, settings, varying=()):
        self.disc, self.P, self.settings = disc, P, settings
        self.unknown = unknown
        jacobian = ufl.derivative(residual_form, unknown, ufl.TrialFunction(disc.space))
        expanded = ufl.algorithms.expand_derivatives(jacobian)
        self.linear = unknown not in expanded.coefficients()
        # a linear form whose matrix does not involve the time: factorise once for all steps
        self.frozen = self.linear and not set(expanded.constants()) & set(varying)
        self.residual = fem.form(residual_form)
        self.jacobian = fem.form(jacobian)
        self._lu = None
        self.iterations = 0

    def _factor(self):
        if self._lu is None or not self.frozen:
            J = compat.assemble_matrix(self.jacobian)
            self._lu = scipy.sparse.linalg.splu((self.P.T @ J @ self.P).tocsc())
        return self._lu

    def solve(self, U: np.ndarray, when: str) -> np.ndarray:
        norm0 = None
        for iteration in range(self.settings.max_newton + 1):
            self.unknown.x.array[:] = U
            r = self.P.T @ compat.assemble_vector(self.residual)
            norm = float(np.linalg.norm(r))
            if not np.isfinite(norm):
                raise RuntimeError(f"Newton diverged {when} (non-finite residual); reduce dt or refine the mesh")
            norm0 = norm if norm0 is None else norm0
            if norm <= self.settings.newton_atol + self.settings.newton_rtol * norm0 and (iteration or norm == 0):
                return U
            U = U - self.P @ self._factor().solve(r)
            self.iterations += 1
            if self.linear:
                return U
        raise RuntimeError(
            f"Newton did not converge {when}: residual {norm:.3e} after {self.settings.max_newton} iterations "
            f"(start {norm0:.3e}); reduce dt or refine the mesh"
        )


# -- the solution --------------------------------------------------------------------------------
class ReferenceSolution(Solution):
    """A FEniCS solution: exact finite-element evaluation in space, linear in time between saves.

    Its default grid (:meth:`grid`, what ``save`` writes) keeps the solve's accuracy: the saved
    times, and in space the element's nodes (1D) or a regular grid at least as fine as them.
    """

    def __init__(self, problem, settings, disc, times, snapshots, wall_time, cached=False):
        config = {**dataclasses.asdict(settings), "dofs": disc.size, "cached": cached}
        super().__init__(problem, "fenics", config, wall_time)
        self.settings, self.times, self.snapshots = settings, np.asarray(times), np.asarray(snapshots)
        self._disc = disc
        self._scratch = fem.Function(disc.space)

    @property
    def space(self):
        return self._disc.space

    def at_save(self, k: int):
        """The DOLFINx Function of saved step ``k``."""
        function = fem.Function(self._disc.space)
        function.x.array[:] = self.snapshots[k]
        return function

    def grid(self, resolution: int | None = None, times: int | None = None) -> dict[str, np.ndarray]:
        """The solver's saved times (or ``times`` evenly spaced) and, in space, ``resolution``
        points per axis or else the element's nodes: in 1D the nodes themselves; otherwise a
        regular grid with the nodes' spacing (``h / degree``; on boxes these are the nodes) and
        never coarser than :data:`~pdekit.results.DEFAULT_RESOLUTION`."""
        problem = self.problem
        coords = default_grid(problem, resolution, times)
        if resolution is None:
            geometry, d = problem.geometry, problem.dim
            if d == 1:
                coords["x"] = np.unique(self.space.tabulate_dof_coordinates()[:, 0])
            else:
                extent = geometry.upper - geometry.lower
                cells = self.settings.cells or DEFAULT_CELLS[d]
                for j, e in enumerate(extent):
                    n = max(DEFAULT_RESOLUTION[d], max(1, round(cells * e / extent.max())) * self.settings.degree + 1)
                    coords[AXES[j]] = np.linspace(geometry.lower[j], geometry.upper[j], n)
        if problem.is_evolution and times is None:
            coords["t"] = self.times
        return coords

    def to_xarray(self, coords=None, resolution=None, times=None):
        """As :meth:`Solution.to_xarray`; the attribute ``grid`` says how the default grid was chosen."""
        dataset = super().to_xarray(coords, resolution, times)
        if coords is None:
            space = f"{resolution} points per axis" if resolution else (
                "the element's nodes" if self.problem.dim == 1 else "a regular grid at least as fine as the element's nodes")
            time = "" if not self.problem.is_evolution else (
                f"; time: {times} even times" if times else "; time: the solver's saved times")
            dataset.attrs["grid"] = f"space: {space}{time}"
        return dataset

    def _eval(self, k, points3, cells):
        """Values ``(N, n)`` of saved step ``k`` at located points (NaN where ``cells`` is -1)."""
        self._scratch.x.array[:] = self.snapshots[k]
        out = np.full((len(points3), self.problem.n_components), np.nan)
        inside = cells >= 0
        if inside.any():
            out[inside] = self._scratch.eval(points3[inside], cells[inside]).reshape(inside.sum(), -1)
        return out

    def __call__(self, points):
        points = np.asarray(points, dtype=float)
        x, t = self.problem.split_points(points)
        space, site = _unique_rows(x.T)  # a grid repeats its spatial points at every time: locate them once
        points3 = np.zeros((len(space), 3))
        points3[:, : self.problem.dim] = space
        cells = compat.locate_cells(self._disc.mesh, points3)
        if t is None:
            return self._eval(0, points3, cells)[site]
        t0, t1 = self.times[0], self.times[-1]
        if np.any((t < t0 - 1e-12 * (t1 - t0)) | (t > t1 + 1e-12 * (t1 - t0))):
            raise ValueError(f"times must lie in the solved interval [{t0}, {t1}]")
        position = np.interp(t, self.times, np.arange(len(self.times)))
        lower = np.minimum(np.floor(position).astype(int), len(self.times) - 2)
        weight = (position - lower)[:, None]
        out = np.zeros((len(points), self.problem.n_components))
        order = np.argsort(lower, kind="stable")
        for rows in np.split(order, np.flatnonzero(np.diff(lower[order])) + 1):  # the points of each interval
            k, w = lower[rows[0]], weight[rows]
            needed, at = np.unique(site[rows], return_inverse=True)
            value = self._eval(k, points3[needed], cells[needed])[at]
            if np.any(w > 0):
                value = (1 - w) * value + w * self._eval(k + 1, points3[needed], cells[needed])[at]
            out[rows] = value
        return out


def _unique_rows(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an ``(N, d)`` array and, per row, the index of its distinct row: what
    ``np.unique(axis=0)`` gives, by integer keys built column by column (which sorts far faster)."""
    key, first = np.zeros(len(array), dtype=np.int64), np.zeros(min(len(array), 1), dtype=np.int64)
    for column in array.T:
        values, code = np.unique(column, return_inverse=True)
        _, first, key = np.unique(key * len(values) + code, return_index=True, return_inverse=True)
    return array[first], key


# -- the solver ----------------------------------------------------------------------------------
def solve(problem: Problem, settings: ReferenceSettings | None = None, *, cache: bool = True,
          progress: bool | None = None, checkpoint: str | Path | None = None, resume: bool = False,
          **options) -> ReferenceSolution:
    """Solve ``problem`` with FEniCSx.

    Args:
        problem: any :class:`~pdekit.problem.Problem`.
        settings: discretisation settings; or give them as keyword ``options``.
        cache: reuse (and store) the result under ``data/reference`` (``$PDEKIT_DATA``), keyed
            by a fingerprint of the problem and the settings.
        progress: show a progress bar over time steps (default: when stderr is a terminal).
        checkpoint: file the time stepping is saved to when a preemption signal arrives
            (:mod:`pdekit.batch.preemption`); ``resume=True`` continues from it.

    Returns:
        a :class:`ReferenceSolution` evaluable at any points and times of the problem.
    """
    settings = with_options(settings, options, "reference") if settings else ReferenceSettings.from_options(**options)
    _check_time_coefficients(problem)
    disc = _Discretisation(problem, settings)
    key = fingerprint(problem, dataclasses.asdict(settings), CACHE_VERSION)
    path = cache_dir() / f"{problem.name}-{key}.nc"
    if cache and path.exists():
        loaded = _load_cached(path, problem, settings, disc)
        if loaded is not None:
            return loaded
    start = _time.perf_counter()
    times, snapshots = _march(problem, settings, disc, progress, _Checkpoint(checkpoint, resume, key))
    solution = ReferenceSolution(problem, settings, disc, times, snapshots, _time.perf_counter() - start)
    if cache:
        coords = disc.space.tabulate_dof_coordinates()
        save_dataset(xr.Dataset({"values": (("time", "dof"), solution.snapshots),
                                 "dof_coordinates": (("block", "xyz"), coords)},
                                coords={"time": solution.times}, attrs={"wall_time_s": solution.wall_time}), path)
    return solution


def _check_time_coefficients(problem: Problem) -> None:
    """Refuse per-component time coefficients that differ: the generated form uses one ``c1``, and
    a constraint row (``c1 = 0``, the pressure of incompressible flow) needs a mixed element."""
    c1 = problem.time_coefficients
    if not problem.is_evolution or problem.equation.weak_form is not None or len(set(c1)) == 1:
        return
    if 0.0 in c1:
        raise ValueError(f"{problem.name!r} has components without a time derivative (time_coefficient={c1}): a "
                         "constraint such as div u = 0 needs a mixed (Taylor-Hood) element, and a mixed-element "
                         "FEniCS reference is not available; compare with the exact solution, give a weak_form, or, "
                         "on a box periodic along every axis, use method='spectral'")
    raise ValueError(f"the FEniCS reference uses one time coefficient for all components; {problem.name!r} has "
                     f"{c1} (give a weak_form, or scale the equations to equal coefficients)")


def _load_cached(path, problem, settings, disc):
    data = xr.load_dataset(path, engine="h5netcdf")
    if not np.allclose(data["dof_coordinates"].values, disc.space.tabulate_dof_coordinates()):
        return None  # the mesh came out differently (another DOLFINx or gmsh): solve again
    return ReferenceSolution(problem, settings, disc, data["time"].values, data["values"].values,
                             float(data.attrs["wall_time_s"]), cached=True)


class _Checkpoint:
    """The time stepping's state in a file: written on preemption, read when resuming."""

    def __init__(self, path, resume: bool, key: str):
        self.path, self.key = (Path(path) if path else None), key
        if self.path is not None and self.path.exists() and not resume:
            raise ValueError(f"checkpoint {self.path} exists: pass resume=True to continue it, or remove it")
        self.resume = resume

    def load(self) -> dict | None:
        if not (self.resume and self.path is not None and self.path.exists()):
            return None
        with np.load(self.path) as saved:
            state = {name: saved[name] for name in saved.files}
        if str(state["key"]) != self.key:
            raise ValueError(f"checkpoint {self.path} belongs to another problem or other settings; remove it")
        return state

    def save(self, **state):
        if self.path is None:
            return

        def write(temporary):
            with open(temporary, "wb") as handle:
                np.savez(handle, key=self.key, **state)

        atomic_write(self.path, write)


def _march(problem: Problem, settings: ReferenceSettings, disc: _Discretisation, progress, checkpoint: _Checkpoint):
    """Time-march (or solve once, for steady problems); returns save times and snapshots.

    On a preemption signal the state after the current step goes to ``checkpoint`` and
    :class:`~pdekit.batch.preemption.Preempted` is raised; a resumed march continues from it."""
    eq, V = problem.equation, disc.space
    v, x = ufl.TestFunction(V), ufl.SpatialCoordinate(disc.mesh)
    fixed, dirichlet_values = disc.dirichlet()
    P = disc.restriction(fixed)
    u = disc.u

    if not problem.is_evolution:
        form = eq.weak_form(WeakFormContext(u, None, v, x, None, None, None, disc.p, disc.mesh, V, 1.0)) \
            if eq.weak_form else disc.operator(u, None, v, x)
        U = np.zeros(disc.size)
        U[fixed] = dirichlet_values(None)[fixed]
        U = _Newton(disc, form, u, P, settings).solve(U, "in the steady solve")
        return np.zeros(1), U[None, :]

    t0, t1 = problem.time.t0, problem.time.t1
    saves = settings.saves or int(np.ceil((t1 - t0) / (settings.dt or (t1 - t0) / 200) - 1e-9))
    steps_per_save = int(np.ceil((t1 - t0) / (settings.dt or (t1 - t0) / 200) / saves - 1e-9))
    steps = steps_per_save * saves
    dt = (t1 - t0) / steps
    theta = SCHEMES[settings.scheme]
    t_new, t_old, t_older = (compat.constant(disc.mesh, t0) for _ in range(3))
    u_n, u_nm1 = fem.Function(V), fem.Function(V)
    u_n.interpolate(disc._interpolant(_initial(problem, 0).value, t0, range(disc.n)))
    dt_c = compat.constant(disc.mesh, dt)
    c1, c2 = problem.time_coefficients[0], eq.second_time_coefficient

    def weighted(terms):
        return sum(weight * disc.operator(w, t, v, x) for weight, w, t in terms if weight)

    if eq.weak_form is not None:
        form = eq.weak_form(WeakFormContext(u, u_n, v, x, t_new, t_old, dt_c, disc.p, disc.mesh, V, theta))
    elif c2 == 0:
        form = c1 * ufl.inner(u - u_n, v) / dt_c * ufl.dx + weighted([(theta, u, t_new), (1 - theta, u_n, t_old)])
    else:
        weights = (0.25, 0.5, 0.25) if settings.scheme == "crank_nicolson" else (1.0, 0.0, 0.0)
        damping = (u - u_nm1) / (2 * dt_c) if settings.scheme == "crank_nicolson" else (u - u_n) / dt_c
        form = c2 * ufl.inner(u - 2 * u_n + u_nm1, v) / dt_c**2 * ufl.dx \
            + weighted(list(zip(weights, (u, u_n, u_nm1), (t_new, t_old, t_older))))
        if c1:
            form = form + c1 * ufl.inner(damping, v) * ufl.dx
    newton = _Newton(disc, form, u, P, settings, varying=(t_new, t_old, t_older))

    times, snapshots = [t0], [u_n.x.array.copy()]
    first = 1
    if c2 != 0:  # start the three-level scheme with a Taylor step u1 = u0 + dt v0 + dt^2 / 2 a0
        u_nm1.x.array[:] = u_n.x.array
        u_n.x.array[:] = _taylor_step(problem, disc, u_n, v, x, P, dt, t0, fixed, dirichlet_values(t0 + dt))
        first = 2
        t_older.value, t_old.value = t0, t0 + dt
        if steps_per_save == 1:
            times.append(t0 + dt)
            snapshots.append(u_n.x.array.copy())
    saved = checkpoint.load()
    if saved is not None:
        first = int(saved["step"]) + 1
        times, snapshots = list(saved["times"]), list(saved["snapshots"])
        u_n.x.array[:], u_nm1.x.array[:] = saved["u_n"], saved["u_nm1"]
        t_old.value, t_older.value = t0 + (first - 1) * dt, t0 + (first - 2) * dt
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(range(first, steps + 1), desc=f"{problem.name} reference", disable=not show, unit="step", mininterval=1.0)
    for step in bar:
        t = t1 if step == steps else t0 + step * dt  # the last saved time is t1 exactly, not a rounding of it
        t_new.value = t
        U = u_n.x.array.copy()
        U[fixed] = dirichlet_values(t)[fixed]
        U = newton.solve(U, f"at t = {t:.6g}")
        if c2 != 0:
            u_nm1.x.array[:] = u_n.x.array
            t_older.value = t_old.value
        u_n.x.array[:] = U
        t_old.value = t
        if step % steps_per_save == 0:
            times.append(t)
            snapshots.append(U.copy())
        preemption.check(f"at t = {t:.6g} (step {step} of {steps})", lambda step=step: checkpoint.save(
            step=step, times=np.asarray(times), snapshots=np.asarray(snapshots), u_n=u_n.x.array, u_nm1=u_nm1.x.array))
    return np.asarray(times), np.asarray(snapshots)


def _initial(problem, derivative):
    for condition in problem.conditions_of(Initial):
        if condition.derivative == derivative:
            return condition
    raise ValueError(f"problem {problem.name!r} has no initial condition of derivative order {derivative}")


def _taylor_step(problem, disc, u0, v, x, P, dt, t0, fixed, boundary_values):
    """``u0 + dt v0 + dt^2 / 2 a0``, ``a0`` from the equation at ``t0`` (third-order accurate start)."""
    eq = problem.equation
    v0 = fem.Function(disc.space)
    v0.interpolate(disc._interpolant(_initial(problem, 1).value, t0, range(disc.n)))
    t = compat.constant(disc.mesh, t0)
    trial = ufl.TrialFunction(disc.space)
    M = compat.assemble_matrix(fem.form(eq.second_time_coefficient * ufl.inner(trial, v) * ufl.dx))
    rhs = disc.operator(u0, t, v, x)
    if problem.time_coefficients[0]:
        rhs = rhs + problem.time_coefficients[0] * ufl.inner(v0, v) * ufl.dx
    b = compat.assemble_vector(fem.form(rhs))
    # on constrained dofs the acceleration follows from the boundary values at t0 + dt
    a0 = np.zeros_like(b)
    a0[fixed] = 2 * (boundary_values[fixed] - u0.x.array[fixed] - dt * v0.x.array[fixed]) / dt**2
    a0 += P @ scipy.sparse.linalg.spsolve((P.T @ M @ P).tocsc(), -P.T @ (b + M @ a0))
    return u0.x.array + dt * v0.x.array + 0.5 * dt**2 * a0
