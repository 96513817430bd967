"""The Problem: one validated, immutable description every solver consumes."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from .conditions import Dirichlet, Initial, Neumann, Periodic
from .equation import Equation, flux_rows, source_rows
from .geometry import BoundaryPoints, Geometry, TimeInterval, _AxisBox
from .inputs import InputFamily
from .sampling import unit_samples

__all__ = ["Field", "Parameters", "Problem"]


@dataclass(frozen=True)
class Field:
    """A named unknown with one (scalar) or several (vector) components."""

    name: str
    components: int = 1

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"field name must be an identifier, got {self.name!r}")
        if self.components < 1:
            raise ValueError(f"field {self.name!r} needs at least one component, got {self.components}")


class Parameters:
    """Read-only parameters with attribute access (``p.beta``) and a clear error for a typo.

    Values live in the instance ``__dict__`` so that ``p.beta`` is a plain attribute read
    (``torch.compile`` traces it without a graph break); only a missing name reaches
    ``__getattr__``, which names the valid ones.
    """

    def __init__(self, values: Mapping[str, object]):
        self.__dict__.update(values)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(f"unknown parameter {name!r}; this problem's parameters are: {_names(self.__dict__)}")

    def __setattr__(self, name, value):
        raise AttributeError("parameters are read-only; use problem.with_params(...) for a variant")

    def __getitem__(self, name):
        return getattr(self, name)

    def as_dict(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self):
        return f"Parameters({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"


def _names(values) -> str:
    return ", ".join(values) if values else "(none)"


def _check_signature(function, expected: tuple[str, ...], what: str) -> None:
    if not callable(function):
        raise ValueError(f"{what} must be a number or a callable {expected}, got {type(function).__name__}")
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return
    try:
        signature.bind(*expected)
    except TypeError:
        raise ValueError(
            f"{what} must take the arguments ({', '.join(expected)}), got {function.__name__}{signature}"
        ) from None


EQUATION_ARGS = ("u", "grad_u", "x", "t", "p")
VALUE_ARGS = ("x", "t", "p")


@dataclass(frozen=True)
class Problem:
    """A PDE problem: geometry, optional time interval, fields, parameters, equation, conditions.

    Args:
        name: short identifier used in results and caches.
        geometry: the spatial domain.
        equation: the divergence-form :class:`Equation`.
        fields: unknowns, as names (scalar fields) or :class:`Field` objects.
        conditions: Dirichlet, Neumann, Periodic and Initial conditions.
        time: the time interval; ``None`` for a steady problem.
        params: named parameters with their values (numbers, or callables for inputs).
        exact: optional exact solution ``exact(x, t, p)``.
        input_family: optional random input family (see :mod:`pdekit.problem.inputs`).
        description: one line for humans.

    Points are ``(N, d)`` arrays, or ``(N, d + 1)`` with time last for evolution problems.
    """

    name: str
    geometry: Geometry
    equation: Equation
    fields: tuple = ("u",)
    conditions: tuple = ()
    time: TimeInterval | None = None
    params: Mapping = field(default_factory=dict)
    exact: Callable | None = None
    input_family: object | None = None
    description: str = ""

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen
        set_("fields", tuple(f if isinstance(f, Field) else Field(f) for f in self.fields))
        set_("conditions", tuple(self.conditions))
        set_("params", MappingProxyType(dict(self.params)))
        self._validate()

    # -- structure -------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        """Spatial dimension ``d``."""
        return self.geometry.dim

    @property
    def is_evolution(self) -> bool:
        return self.time is not None

    @property
    def input_dim(self) -> int:
        """Columns of a point array: ``d``, plus one for time in evolution problems."""
        return self.dim + (1 if self.is_evolution else 0)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def components(self) -> tuple[str, ...]:
        """Names of the scalar components of the unknown, in order (``u`` or ``v_0, v_1``)."""
        names = []
        for f in self.fields:
            names += [f.name] if f.components == 1 else [f"{f.name}_{i}" for i in range(f.components)]
        return tuple(names)

    @property
    def n_components(self) -> int:
        return len(self.components)

    @property
    def time_coefficients(self) -> tuple[float, ...]:
        """``c1`` (the factor of ``du/dt``) per component, in the order of :attr:`components`."""
        return self.equation.time_coefficients(self.n_components)

    def component_slice(self, field_name: str | None) -> slice:
        """The components of ``field_name`` (``None``: the only field) in the stacked unknown; a
        component's own name (``u_1``, see :attr:`components`) selects that component alone."""
        if field_name is None:
            if len(self.fields) != 1:
                raise ValueError(f"this problem has several fields; name one of: {_names(self.field_names)}")
            return slice(0, self.n_components)
        start = 0
        for f in self.fields:
            if f.name == field_name:
                return slice(start, start + f.components)
            start += f.components
        if field_name in self.components:
            index = self.components.index(field_name)
            return slice(index, index + 1)
        raise ValueError(f"unknown field {field_name!r}; this problem's fields are: {_names(self.field_names)} "
                         f"(components: {_names(self.components)})")

    @functools.cached_property
    def constraint_fields(self) -> tuple[str, ...]:
        """Fields whose equations are constraints on the others: no time derivative (evolution
        problems) and rows that do not depend on the field itself, so that the field acts as their
        Lagrange multiplier (the pressure of ``div u = 0``).  Found by evaluating the flux and the
        source at seeded test states with the field perturbed; a problem given only by a
        ``weak_form`` has none."""
        eq = self.equation
        if eq.flux is None and eq.source is None:
            return ()
        n, d = self.n_components, self.dim
        x, t = self.split_points(self.sample_interior(4, seed=12345))
        rng = np.random.default_rng(4242)
        u, du = rng.uniform(0.5, 1.5, (n, 4)), rng.uniform(-1.0, 1.0, (n, d, 4))
        found = []
        for f in self.fields:
            part = self.component_slice(f.name)
            if self.is_evolution and any(self.time_coefficients[part]):
                continue
            moved_u, moved_du = u.copy(), du.copy()
            moved_u[part] += rng.uniform(0.5, 1.5, moved_u[part].shape)
            moved_du[part] += rng.uniform(0.5, 1.5, moved_du[part].shape)
            if np.allclose(self._rows(u, du, x, t)[part], self._rows(moved_u, moved_du, x, t)[part], rtol=1e-12, atol=1e-12):
                found.append(f.name)
        return tuple(found)

    def _rows(self, u, du, x, t) -> np.ndarray:
        """Flux and source per row, ``(n, d + 1, N)``, at states ``u`` ``(n, N)`` and ``du`` ``(n, d, N)``."""
        n, d, eq = self.n_components, self.dim, self.equation
        points = u.shape[-1]
        uu, dd = (u[0], du[0]) if n == 1 else (u, du)
        flux = flux_rows(eq.flux(uu, dd, x, t, self.p), n, d) if eq.flux else [[0.0] * d] * n
        source = source_rows(eq.source(uu, dd, x, t, self.p), n) if eq.source else [0.0] * n
        return np.array([[np.broadcast_to(np.asarray(v, dtype=float), (points,)) for v in [*flux[i], source[i]]]
                         for i in range(n)])

    @functools.cached_property
    def p(self) -> Parameters:
        """The parameters as a namespace, as the equation's callables receive them."""
        return Parameters(self.params)

    @property
    def periodic_axes(self) -> tuple[int, ...]:
        return tuple(c.axis for c in self.conditions if isinstance(c, Periodic))

    def conditions_of(self, kind) -> tuple:
        return tuple(c for c in self.conditions if isinstance(c, kind))

    def with_params(self, **values) -> "Problem":
        """A variant with some parameters changed; unknown names raise a ValueError."""
        unknown = [k for k in values if k not in self.params]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; this problem's parameters are: {_names(self.params)}")
        return dataclasses.replace(self, params={**self.params, **values})

    def sample_inputs(self, n: int, seed: int = 0) -> list["Problem"]:
        """``n`` variants with the input family's parameters drawn from seeds ``seed, ..., seed + n - 1``."""
        return [self.sample_input(seed + i) for i in range(n)]

    def sample_input(self, seed: int) -> "Problem":
        """The variant whose input family's parameters are drawn from ``seed`` (sample ``seed``)."""
        if self.input_family is None:
            raise ValueError(f"problem {self.name!r} has no input_family to sample")
        return self.with_params(**self.input_family.draw(self.geometry, seed))

    # -- sampling --------------------------------------------------------------------------
    def sample_interior(self, n: int, method: str = "uniform", seed: int = 0) -> np.ndarray:
        """``n`` seeded points in the domain (space-time for evolution problems)."""
        space = self.geometry.sample_interior(n, method, seed)
        return self._with_time(space, method, seed)

    def sample_boundary(self, n: int, method: str = "uniform", seed: int = 0) -> BoundaryPoints:
        """``n`` seeded boundary points with normals and side names (times for evolution)."""
        sample = self.geometry.sample_boundary(n, method, seed)
        return BoundaryPoints(self._with_time(sample.points, method, seed), sample.normals, sample.sides)

    def sample_initial(self, n: int, method: str = "uniform", seed: int = 0) -> np.ndarray:
        """``n`` seeded points at the initial time, ``(n, d + 1)``."""
        if not self.is_evolution:
            raise ValueError(f"problem {self.name!r} is steady: it has no initial points")
        space = self.geometry.sample_interior(n, method, seed)
        return np.concatenate([space, np.full((n, 1), self.time.t0)], axis=1)

    def _with_time(self, space: np.ndarray, method: str, seed: int) -> np.ndarray:
        if not self.is_evolution:
            return space
        t = self.time.t0 + self.time.length * unit_samples(len(space), 1, method, seed + 104729)
        return np.concatenate([space, t], axis=1)

    # -- evaluation helpers ----------------------------------------------------------------
    def split_points(self, points):
        """Component-first coordinates ``x`` (``(d, N)``) and times ``t`` (``(N,)`` or ``None``)."""
        if points.ndim != 2 or points.shape[1] != self.input_dim:
            raise ValueError(
                f"points for {self.name!r} must have shape (N, {self.input_dim}) "
                f"({'space then time' if self.is_evolution else 'space'}), got {tuple(points.shape)}"
            )
        x = points[:, : self.dim].T
        t = points[:, self.dim] if self.is_evolution else None
        return x, t

    def exact_solution(self, points) -> np.ndarray:
        """The exact solution at ``(N, input_dim)`` points as an ``(N, n_components)`` array."""
        if self.exact is None:
            raise ValueError(f"problem {self.name!r} has no exact solution")
        x, t = self.split_points(np.asarray(points, dtype=float))
        return stack_components(self.exact(x, t, self.p), len(points), self.n_components)

    def value_of(self, value, x, t):
        """Evaluate a condition value (number or callable) on any backend."""
        return value(x, t, self.p) if callable(value) else value

    # -- validation ------------------------------------------------------------------------
    def _validate(self):
        if not self.name or not str(self.name).replace("_", "").isalnum():
            raise ValueError(f"problem name must be a non-empty identifier-like string, got {self.name!r}")
        if not isinstance(self.geometry, Geometry):
            raise ValueError(f"geometry must be a pdekit Geometry (Interval, Rectangle, Box, Disk, Polygon), got {self.geometry!r}")
        if self.time is not None and not isinstance(self.time, TimeInterval):
            raise ValueError(f"time must be a TimeInterval or None, got {self.time!r}")
        if not isinstance(self.equation, Equation):
            raise ValueError(f"equation must be a pdekit Equation, got {self.equation!r}")
        names = self.field_names
        if not names:
            raise ValueError("a problem needs at least one field")
        if len(set(names)) != len(names):
            raise ValueError(f"field names must be unique, got {names}")
        for name in self.params:
            if not str(name).isidentifier():
                raise ValueError(f"parameter names must be identifiers, got {name!r}")
        eq = self.equation
        for what, fn in (("equation flux", eq.flux), ("equation source", eq.source)):
            if fn is not None:
                _check_signature(fn, EQUATION_ARGS, what)
        if eq.flux is None and eq.source is None and eq.weak_form is None:
            raise ValueError("the equation has neither flux nor source nor weak_form; give at least one")
        try:
            eq.time_coefficients(self.n_components)
        except ValueError as error:
            raise ValueError(f"{error} ({', '.join(self.components)})") from None
        if not self.is_evolution and eq.second_time_coefficient != 0:
            raise ValueError("the equation has a second time derivative but the problem is steady; give time=TimeInterval(...)")
        if self.exact is not None:
            _check_signature(self.exact, VALUE_ARGS, "exact solution")
        family = self.input_family
        if family is not None:
            if not isinstance(family, InputFamily):
                raise ValueError(f"input_family must be a pdekit input family (GaussianRandomField, "
                                 f"WhittleMaternField, Threshold, ...), got {family!r}")
            missing = [name for name in family.params if name not in self.params]
            if missing:
                raise ValueError(f"input_family fills parameter {missing[0]!r}, which the problem does not have; "
                                 f"its parameters are: {_names(self.params)}")
        self._validate_conditions()
        self._dry_run()

    def _validate_conditions(self):
        known = (Dirichlet, Neumann, Periodic, Initial)
        for c in self.conditions:
            if not isinstance(c, known):
                raise ValueError(f"unknown condition {c!r}; valid conditions: Dirichlet, Neumann, Periodic, Initial")
            if isinstance(c, Periodic):
                if not isinstance(self.geometry, _AxisBox):
                    raise ValueError(f"Periodic needs an Interval, Rectangle or Box, not {type(self.geometry).__name__}")
                if not 0 <= c.axis < self.dim:
                    raise ValueError(f"Periodic axis {c.axis} does not exist; valid axes: 0 to {self.dim - 1}")
                continue
            self.component_slice(c.field)  # raises for an unknown field
            if callable(c.value):
                _check_signature(c.value, VALUE_ARGS, f"{type(c).__name__} value")
            if isinstance(c, Initial):
                if not self.is_evolution:
                    raise ValueError(f"problem {self.name!r} is steady (time=None) but has an Initial condition")
                if c.derivative not in (0, 1):
                    raise ValueError(f"Initial derivative must be 0 (value) or 1 (du/dt), got {c.derivative}")
            elif isinstance(c.on, str) or isinstance(c.on, tuple):
                for side in (c.on,) if isinstance(c.on, str) else c.on:
                    if side not in self.geometry.sides:
                        raise ValueError(
                            f"{type(c).__name__} on side {side!r}, which {type(self.geometry).__name__} does not have; "
                            f"its sides are: {', '.join(self.geometry.sides)}"
                        )
            elif c.on is not None and not callable(c.on):
                raise ValueError(f"'on' must be None, a side name, a tuple of side names or a predicate, got {c.on!r}")
        periodic_sides = {self.geometry.sides[2 * a + k] for a in self.periodic_axes for k in (0, 1)}
        for c in self.conditions_of(Dirichlet) + self.conditions_of(Neumann):
            on = (c.on,) if isinstance(c.on, str) else c.on
            if on is None and periodic_sides:
                raise ValueError(f"{type(c).__name__} on the whole boundary conflicts with Periodic; "
                                 f"name the non-periodic sides (sides: {', '.join(self.geometry.sides)})")
            if isinstance(on, tuple) and periodic_sides & set(on):
                raise ValueError(f"sides {sorted(periodic_sides & set(on))} are periodic and cannot also carry {type(c).__name__}")
        if self.is_evolution:
            orders = [0, 1] if self.equation.second_time_coefficient != 0 else [0]
            c1 = self.time_coefficients
            for order in orders:
                for f in self.fields:
                    evolves = any(c1[i] for i in range(*self.component_slice(f.name).indices(self.n_components)))
                    if order == 0 and not evolves and self.equation.second_time_coefficient == 0:
                        continue  # a constraint field (pressure): no time derivative, no initial value
                    if not any(c.derivative == order and c.field in (f.name, None) for c in self.conditions_of(Initial)):
                        what = "initial value" if order == 0 else "initial time derivative (Initial(..., derivative=1))"
                        raise ValueError(f"evolution problem {self.name!r} lacks an {what} for field {f.name!r}")

    def _dry_run(self):
        """Evaluate every callable once on NumPy test points so mistakes surface at construction."""
        points = self.sample_interior(4, seed=12345)
        x, t = self.split_points(points)
        n, d = self.n_components, self.dim
        u = np.full(4, 0.5) if n == 1 else np.full((n, 4), 0.5)
        du = np.full((d, 4), 0.5) if n == 1 else np.full((n, d, 4), 0.5)
        checks = [("equation flux", self.equation.flux, (u, du, x, t, self.p)),
                  ("equation source", self.equation.source, (u, du, x, t, self.p)),
                  ("exact solution", self.exact, (x, t, self.p))]
        checks += [(f"{type(c).__name__} value", c.value, (x, t, self.p))
                   for c in self.conditions if not isinstance(c, Periodic) and callable(c.value)]
        for what, fn, args in checks:
            if fn is None:
                continue
            try:
                fn(*args)
            except AttributeError as error:
                raise ValueError(f"{what}: {error}") from error
            except Exception as error:  # a user's callable: report what failed and where
                raise ValueError(f"{what} failed on test points: {type(error).__name__}: {error}") from error


def stack_components(value, n_points: int, n_components: int) -> np.ndarray:
    """Normalise a field value (number, array, or sequence of components) to ``(N, n)``."""
    if n_components == 1 and (isinstance(value, numbers.Number) or np.ndim(value) <= 1):
        return np.broadcast_to(np.asarray(value, dtype=float), (n_points,)).reshape(n_points, 1).copy()
    rows = [np.broadcast_to(np.asarray(v, dtype=float), (n_points,)) for v in value]
    if len(rows) != n_components:
        raise ValueError(f"expected {n_components} components, got {len(rows)}")
    return np.stack(rows, axis=1)
