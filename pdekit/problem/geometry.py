"""Spatial domains and the time interval.

Every geometry knows its dimension, bounding box, named boundary sides (with outward normals)
and how to turn seeded unit samples into interior and boundary points.  Points are ``(N, d)``
arrays; predicates and markers receive coordinates component-first (``x[0]`` is the first
coordinate of all points), the convention UFL and DOLFINx use too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from matplotlib.path import Path

from .sampling import check_method, split_count, unit_samples

__all__ = ["Geometry", "Interval", "Rectangle", "Box", "Disk", "Polygon", "Difference", "TimeInterval", "BoundaryPoints"]


@dataclass(frozen=True)
class BoundaryPoints:
    """Points on the boundary with their outward unit normals and side names.

    Attributes:
        points: ``(N, d)`` coordinates (``(N, d + 1)`` with time last for evolution problems).
        normals: ``(N, d)`` outward unit normals.
        sides: ``(N,)`` array of side names.
    """

    points: np.ndarray
    normals: np.ndarray
    sides: np.ndarray

    def select(self, mask: np.ndarray) -> "BoundaryPoints":
        """The subset of points where ``mask`` is true."""
        return BoundaryPoints(self.points[mask], self.normals[mask], self.sides[mask])


@dataclass(frozen=True)
class _Side:
    """One named piece of a boundary: a map from ``[0, 1]^(d-1)`` onto it and its measure."""

    name: str
    measure: float
    place: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # unit (n, d-1) -> points, normals
    contains: Callable[[np.ndarray], np.ndarray]  # component-first coords -> bool


class Geometry:
    """Base class of spatial domains; subclasses define ``_sides`` and ``contains``."""

    dim: int
    lower: np.ndarray
    upper: np.ndarray
    _sides: tuple[_Side, ...]

    @property
    def sides(self) -> tuple[str, ...]:
        """Names of the boundary sides a condition may be put on."""
        return tuple(side.name for side in self._sides)

    @property
    def diameter(self) -> float:
        return float(np.linalg.norm(self.upper - self.lower))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether each of the ``(N, d)`` points lies in the closed domain."""
        raise NotImplementedError

    def volume(self) -> float:
        raise NotImplementedError

    def __sub__(self, hole) -> "Difference":
        """This domain with ``hole`` (or ``{name: hole}``) cut out: a :class:`Difference`."""
        return Difference(self, hole)

    def side_marker(self, name: str) -> Callable[[np.ndarray], np.ndarray]:
        """A component-first predicate that is true on side ``name`` (for DOLFINx markers)."""
        for side in self._sides:
            if side.name == name:
                return side.contains
        raise ValueError(f"{type(self).__name__} has no side {name!r}; its sides are: {', '.join(self.sides)}")

    def sample_interior(self, n: int, method: str = "uniform", seed: int = 0) -> np.ndarray:
        """``n`` seeded points inside the domain, ``(n, d)``; non-box shapes use rejection."""
        check_method(method)
        span = self.upper - self.lower
        ratio = float(np.prod(span)) / self.volume()
        draw = n
        while True:
            candidates = self.lower + span * unit_samples(int(np.ceil(draw * ratio * 1.2)) + 8, self.dim, method, seed)
            inside = candidates[self.contains(candidates)]
            if len(inside) >= n:
                if method == "grid":  # grid points come sorted by x: keep a seeded spread, not the first n
                    return inside[np.sort(np.random.default_rng(seed).permutation(len(inside))[:n])]
                return inside[:n]
            draw *= 2

    def sample_boundary(self, n: int, method: str = "uniform", seed: int = 0) -> BoundaryPoints:
        """``n`` seeded boundary points spread over the sides in proportion to their measure."""
        check_method(method)
        counts = split_count(n, [side.measure for side in self._sides])
        points, normals, names = [], [], []
        for i, (side, count) in enumerate(zip(self._sides, counts)):
            p, nrm = side.place(unit_samples(count, self.dim - 1, method, seed + 7919 * i))
            points.append(p)
            normals.append(nrm)
            names.append(np.full(count, side.name, dtype=object))
        return BoundaryPoints(np.concatenate(points), np.concatenate(normals), np.concatenate(names))


def _check_bounds(kind: str, lower, upper) -> tuple[np.ndarray, np.ndarray]:
    lower = np.atleast_1d(np.asarray(lower, dtype=float))
    upper = np.atleast_1d(np.asarray(upper, dtype=float))
    if lower.shape != upper.shape:
        raise ValueError(f"{kind}: lower corner {lower.tolist()} and upper corner {upper.tolist()} differ in dimension")
    if not np.all(np.isfinite(lower)) or not np.all(np.isfinite(upper)):
        raise ValueError(f"{kind}: bounds must be finite, got {lower.tolist()} to {upper.tolist()}")
    bad = np.nonzero(upper <= lower)[0]
    if bad.size:
        axis = int(bad[0])
        raise ValueError(
            f"{kind}: empty or inverted domain along axis {axis}: lower {lower[axis]} >= upper {upper[axis]}; "
            "give the lower corner first"
        )
    return lower, upper


class _AxisBox(Geometry):
    """An axis-aligned box in 1, 2 or 3 dimensions with sides named per axis."""

    _names = (("left", "right"), ("bottom", "top"), ("back", "front"))

    def __init__(self, lower, upper):
        self.lower, self.upper = _check_bounds(type(self).__name__, lower, upper)
        self.dim = len(self.lower)
        tol = 1e-10 * max(1.0, self.diameter)
        sides = []
        for axis in range(self.dim):
            others = [a for a in range(self.dim) if a != axis]
            measure = float(np.prod((self.upper - self.lower)[others])) if others else 1.0
            for end, name in enumerate(self._names[axis]):
                value = self.upper[axis] if end else self.lower[axis]
                normal = np.zeros(self.dim)
                normal[axis] = 1.0 if end else -1.0
                sides.append(_Side(name, measure, self._placer(axis, value, normal, others),
                                   lambda x, axis=axis, value=value: np.abs(x[axis] - value) < tol))
        self._sides = tuple(sides)

    def _placer(self, axis, value, normal, others):
        def place(unit):
            points = np.empty((len(unit), self.dim))
            points[:, axis] = value
            for column, other in enumerate(others):
                points[:, other] = self.lower[other] + (self.upper[other] - self.lower[other]) * unit[:, column]
            return points, np.tile(normal, (len(unit), 1))
        return place

    def contains(self, points):
        points = np.asarray(points, dtype=float)
        return np.all((points >= self.lower - 1e-12) & (points <= self.upper + 1e-12), axis=1)

    def volume(self):
        return float(np.prod(self.upper - self.lower))

    def sample_interior(self, n, method="uniform", seed=0):
        check_method(method)
        return self.lower + (self.upper - self.lower) * unit_samples(n, self.dim, method, seed)

    def __repr__(self):
        return f"{type(self).__name__}({self.lower.tolist()}, {self.upper.tolist()})"


class Interval(_AxisBox):
    """The interval ``[a, b]``; sides ``left`` and ``right``."""

    def __init__(self, a: float, b: float):
        super().__init__([a], [b])

    def __repr__(self):
        return f"Interval({self.lower[0]}, {self.upper[0]})"


class Rectangle(_AxisBox):
    """The rectangle between two corners; sides ``left``, ``right``, ``bottom``, ``top``."""

    def __init__(self, lower, upper):
        if len(np.atleast_1d(lower)) != 2 or len(np.atleast_1d(upper)) != 2:
            raise ValueError(f"Rectangle needs two 2D corners, got {lower} and {upper}")
        super().__init__(lower, upper)


class Box(_AxisBox):
    """The 3D box between two corners; sides ``left/right`` (x), ``bottom/top`` (y), ``back/front`` (z)."""

    def __init__(self, lower, upper):
        if len(np.atleast_1d(lower)) != 3 or len(np.atleast_1d(upper)) != 3:
            raise ValueError(f"Box needs two 3D corners, got {lower} and {upper}")
        super().__init__(lower, upper)


class Disk(Geometry):
    """The disk of given centre and radius; one side, ``circle``."""

    def __init__(self, center=(0.0, 0.0), radius: float = 1.0):
        self.center = np.asarray(center, dtype=float)
        if self.center.shape != (2,):
            raise ValueError(f"Disk centre must be a 2D point, got {center}")
        if not radius > 0:
            raise ValueError(f"Disk: empty domain, radius must be positive, got {radius}")
        self.radius = float(radius)
        self.dim = 2
        self.lower, self.upper = self.center - radius, self.center + radius
        tol = 1e-8 * radius

        def place(unit):
            angle = 2 * np.pi * unit[:, 0]
            normals = np.stack([np.cos(angle), np.sin(angle)], axis=1)
            return self.center + self.radius * normals, normals

        def on_circle(x):
            return np.abs(np.hypot(x[0] - self.center[0], x[1] - self.center[1]) - self.radius) < tol

        self._sides = (_Side("circle", 2 * np.pi * radius, place, on_circle),)

    def contains(self, points):
        points = np.asarray(points, dtype=float)
        return np.linalg.norm(points - self.center, axis=1) <= self.radius * (1 + 1e-12)

    def volume(self):
        return np.pi * self.radius**2

    def __repr__(self):
        return f"Disk({self.center.tolist()}, {self.radius})"


class Polygon(Geometry):
    """A simple polygon from its vertices (either orientation); sides ``edge0``, ``edge1``, ...

    ``edge i`` joins vertex ``i`` to vertex ``i + 1``.  The L-shape ``[-1, 1]^2 minus [0, 1]^2`` is
    ``Polygon([(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)])``.
    """

    def __init__(self, vertices):
        vertices = np.asarray(vertices, dtype=float)
        if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3:
            raise ValueError(f"Polygon needs at least three 2D vertices, got shape {vertices.shape}")
        x, y = vertices[:, 0], vertices[:, 1]
        signed_area = 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))
        if abs(signed_area) < 1e-14:
            raise ValueError("Polygon: empty domain, the vertices enclose zero area")
        self.vertices = vertices
        self._orientation = 1.0 if signed_area > 0 else -1.0
        self._area = abs(signed_area)
        self._path = Path(vertices)
        self.dim = 2
        self.lower, self.upper = vertices.min(axis=0), vertices.max(axis=0)
        self._sides = tuple(self._edge(i) for i in range(len(vertices)))

    def _edge(self, i):
        start, end = self.vertices[i], self.vertices[(i + 1) % len(self.vertices)]
        along = end - start
        length = float(np.linalg.norm(along))
        if length == 0:
            raise ValueError(f"Polygon: vertices {i} and {(i + 1) % len(self.vertices)} coincide")
        normal = self._orientation * np.array([along[1], -along[0]]) / length
        tol = 1e-8 * self.diameter

        def place(unit):
            return start + unit[:, :1] * along, np.tile(normal, (len(unit), 1))

        def on_edge(x):
            rel = np.stack([x[0] - start[0], x[1] - start[1]])
            s = np.clip((rel[0] * along[0] + rel[1] * along[1]) / length**2, 0.0, 1.0)
            return np.hypot(rel[0] - s * along[0], rel[1] - s * along[1]) < tol

        return _Side(f"edge{i}", length, place, on_edge)

    def contains(self, points):
        points = np.asarray(points, dtype=float)
        return self._path.contains_points(points, radius=1e-9 * self.diameter * self._orientation) | np.any(
            [side.contains(points.T) for side in self._sides], axis=0
        )

    def volume(self):
        return self._area

    def __repr__(self):
        return f"Polygon({self.vertices.tolist()})"


class Difference(Geometry):
    """A 2D domain with holes: ``outer`` (a Rectangle, Disk or Polygon) minus ``holes`` (Disks or
    Polygons strictly inside it and apart from each other), e.g. the channel past a cylinder.

    Args:
        outer: the domain the holes are cut from; its sides keep their names.
        holes: ``{name: geometry}``; a Disk hole's circle is the side ``name``, a Polygon hole's
            edges are ``name_edge0``, ``name_edge1``, ...  A single geometry is named ``hole``.

    ``Rectangle(...) - Disk(...)`` is ``Difference(Rectangle(...), {"hole": Disk(...)})``.
    """

    def __init__(self, outer: Geometry, holes):
        holes = {"hole": holes} if isinstance(holes, Geometry) else dict(holes)
        for name, shape in (("outer", outer), *holes.items()):
            if not isinstance(shape, (Rectangle, Disk, Polygon) if name == "outer" else (Disk, Polygon)):
                raise ValueError(f"Difference: {name} must be a {'Rectangle, Disk or Polygon' if name == 'outer' else 'Disk or Polygon'}, "
                                 f"got {type(shape).__name__}")
        if not holes:
            raise ValueError("Difference needs at least one hole")
        self.outer, self.holes = outer, holes
        self.dim, self.lower, self.upper = 2, outer.lower, outer.upper
        probes = {name: shape.sample_boundary(256, "grid", 0).points for name, shape in holes.items()}
        for name, points in probes.items():
            inside = outer.contains(points) & ~np.any([side.contains(points.T) for side in outer._sides], axis=0)
            if not inside.all():
                raise ValueError(f"Difference: hole {name!r} must lie strictly inside the outer domain")
            for other, shape in holes.items():
                if other != name and shape.contains(points).any():
                    raise ValueError(f"Difference: holes {name!r} and {other!r} overlap; they must be apart")
        sides = list(outer._sides)
        for name, shape in holes.items():
            for side in shape._sides:
                sides.append(_Side(name if isinstance(shape, Disk) else f"{name}_{side.name}", side.measure,
                                   lambda unit, place=side.place: (place(unit)[0], -place(unit)[1]), side.contains))
        names = [side.name for side in sides]
        if len(set(names)) != len(names):
            raise ValueError(f"Difference: side names must be unique, got {names}; rename the holes")
        self._sides = tuple(sides)

    def contains(self, points):
        points = np.asarray(points, dtype=float)
        inside = self.outer.contains(points)
        for shape in self.holes.values():
            on_edge = np.any([side.contains(points.T) for side in shape._sides], axis=0)
            inside &= ~shape.contains(points) | on_edge
        return inside

    def volume(self):
        return self.outer.volume() - sum(shape.volume() for shape in self.holes.values())

    def __repr__(self):
        return f"Difference({self.outer!r}, {self.holes!r})"


@dataclass(frozen=True)
class TimeInterval:
    """The time interval ``[t0, t1]`` of an evolution problem."""

    t0: float
    t1: float

    def __post_init__(self):
        if not (np.isfinite(self.t0) and np.isfinite(self.t1)):
            raise ValueError(f"TimeInterval bounds must be finite, got [{self.t0}, {self.t1}]")
        if self.t1 <= self.t0:
            raise ValueError(f"TimeInterval: empty or inverted time interval [{self.t0}, {self.t1}]; need t0 < t1")

    @property
    def length(self) -> float:
        return self.t1 - self.t0
