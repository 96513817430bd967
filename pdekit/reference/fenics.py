"""FEniCSx reference solutions generated from a Problem.

The weak form comes from the Problem's divergence-form equation: row ``i`` of
``c1 u_t + div F = S``, tested with the test function ``v_i`` of component ``i``, reads
``(c1 u_t, v_i) - (F_i, grad v_i) - (S_i, v_i) - <g, v_i>_Neumann = 0``; Lagrange elements in space
(one per field, :mod:`.spaces`: Taylor-Hood where a field is a constraint), implicit Euler or
Crank-Nicolson in time (Newmark average acceleration for second time derivatives), Newton's
method (:mod:`.newton`) for each step.

Incompressible flow and other constrained systems: a constraint row (``div u = 0``, whose
multiplier is the pressure; :attr:`~pdekit.problem.Problem.constraint_fields`) is tested without
integrating by parts, ``(div F_i - S_i, q) = 0``, so it needs and takes no boundary condition.
Components without a time derivative live at the new time level only (the theta scheme weighs
only the evolving rows), so the constraint holds at every step; the pressure that comes out is
the multiplier at ``t_n + theta dt``, moved to the saved times by interpolation between steps.
A constraint field whose level the equations leave free (enclosed flow, periodic boxes) is fixed
at one point during the solve and then shifted to zero mean (``pressure_level="mean"``, the
default; ``"point"``: zero at the node nearest the domain's lower corner).  The result equals the
zero-mean solution a Lagrange multiplier for the mean would give, at the cost of a point value.
``scheme="ipcs"`` advances incompressible flow by incremental pressure correction
(:mod:`.ipcs`) instead.  Steady problems whose Newton iteration fails from the start are solved
by pseudo-transient continuation, or by continuation in a parameter (``continuation="Re:100"``).

Dirichlet values and periodic identifications act through one restriction ``U = P z + g`` on
the assembled SciPy systems, which keeps the DOLFINx surface small (see :mod:`.compat`).

A case outside the divergence form supplies ``Equation(weak_form=...)``: a callable that
receives a :class:`WeakFormContext` (the space, mixed or not, its test functions, the unknown
and the previous step, per field too) and returns the residual form of one time step.
"""

from __future__ import annotations

import dataclasses
import numbers
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
from ..problem import Difference, Dirichlet, Disk, Initial, Neumann, Polygon, Problem, Rectangle
from ..problem.equation import flux_rows, source_rows
from ..problem.fingerprint import fingerprint
from ..problem.geometry import _AxisBox
from ..problem.inputs import InputFunction
from ..problem.problem import Parameters
from ..results import AXES, DEFAULT_RESOLUTION, Solution, default_grid, save_dataset
from . import cache_dir, compat
from .compat import fem, ufl
from .compat import mesh as dmesh
from .ipcs import IPCS, check_structure
from .newton import Newton, NotConverged
from .spaces import Spaces, element_degrees, parse_elements

__all__ = ["ReferenceSettings", "ReferenceSolution", "WeakFormContext", "solve"]

SCHEMES = {"implicit_euler": 1.0, "crank_nicolson": 0.5, "ipcs": 0.5}
PRESSURE_LEVELS = ("mean", "point")
DEFAULT_CELLS = {1: 1024, 2: 32, 3: 8}
CACHE_VERSION = "fenics-reference-2"


@dataclass(frozen=True)
class ReferenceSettings:
    """Discretisation settings of the FEniCS reference.

    Args:
        degree: Lagrange element degree (of every field but a constraint field, which gets
            ``degree - 1``: Taylor-Hood).
        cells: cells per axis for intervals, rectangles and boxes (scaled by aspect ratio);
            cells across the largest extent for gmsh meshes (disks, polygons, domains with holes).
        dt: largest time step (default: a 200th of the interval); the step used divides the
            interval into a multiple of ``saves``.
        scheme: ``implicit_euler``, ``crank_nicolson``, or ``ipcs`` (incremental pressure
            correction for incompressible flow, :mod:`.ipcs`; Crank-Nicolson in the momentum).
        saves: number of intervals between stored snapshots (``saves + 1`` times are kept);
            ``None``: every step, so that the Solution, linear in time between snapshots, errs
            in time no more than the scheme does.
        newton_rtol, newton_atol: Newton stopping tolerances on the residual norm.
        max_newton: most Newton iterations per step.
        elements: Lagrange degree per field overriding the defaults, ``"u:P2,p:P1"``.
        allow_unstable: solve a constraint with an element pair that is not Taylor-Hood.
        pressure_level: how a constraint field's free level is fixed: ``mean`` (zero mean) or
            ``point`` (zero at the node nearest the domain's lower corner).
        continuation: a parameter to continue in for a steady problem, ``"Re:100"``: Newton at
            values from 100 towards the problem's (geometric steps, shortened when Newton fails);
            ``"Re"`` starts from a tenth of the value.  Nothing is continued when the start is not
            below the problem's value.
        hole_refinement: cells at the holes of a domain with holes are this many times smaller.
    """

    degree: int = 2
    cells: int | None = None
    dt: float | None = None
    scheme: str = "crank_nicolson"
    saves: int | None = None
    newton_rtol: float = 1e-10
    newton_atol: float = 1e-12
    max_newton: int = 25
    elements: str = ""
    allow_unstable: bool = False
    pressure_level: str = "mean"
    continuation: str = ""
    hole_refinement: float = 1.0

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
        if not self.hole_refinement >= 1:
            raise ValueError(f"hole_refinement must be >= 1 (1: a uniform mesh), got {self.hole_refinement}")
        if self.pressure_level not in PRESSURE_LEVELS:
            raise ValueError(f"unknown pressure_level {self.pressure_level!r}; valid choices: {', '.join(PRESSURE_LEVELS)}")
        object.__setattr__(self, "elements", ",".join(f"{name}:P{k}" for name, k in parse_elements(self.elements).items()))

    @classmethod
    def from_options(cls, **options) -> "ReferenceSettings":
        """Settings from keyword options (strings from the CLI are converted to each field's type)."""
        return config_from_options(cls, options, "reference")


@dataclass
class WeakFormContext:
    """What a hand-written weak form receives.

    ``u`` (the unknown), ``u_n`` (the previous step; ``None`` when steady) and ``v`` (the test
    function) live on ``space``, which is mixed for several fields: ``fields``, ``old_fields`` and
    ``tests`` give them per field name (``ufl.split``), a scalar or a UFL vector each.  ``x`` is the
    spatial coordinate, ``t``/``t_n`` the new and old times and ``dt`` the step (constants),
    ``p`` the parameters as the forms see them, ``theta`` the scheme's weight of the new level.
    """

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
    fields: dict = dataclasses.field(default_factory=dict)
    old_fields: dict = dataclasses.field(default_factory=dict)
    tests: dict = dataclasses.field(default_factory=dict)


class _Interpolated:
    """An input function as the forms see it: its finite-element interpolant, whatever the
    arguments (input functions depend on space alone)."""

    def __init__(self, function):
        self.function = function

    def __call__(self, x=None, t=None, p=None):
        return self.function


# -- mesh --------------------------------------------------------------------------------------
def build_mesh(problem: Problem, cells: int, degree: int = 1, hole_refinement: float = 1.0):
    """The DOLFINx mesh of the problem's geometry (built-in meshes for boxes, gmsh otherwise).

    For elements of ``degree`` 2 or more, curved boundaries (a Disk's circle, a circular hole)
    get second-order cells whose edges follow the curve, so the geometry errs by ``O(h^3)``
    rather than the ``O(h^2)`` of straight edges that would cap P2 at second order.
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
    if isinstance(geometry, (Disk, Polygon, Difference)):
        curved = isinstance(geometry, Disk) or isinstance(geometry, Difference) and any(
            isinstance(shape, Disk) for shape in (geometry.outer, *geometry.holes.values()))
        return _gmsh_mesh(geometry, float((geometry.upper - geometry.lower).max()) / cells, 2 if curved and degree >= 2 else 1,
                          hole_refinement)
    raise ValueError(f"no mesher for {type(geometry).__name__}; supported: Interval, Rectangle, Box, Disk, Polygon, Difference")


def _occ_surface(gmsh, geometry) -> int:
    """The OpenCASCADE surface of a 2D geometry in the current gmsh model."""
    occ = gmsh.model.occ
    if isinstance(geometry, Disk):
        return occ.addDisk(*geometry.center, 0.0, geometry.radius, geometry.radius)
    if isinstance(geometry, Rectangle):
        return occ.addRectangle(*geometry.lower, 0.0, *(geometry.upper - geometry.lower))
    if isinstance(geometry, Polygon):
        points = [occ.addPoint(x, y, 0.0) for x, y in geometry.vertices]
        lines = [occ.addLine(points[i], points[(i + 1) % len(points)]) for i in range(len(points))]
        return occ.addPlaneSurface([occ.addCurveLoop(lines)])
    outer = _occ_surface(gmsh, geometry.outer)
    holes = [(2, _occ_surface(gmsh, shape)) for shape in geometry.holes.values()]
    return occ.cut([(2, outer)], holes)[0][0][1]


def _gmsh_mesh(geometry, size: float, order: int, hole_refinement: float = 1.0):
    import gmsh

    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(interruptible=False)  # leave Ctrl-C to Python
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.option.setNumber("General.NumThreads", 1)
        gmsh.model.add("pdekit")
        surface = _occ_surface(gmsh, geometry)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(2, [surface], 1)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMin", size / hole_refinement)
        gmsh.option.setNumber("Mesh.CharacteristicLengthMax", size)
        if hole_refinement != 1.0 and isinstance(geometry, Difference):
            _refine_at_holes(gmsh, geometry, surface, size, hole_refinement)
        gmsh.model.mesh.generate(2)
        if order > 1:
            gmsh.model.mesh.setOrder(order)  # new nodes on curved boundaries lie on the curve
        return compat.gmsh_to_mesh(gmsh.model, gdim=2)
    finally:
        gmsh.model.remove()
        if started:
            gmsh.finalize()


def _refine_at_holes(gmsh, geometry, surface: int, size: float, ratio: float) -> None:
    """A gmsh size field: ``size / ratio`` on the holes' curves, ``size`` from four ``size`` away."""
    curves = []
    for _, tag in gmsh.model.getBoundary([(2, surface)], oriented=False):
        box = np.reshape(gmsh.model.getBoundingBox(1, abs(tag)), (2, 3))[:, :2]
        if any(np.all(box[0] >= hole.lower - 1e-3 * size) and np.all(box[1] <= hole.upper + 1e-3 * size)
               for hole in geometry.holes.values()):
            curves.append(abs(tag))
    field = gmsh.model.mesh.field
    distance = field.add("Distance")
    field.setNumbers(distance, "CurvesList", curves)
    field.setNumber(distance, "Sampling", 400)
    threshold = field.add("Threshold")
    field.setNumber(threshold, "InField", distance)
    field.setNumber(threshold, "SizeMin", size / ratio)
    field.setNumber(threshold, "SizeMax", size)
    field.setNumber(threshold, "DistMin", 0.0)
    field.setNumber(threshold, "DistMax", 4 * size)
    field.setAsBackgroundMesh(threshold)
    for option in ("Mesh.MeshSizeExtendFromBoundary", "Mesh.MeshSizeFromPoints", "Mesh.MeshSizeFromCurvature"):
        gmsh.option.setNumber(option, 0)


def _boundary_marker(geometry, on):
    if on is None:
        return lambda x: np.ones(x.shape[1], dtype=bool)
    if callable(on):
        return lambda x: np.asarray(on(x), dtype=bool)
    markers = [geometry.side_marker(name) for name in ((on,) if isinstance(on, str) else on)]
    return lambda x: np.any([m(x) for m in markers], axis=0)


def _is_zero(value) -> bool:
    """A term that is zero as written (a number, or UFL's Zero), which UFL cannot integrate."""
    return isinstance(value, numbers.Number) and value == 0 or isinstance(value, ufl.constantvalue.Zero)


# -- the discrete problem ----------------------------------------------------------------------
class _Discretisation:
    """Spaces, forms and constraints of one reference solve.

    Rows and components are numbered as the Problem's :attr:`~pdekit.problem.Problem.components`.
    """

    def __init__(self, problem: Problem, settings: ReferenceSettings):
        self.problem, self.settings = problem, settings
        self.n = problem.n_components
        self.degrees = element_degrees(problem, settings.degree, settings.elements, settings.allow_unstable)
        self.mesh = build_mesh(problem, settings.cells or DEFAULT_CELLS[problem.dim], max(self.degrees.values()),
                               settings.hole_refinement)
        self.spaces = Spaces(self.mesh, problem, self.degrees)
        self.space = self.spaces.space
        self.fdim = self.mesh.topology.dim - 1
        self.mesh.topology.create_connectivity(self.fdim, self.mesh.topology.dim)
        self.u = fem.Function(self.space)
        self.size = self.spaces.size
        self.x = ufl.SpatialCoordinate(self.mesh)
        self.tests = self.spaces.split(ufl.TestFunction(self.space))
        self.constraint_rows = [i for name in problem.constraint_fields
                                for i in range(self.n)[problem.component_slice(name)]]
        for condition in problem.conditions_of(Neumann):
            if set(range(self.n)[problem.component_slice(condition.field)]) & set(self.constraint_rows):
                raise ValueError(f"Neumann condition on {condition.field!r}: a constraint row (no dependence on its own "
                                 "field, as div u = 0 for the pressure) takes no boundary condition")
        self.p = self._form_parameters()

    def _form_parameters(self) -> Parameters:
        """The parameters as the forms see them: numbers as constants and input functions
        interpolated into finite-element functions (Lagrange of the solution's degree, DG0 where
        they jump), so that every sample of an input family shares one compiled form."""
        values = {}
        for name, value in self.problem.params.items():
            if isinstance(value, float) or name == continuation_parameter(self.settings)[0] and isinstance(value, int):
                values[name] = compat.constant(self.mesh, value)
            elif isinstance(value, InputFunction):
                space = compat.discontinuous_space(self.mesh) if value.discontinuous \
                    else compat.function_space(self.mesh, max(self.degrees.values()), 1)
                function = fem.Function(space)
                function.interpolate(lambda x, f=value: np.asarray(f(x[: self.problem.dim]), dtype=float))
                values[name] = _Interpolated(function)
            else:
                values[name] = value
        return Parameters(values)

    def split(self, function) -> list:
        """The UFL scalar components of a Function on the unknown's space."""
        return self.spaces.split(function)

    # constraints: U = P z + g ----------------------------------------------------------------
    def dirichlet(self):
        """Constrained dof indices and a function ``t -> values`` for them (later conditions win
        where boundary parts meet)."""
        parts = []
        for condition in self.problem.conditions_of(Dirichlet):
            facets = dmesh.locate_entities_boundary(self.mesh, self.fdim, _boundary_marker(self.problem.geometry, condition.on))
            components = range(self.n)[self.problem.component_slice(condition.field)]
            dofs = [(c, np.asarray(fem.locate_dofs_topological(self.spaces.components[c][0], self.fdim, facets)))
                    for c in components]
            parts.append((condition, list(components), dofs))

        def values(t):
            g = np.zeros(self.size)
            for condition, components, dofs in parts:
                full = self.spaces.interpolate(self._rows(condition.value, t, len(components)), components)
                for c, local in dofs:
                    where = self.spaces.components[c][1][local]
                    g[where] = full[where]
            return g

        fixed = [self.spaces.components[c][1][local] for _, _, dofs in parts for c, local in dofs]
        return (np.unique(np.concatenate(fixed)) if fixed else np.zeros(0, dtype=np.int64)), values

    def _rows(self, value, t, count: int):
        """A condition value as a function ``x -> rows`` (one per component it sets)."""
        p, d = self.problem.p, self.problem.dim

        def evaluate(x):
            raw = value(x[:d], t, p) if callable(value) else value
            return [raw] if count == 1 else list(raw)

        return evaluate

    def initial(self, condition, t) -> np.ndarray:
        """The dof array of an initial condition (zero on the components it does not set)."""
        components = range(self.n)[self.problem.component_slice(condition.field)]
        return self.spaces.interpolate(self._rows(condition.value, t, len(components)), components)

    def restriction(self, fixed: np.ndarray) -> scipy.sparse.csr_matrix:
        """``P`` mapping free (reduced) unknowns to all dofs, with periodic sides identified."""
        representative = np.arange(self.size)
        geometry = self.problem.geometry
        tol = 1e-8 * geometry.diameter
        for axis in self.problem.periodic_axes:
            lower, upper = geometry.lower[axis], geometry.upper[axis]
            for space, dofs in self.spaces.components:
                coords = space.tabulate_dof_coordinates()[:, : self.problem.dim]
                masters = np.nonzero(np.abs(coords[:, axis] - lower) < tol)[0]
                slaves = np.nonzero(np.abs(coords[:, axis] - upper) < tol)[0]
                shifted = coords[slaves].copy()
                shifted[:, axis] = lower
                distance, nearest = cKDTree(coords[masters]).query(shifted)
                if len(slaves) != len(masters) or np.any(distance > tol):
                    raise ValueError(f"the mesh is not periodic along axis {axis}: opposite sides' nodes do not match")
                representative[dofs[slaves]] = dofs[masters[nearest]]
        for _ in range(len(self.problem.periodic_axes)):  # corners: follow chains to the root
            representative = representative[representative]
        free = np.setdiff1d(np.arange(self.size), fixed)
        roots, column = np.unique(representative[free], return_inverse=True)
        if np.intersect1d(roots, fixed).size:
            keep = ~np.isin(representative[free], fixed)  # slaves of a constrained master are constrained too
            free, column = free[keep], np.unique(representative[free[keep]], return_inverse=True)[1]
        return scipy.sparse.csr_matrix((np.ones(len(free)), (free, column)), shape=(self.size, column.max() + 1))

    def free_levels(self, jacobian: scipy.sparse.spmatrix, fixed: np.ndarray) -> list[int]:
        """Components of constraint fields whose constant the equations leave free (the
        Jacobian's columns of that component sum to zero on the free rows: the pressure of
        enclosed or periodic flow).  A ``weak_form`` hides which fields are constraints: there
        every component of a system of several fields is checked."""
        P = self.restriction(fixed)
        J = P.T @ jacobian @ P
        found = []
        candidates = self.constraint_rows if self.problem.equation.weak_form is None or len(self.problem.fields) == 1 \
            else range(self.n)
        for c in candidates:
            indicator = np.zeros(self.size)
            indicator[self.spaces.components[c][1]] = 1.0
            z = (P.T @ indicator > 0).astype(float)
            if z.any() and np.linalg.norm(J @ z) <= 1e-10 * np.linalg.norm(abs(J) @ z):
                found.append(c)
        return found

    def level_point(self, c: int) -> int:
        """The dof of component ``c`` nearest the domain's lower corner."""
        space, dofs = self.spaces.components[c]
        coords = space.tabulate_dof_coordinates()[:, : self.problem.dim]
        return int(dofs[np.argmin(np.linalg.norm(coords - self.problem.geometry.lower, axis=1))])

    def mean_weights(self, c: int) -> np.ndarray:
        """``w`` with ``w . U`` the integral of component ``c``."""
        return compat.assemble_vector(fem.form(self.tests[c] * ufl.dx))

    # forms --------------------------------------------------------------------------------
    def operator(self, state: list, t, rows=None):
        """``L(state, t) = -(F_i, grad v_i) - (S_i, v_i) - <g_i, v_i>`` summed over ``rows`` (default
        all) for the divergence-form equation at the UFL components ``state``; a constraint row
        is tested without integrating by parts: ``(div F_i - S_i, v_i)``."""
        problem, eq, p, x = self.problem, self.problem.equation, self.p, self.x
        n, d = self.n, problem.dim
        rows = range(n) if rows is None else rows
        value = state[0] if n == 1 else ufl.as_vector(state)
        grads = ufl.grad(state[0]) if n == 1 else [ufl.grad(c) for c in state]
        flux = flux_rows(eq.flux(value, grads, x, t, p), n, d) if eq.flux is not None else None
        source = source_rows(eq.source(value, grads, x, t, p), n) if eq.source is not None else None
        normal = ufl.FacetNormal(self.mesh)
        form = 0
        for i in rows:
            v = self.tests[i]
            if flux is not None and not all(_is_zero(f) for f in flux[i]):
                F = ufl.as_vector(flux[i])
                form = form - ufl.inner(F, ufl.grad(v)) * ufl.dx
                if i in self.constraint_rows:  # back to (div F, v): the boundary term stays
                    form = form + ufl.inner(F, normal) * v * ufl.ds
            if source is not None and not _is_zero(source[i]):
                form = form - source[i] * v * ufl.dx
        for tag, condition in enumerate(problem.conditions_of(Neumann), start=1):
            components = range(n)[problem.component_slice(condition.field)]
            g = condition.value(x, t, p) if callable(condition.value) else condition.value
            for c, value_c in zip(components, [g] if len(components) == 1 else list(g)):
                if c in rows and not _is_zero(value_c):
                    form = form - value_c * self.tests[c] * self.ds(tag)
        return form

    def context(self, u, u_n, t, t_n, dt, theta) -> WeakFormContext:
        """What a hand-written weak form receives (``u_n`` ``None`` when steady)."""
        by_field = self.spaces.by_field
        return WeakFormContext(u, u_n, ufl.TestFunction(self.space), self.x, t, t_n, dt, self.p, self.mesh, self.space,
                               theta, by_field(self.split(u)), by_field(self.split(u_n)) if u_n is not None else {},
                               by_field(self.tests))

    def steady_form(self):
        """The residual form of a steady problem (the ``weak_form`` hook's, or the generated one)."""
        if self.problem.equation.weak_form is not None:
            return self.problem.equation.weak_form(self.context(self.u, None, None, None, None, 1.0))
        return self.operator(self.split(self.u), None)

    def mass(self, rows) -> scipy.sparse.csr_matrix:
        """The unrestricted mass matrix of ``rows``."""
        trial = self.split(ufl.TrialFunction(self.space))
        return compat.assemble_matrix(fem.form(sum(trial[i] * self.tests[i] * ufl.dx for i in rows)))

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


# -- the solution --------------------------------------------------------------------------------
class ReferenceSolution(Solution):
    """A FEniCS solution: exact finite-element evaluation in space, linear in time between saves.

    Its default grid (:meth:`grid`, what ``save`` writes) keeps the solve's accuracy: the saved
    times, and in space the element's nodes (1D) or a regular grid at least as fine as them.
    """

    def __init__(self, problem, settings, disc, times, snapshots, wall_time, cached=False, solver_stats=None):
        elements = ",".join(f"{name}:P{k}" for name, k in disc.degrees.items())
        config = {**dataclasses.asdict(settings), "elements": elements, "dofs": disc.size, "cached": cached,
                  **(solver_stats or {})}
        super().__init__(problem, "fenics", config, wall_time)
        self.settings, self.times, self.snapshots = settings, np.asarray(times), np.asarray(snapshots)
        self._disc = disc
        self._scratch = [fem.Function(space) for space, _ in disc.spaces.components]

    @property
    def space(self):
        return self._disc.space

    def at_save(self, k: int):
        """The DOLFINx Function of saved step ``k``."""
        function = fem.Function(self._disc.space)
        function.x.array[:] = self.snapshots[k]
        return function

    def boundary_flux(self, on, field: str | None = None, k: int = -1) -> np.ndarray:
        """``int_G F_i . n ds`` for each component ``i`` of ``field`` over the boundary part ``on``
        (a side name, names or a predicate) that carries a Dirichlet condition, at saved step
        ``k`` of a steady problem: for incompressible flow the force of the fluid on the wall.

        Computed from the residual (the reaction at the part's dofs, Babuska and Miller's
        volume form of the flux), which converges as fast as the energy norm squared where the
        surface integral of ``F . n`` converges as the gradient does.  The part should be a whole
        boundary piece (a hole) or meet the rest where the flux vanishes: the nodes where it
        meets another part count with their whole cell.
        """
        disc, problem = self._disc, self.problem
        if problem.is_evolution:
            raise ValueError("boundary_flux needs a steady problem (the residual of a time step also holds the time term)")
        facets = dmesh.locate_entities_boundary(disc.mesh, disc.fdim, _boundary_marker(problem.geometry, on))
        if not len(facets):
            raise ValueError(f"no boundary facets on {on!r}")
        disc.u.x.array[:] = self.snapshots[k]
        residual = compat.assemble_vector(fem.form(disc.steady_form()))
        out = []
        for c in range(problem.n_components)[problem.component_slice(field)]:
            space, dofs = disc.spaces.components[c]
            out.append(-float(residual[dofs[fem.locate_dofs_topological(space, disc.fdim, facets)]].sum()))
        return np.asarray(out)

    def grid(self, resolution: int | None = None, times: int | None = None) -> dict[str, np.ndarray]:
        """The solver's saved times (or ``times`` evenly spaced) and, in space, ``resolution``
        points per axis or else the element's nodes: in 1D the nodes themselves; otherwise a
        regular grid with the nodes' spacing (``h / degree``; on boxes these are the nodes) and
        never coarser than :data:`~pdekit.results.DEFAULT_RESOLUTION`."""
        problem = self.problem
        coords = default_grid(problem, resolution, times)
        if resolution is None:
            geometry, d = problem.geometry, problem.dim
            degree = max(self._disc.degrees.values())
            if d == 1:
                coords["x"] = np.unique(self._disc.spaces.coordinates[:, 0])
            else:
                extent = geometry.upper - geometry.lower
                cells = self.settings.cells or DEFAULT_CELLS[d]
                for j, e in enumerate(extent):
                    n = max(DEFAULT_RESOLUTION[d], max(1, round(cells * e / extent.max())) * degree + 1)
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
        out = np.full((len(points3), self.problem.n_components), np.nan)
        inside = cells >= 0
        if inside.any():
            for c, (scratch, (_, dofs)) in enumerate(zip(self._scratch, self._disc.spaces.components)):
                scratch.x.array[:] = self.snapshots[k][dofs]
                out[inside, c] = scratch.eval(points3[inside], cells[inside]).reshape(inside.sum(), -1)[:, 0]
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
    _check_supported(problem, settings)
    disc = _Discretisation(problem, settings)
    key = fingerprint(problem, dataclasses.asdict(settings), CACHE_VERSION)
    path = cache_dir() / f"{problem.name}-{key}.nc"
    if cache and path.exists():
        loaded = _load_cached(path, problem, settings, disc)
        if loaded is not None:
            return loaded
    start = _time.perf_counter()
    times, snapshots, stats = _march(problem, settings, disc, progress, _Checkpoint(checkpoint, resume, key))
    solution = ReferenceSolution(problem, settings, disc, times, snapshots, _time.perf_counter() - start,
                                 solver_stats=stats)
    if cache:
        save_dataset(xr.Dataset({"values": (("time", "dof"), solution.snapshots),
                                 "dof_coordinates": (("dof", "xyz"), disc.spaces.coordinates)},
                                coords={"time": solution.times}, attrs={"wall_time_s": solution.wall_time}), path)
    return solution


def continuation_parameter(settings: ReferenceSettings) -> tuple[str, float | None]:
    """The parameter of ``settings.continuation`` and its start (``None``: a tenth of its value)."""
    name, _, start = settings.continuation.partition(":")
    try:
        return name.strip(), float(start) if start.strip() else None
    except ValueError:
        raise ValueError(f"continuation: cannot read the start {start!r}; write 'name' or 'name:start', as 'Re:100'") from None


def _check_supported(problem: Problem, settings: ReferenceSettings) -> None:
    """Refuse what the lowering cannot solve, saying why."""
    if settings.scheme == "ipcs":
        check_structure(problem)
    if settings.continuation:
        name, start = continuation_parameter(settings)
        numeric = {k for k, v in problem.params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if name not in numeric:
            raise ValueError(f"continuation: {name!r} is not a numeric parameter of {problem.name!r}; "
                             f"valid choices: {', '.join(sorted(numeric)) or '(none)'}")
        if problem.is_evolution:
            raise ValueError("continuation is for steady problems; an evolution problem starts from its initial condition")
        if start is not None and (start == 0 or start * problem.params[name] <= 0):
            raise ValueError(f"continuation: the start {start} must be nonzero and of the sign of {name} = "
                             f"{problem.params[name]}")
    if problem.is_evolution and problem.equation.second_time_coefficient != 0 and problem.constraint_fields:
        raise ValueError(f"{problem.name!r} has a second time derivative and a constraint field "
                         f"({', '.join(problem.constraint_fields)}); the Newmark scheme is written for unconstrained systems")


def _load_cached(path, problem, settings, disc):
    data = xr.load_dataset(path, engine="h5netcdf")
    if not np.allclose(data["dof_coordinates"].values, disc.spaces.coordinates):
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


class _Level:
    """The free level of constraint fields (:meth:`_Discretisation.free_levels`): fixed at a
    point during the solve and, for ``pressure_level="mean"``, shifted to zero mean after it,
    which gives what a Lagrange multiplier for the mean would."""

    def __init__(self, disc: _Discretisation, newton: Newton, U: np.ndarray, fixed: np.ndarray):
        self.components = disc.free_levels(newton.jacobian_at(U), fixed)
        points = [disc.level_point(c) for c in self.components]
        self.fixed = np.union1d(fixed, np.asarray(points, dtype=np.int64))
        self.means = [] if disc.settings.pressure_level != "mean" else [
            (disc.spaces.components[c][1], disc.mean_weights(c)) for c in self.components]

    def shift(self, U: np.ndarray) -> np.ndarray:
        for dofs, weights in self.means:
            U[dofs] -= (weights @ U) / weights.sum()
        return U


def _initial_values(problem: Problem, disc: _Discretisation, derivative: int, t0: float) -> np.ndarray:
    """The dof array of the initial conditions of ``derivative`` order (zero where none is given:
    a constraint field has no initial value)."""
    U = np.zeros(disc.size)
    for condition in problem.conditions_of(Initial):
        if condition.derivative == derivative:
            values = disc.initial(condition, t0)
            for c in range(disc.n)[problem.component_slice(condition.field)]:
                U[disc.spaces.components[c][1]] = values[disc.spaces.components[c][1]]
    return U


def _march(problem: Problem, settings: ReferenceSettings, disc: _Discretisation, progress, checkpoint: _Checkpoint):
    """Time-march (or solve once, for steady problems); returns save times, snapshots and the
    solver's counts.

    On a preemption signal the state after the current step goes to ``checkpoint`` and
    :class:`~pdekit.batch.preemption.Preempted` is raised; a resumed march continues from it."""
    eq, V, n = problem.equation, disc.space, disc.n
    fixed, dirichlet_values = disc.dirichlet()
    u, state = disc.u, disc.split(disc.u)

    if not problem.is_evolution:
        U = np.zeros(disc.size)
        U[fixed] = dirichlet_values(None)[fixed]
        newton = Newton(V, disc.steady_form(), u, settings)
        level = _Level(disc, newton, U, fixed)
        newton.P = disc.restriction(level.fixed)
        evolving = [i for i in range(n) if i not in disc.constraint_rows]
        if settings.continuation and not newton.linear:
            name, start = continuation_parameter(settings)
            target = float(problem.params[name])
            start = target / 10 if start is None else start
            solved = _parameter_continuation(newton, disc.p[name], start, target, U, lambda: disc.mass(evolving))
        else:
            solved = _steady(newton, U, lambda: disc.mass(evolving), "in the steady solve")
        return np.zeros(1), level.shift(solved)[None, :], _stats(newton, level)

    t0, t1 = problem.time.t0, problem.time.t1
    steps_per_save, steps, dt = _steps(problem, settings)
    theta = SCHEMES[settings.scheme]
    t_new, t_old, t_older = (compat.constant(disc.mesh, t0) for _ in range(3))
    u_n, u_nm1 = fem.Function(V), fem.Function(V)
    u_n.x.array[:] = _initial_values(problem, disc, 0, t0)
    dt_c = compat.constant(disc.mesh, dt)
    c1, c2 = problem.time_coefficients, eq.second_time_coefficient
    old, older = disc.split(u_n), disc.split(u_nm1)
    evolving = [i for i in range(n) if c1[i]]
    algebraic = [i for i in range(n) if not c1[i]]

    def weighted(terms, rows):
        return sum(weight * disc.operator(w, t, rows) for weight, w, t in terms if weight)

    def rate(w, w_old, span):
        return sum(c1[i] * (w[i] - w_old[i]) * disc.tests[i] for i in evolving) / span * ufl.dx

    if eq.weak_form is not None:
        form = eq.weak_form(disc.context(u, u_n, t_new, t_old, dt_c, theta))
    elif c2 == 0:
        # algebraic components (a pressure) live at the new level: the lagged state keeps theirs
        lagged = [old[i] if c1[i] else state[i] for i in range(n)]
        form = weighted([(theta, state, t_new), (1 - theta, lagged, t_old)], evolving)
        form = form + rate(state, old, dt_c) if evolving else form
        form = form + disc.operator(state, t_new, algebraic) if algebraic else form
    else:
        weights = (0.25, 0.5, 0.25) if settings.scheme == "crank_nicolson" else (1.0, 0.0, 0.0)
        form = c2 * sum((state[i] - 2 * old[i] + older[i]) * disc.tests[i] for i in range(n)) / dt_c**2 * ufl.dx \
            + weighted(list(zip(weights, (state, old, older), (t_new, t_old, t_older))), range(n))
        if evolving:
            form = form + (rate(state, older, 2 * dt_c) if settings.scheme == "crank_nicolson" else rate(state, old, dt_c))
    newton = Newton(V, form, u, settings, varying=(t_new, t_old, t_older), reuse=True)
    level = _Level(disc, newton, u_n.x.array.copy(), fixed)
    P = newton.P = disc.restriction(level.fixed)
    ipcs = None
    if settings.scheme == "ipcs":  # after a first coupled step, which finds the pressure
        lagged = [old[i] if c1[i] else state[i] for i in range(n)]
        momentum = weighted([(theta, state, t_new), (1 - theta, lagged, t_old)], evolving) + rate(state, old, dt_c)
        ipcs = IPCS(disc, settings, momentum, fixed, dt, (t_new, t_old, t_older), t_new)

    def advance(U, when, step):
        if ipcs is not None and step > 1:
            return ipcs.step(U, when)
        return level.shift(newton.solve(U, when))

    times, snapshots = [t0], [u_n.x.array.copy()]
    first = 1
    if c2 != 0:  # start the three-level scheme with a Taylor step u1 = u0 + dt v0 + dt^2 / 2 a0
        u_nm1.x.array[:] = u_n.x.array
        u_n.x.array[:] = _taylor_step(problem, disc, u_n, P, dt, t0, fixed, dirichlet_values(t0 + dt))
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
        U = advance(U, f"at t = {t:.6g}", step)
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
    snapshots = np.asarray(snapshots)
    if ipcs is not None:  # its pressure, like the coupled scheme's, belongs to t_n + dt / 2
        _align_multipliers(snapshots, disc, np.asarray(times), 0.5 * dt)
        stats = ipcs.stats
        stats["newton_iterations"] += newton.iterations
        stats["factorisations"] += newton.factorisations
        return np.asarray(times), snapshots, stats
    if eq.weak_form is None:
        _align_multipliers(snapshots, disc, np.asarray(times), (1 - theta) * dt)
    return np.asarray(times), snapshots, _stats(newton, level)


def _steady(newton: Newton, U: np.ndarray, mass, when: str) -> np.ndarray:
    """Newton from ``U``, and pseudo-transient continuation from ``U`` where Newton fails."""
    try:
        return newton.solve(U.copy(), when)
    except NotConverged:
        if newton.linear:
            raise
        return newton.continuation(U, mass(), when)


def _parameter_continuation(newton: Newton, constant, start: float, target: float, U: np.ndarray, mass,
                            max_solves: int = 40) -> np.ndarray:
    """Newton at parameter values from ``start`` to ``target`` (the form's ``constant``), each from
    the previous solution: geometric steps, halved when Newton fails, grown when it succeeds."""
    if abs(start) >= abs(target):
        return _steady(newton, U, mass, "in the steady solve")
    constant.value = start
    U = _steady(newton, U, mass, f"at the continuation's start ({start:.6g})")
    current, ratio = start, (target / start) ** 0.25
    for _ in range(max_solves):
        value = target if abs(current * ratio) >= abs(target) else current * ratio
        constant.value = value
        try:
            U = newton.solve(U.copy(), f"in the continuation at {value:.6g}")
        except NotConverged:
            ratio = ratio ** 0.5
            if ratio < 1.01:
                break
            continue
        newton.continuation_values.append(value)
        if value == target:
            return U
        current, ratio = value, ratio ** 1.5
    constant.value = target
    raise NotConverged(f"the continuation stalled at {current:.6g} on its way to {target:.6g}: refine the mesh, or "
                       "start it nearer the target")


def _steps(problem: Problem, settings: ReferenceSettings) -> tuple[int, int, float]:
    """Steps per save, steps and the time step: the largest step at most ``dt`` that divides the
    interval into a multiple of ``saves``."""
    t0, t1 = problem.time.t0, problem.time.t1
    saves = settings.saves or int(np.ceil((t1 - t0) / (settings.dt or (t1 - t0) / 200) - 1e-9))
    steps_per_save = int(np.ceil((t1 - t0) / (settings.dt or (t1 - t0) / 200) / saves - 1e-9))
    steps = steps_per_save * saves
    return steps_per_save, steps, (t1 - t0) / steps


def _stats(newton: Newton, level: _Level) -> dict:
    return {"newton_iterations": newton.iterations, "factorisations": newton.factorisations,
            "continuation_steps": newton.continuation_steps,
            "continuation_values": ",".join(f"{v:.6g}" for v in newton.continuation_values),
            "free_levels": len(level.components)}


def _align_multipliers(snapshots: np.ndarray, disc: _Discretisation, times: np.ndarray, lag: float) -> None:
    """Move the constraint fields' values (in place) from the times they belong to, ``lag`` before
    each save (the multiplier of a theta step lives at ``t_n + theta dt``), to the save times, by
    linear interpolation between saves (extrapolation at the ends); the value at ``t0``, which no
    step computes, comes from the first two saves."""
    if len(times) < 2 or not disc.constraint_rows:
        return
    dofs = np.concatenate([disc.spaces.components[c][1] for c in disc.constraint_rows])
    values = snapshots[1:, dofs].copy()
    at = times[1:] - lag
    for k, t in enumerate(times):
        if len(values) == 1:
            snapshots[k, dofs] = values[0]
            continue
        j = min(max(np.searchsorted(at, t) - 1, 0), len(at) - 2)  # the interval (extended at the ends) holding t
        w = (t - at[j]) / (at[j + 1] - at[j])
        snapshots[k, dofs] = (1 - w) * values[j] + w * values[j + 1]


def _taylor_step(problem, disc, u0, P, dt, t0, fixed, boundary_values):
    """``u0 + dt v0 + dt^2 / 2 a0``, ``a0`` from the equation at ``t0`` (third-order accurate start)."""
    eq, n = problem.equation, disc.n
    v0 = _initial_values(problem, disc, 1, t0)
    velocity = fem.Function(disc.space)
    velocity.x.array[:] = v0
    t = compat.constant(disc.mesh, t0)
    trial = disc.split(ufl.TrialFunction(disc.space))
    M = compat.assemble_matrix(fem.form(eq.second_time_coefficient * sum(trial[i] * disc.tests[i] for i in range(n)) * ufl.dx))
    rhs = disc.operator(disc.split(u0), t)
    c1 = problem.time_coefficients
    if any(c1):
        rhs = rhs + sum(c1[i] * disc.split(velocity)[i] * disc.tests[i] for i in range(n) if c1[i]) * ufl.dx
    b = compat.assemble_vector(fem.form(rhs))
    # on constrained dofs the acceleration follows from the boundary values at t0 + dt
    a0 = np.zeros_like(b)
    a0[fixed] = 2 * (boundary_values[fixed] - u0.x.array[fixed] - dt * v0[fixed]) / dt**2
    a0 += P @ scipy.sparse.linalg.spsolve((P.T @ M @ P).tocsc(), -P.T @ (b + M @ a0))
    return u0.x.array + dt * v0 + 0.5 * dt**2 * a0
