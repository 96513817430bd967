"""Random inputs: the distributions operator learning draws a Problem's input functions from.

An *input family* fills named parameters of a Problem (an initial condition, a source, a
coefficient, a scalar) and draws sample ``i`` from seed ``i`` alone, so any sample can be
reproduced, resumed or generated on another machine without the others.  The functions it
draws are :class:`InputFunction` objects: callables ``f(x, t=None, p=None)`` on component-first
coordinates that evaluate on NumPy arrays, torch tensors (differentiably) and first-order
derivative jets, so every neural solver uses them like any function written with
:mod:`pdekit.math`.  The FEniCS reference interpolates them into finite-element functions
(Lagrange, or DG0 for discontinuous ones), which keeps one compiled form for all samples.

Families:
    :class:`GaussianRandomField`: squared-exponential covariance, periodic (Fourier series) or
        not (Karhunen-Loeve on a grid);
    :class:`WhittleMaternField`: covariance ``sigma^2 (-Laplace + tau^2)^(-alpha)`` with Neumann
        (cosine series, the FNO Darcy data) or periodic boundaries (the FNO Navier-Stokes data);
    :class:`Threshold`, :class:`LogNormal`: pointwise maps of another family's fields;
    :class:`ArrayInputs`: fields given as arrays on a grid;
    :class:`UniformParameter`: random scalars (uniform or log-uniform);
    :class:`Joint`: several of the above at once.
"""

from __future__ import annotations

import functools
import itertools
import math
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "InputFunction", "SeriesFunction", "GridFunction", "MappedFunction", "FunctionBatch",
    "InputFamily", "GaussianRandomField", "WhittleMaternField", "Threshold", "LogNormal", "ArrayInputs",
    "UniformParameter", "Joint",
]


# -- input functions ---------------------------------------------------------------------------
def _is_torch(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


class _Backend:
    """The few array operations the input functions need, on NumPy or torch alike."""

    def __init__(self, torch_like: bool, like=None):
        self.torch = torch_like
        self.like = like

    @property
    def lib(self):
        return sys.modules["torch"] if self.torch else np

    def asarray(self, values):
        if self.torch:
            return self.lib.as_tensor(values, dtype=self.like.dtype, device=self.like.device)
        return np.asarray(values, dtype=float)

    def unique(self, values):
        """The distinct values and, per entry, the index of its value among them."""
        if self.torch:
            return self.lib.unique(values, return_inverse=True)
        return np.unique(values, return_inverse=True)

    def clip(self, values, low, high):
        return self.lib.clamp(values, low, high) if self.torch else np.clip(values, low, high)

    def index(self, values):
        """Integer indices from whole-numbered floats."""
        return values.long() if self.torch else values.astype(int)

    def where(self, condition, a, b):
        return self.lib.where(condition, a, b)


class InputFunction(ABC):
    """A random function of space drawn by an input family: ``f(x, t=None, p=None)``.

    ``x`` is component-first (``x[0]`` the first coordinate of all points): a ``(d, N)`` array
    or tensor, a sequence of ``d`` arrays/tensors, or a sequence of first-order jets (the flux
    divergence of the forward-derivative engine).  The value does not depend on ``t``.
    """

    lower: tuple
    upper: tuple

    #: whether the function jumps (the FEniCS reference then interpolates it into DG0)
    discontinuous: bool = False

    @property
    def dim(self) -> int:
        return len(self.lower)

    @abstractmethod
    def _evaluate(self, coords: list, backend: _Backend, gradient: bool):
        """``(value, [d value / d x_j])`` at ``d`` coordinate arrays (the list only if ``gradient``)."""

    def __call__(self, x, t=None, p=None):
        coords = [x[j] for j in range(self.dim)]
        if any(getattr(c, "is_jet", False) for c in coords):
            return self._on_jets(coords)
        if any(hasattr(c, "ufl_shape") for c in coords):
            raise TypeError("input functions are interpolated by the FEniCS reference, not evaluated on UFL; "
                            "pass them as Problem parameters (p.name(x)) so the reference can do so")
        torch_like = next((c for c in coords if _is_torch(c)), None)
        backend = _Backend(torch_like is not None, torch_like)
        coords = [backend.asarray(c) for c in coords]
        value, _ = self._evaluate(coords, backend, gradient=False)
        return value

    def _on_jets(self, coords):
        from ..derivatives.jet import Jet

        if any(c.hess is not None for c in coords):
            raise ValueError("input functions support first-order derivative jets only (the flux divergence); "
                             "evaluate them in the source or on plain coordinates where second derivatives are needed")
        like = coords[0].value
        value, grads = self._evaluate([c.value for c in coords], _Backend(True, like), gradient=True)
        total = sum(g[:, None] * c.grad for g, c in zip(grads, coords))
        return Jet(value, total)

    def cumulative_integral(self, x):
        """``int_lower^x f(s) ds`` at the points ``x`` ``(N,)`` of a 1D function (NumPy, or torch,
        differentiably: an exact antiderivative then has the function as its derivative).

        Composite Gauss-Legendre (64 panels of 8 nodes from ``lower`` to each point): exact to
        rounding for the smooth series; grid functions integrate their interpolant exactly.
        """
        self._check_1d()
        backend = _Backend(_is_torch(x), x)
        x = backend.asarray(x)
        nodes, weights = np.polynomial.legendre.leggauss(8)
        edges = np.linspace(0.0, 1.0, 65)
        unit = backend.asarray(((edges[:-1, None] + edges[1:, None]) / 2 + np.outer(np.diff(edges), nodes) / 2).ravel())
        unit_weights = backend.asarray(np.outer(np.diff(edges), weights).ravel() / 2)
        span = x - self.lower[0]
        values = self((self.lower[0] + span[:, None] * unit[None, :]).reshape(1, -1)).reshape(len(x), -1)
        return span * (values @ unit_weights)

    def _check_1d(self):
        if self.dim != 1:
            raise ValueError(f"cumulative_integral is defined for functions of one variable; this one has {self.dim}")

    def on_grid(self, coords: dict) -> np.ndarray:
        """Values on the tensor grid of ``coords`` (``x``, ``y``, ``z`` arrays), shape ``(n_x, [n_y, [n_z]])``."""
        axes = [np.asarray(coords[name], dtype=float) for name in ("x", "y", "z")[: self.dim]]
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.asarray(self(np.stack([m.ravel() for m in mesh]))).reshape(mesh[0].shape)


def _series_basis(kind: str, s, count: int, length: float, backend: _Backend, derivative: bool):
    """Basis functions of one axis at unit coordinates ``s`` as an ``(N, count)`` array, and their
    ``d/dx`` where asked; with the Laplacian eigenvalues of each (``(count,)`` NumPy).

    ``cos``: ``cos(pi k s)``, ``k = 0..count-1`` (Neumann); ``sin``: ``sin(pi (k+1) s)`` (Dirichlet);
    ``fourier``: ``1, cos(2 pi s), sin(2 pi s), cos(4 pi s), ...`` (periodic).
    """
    lib = backend.lib
    index = np.arange(count)
    if kind == "cos":
        frequency, phase = np.pi * index, np.zeros(count)
    elif kind == "sin":
        frequency, phase = np.pi * (index + 1), np.full(count, -np.pi / 2)
    else:  # fourier: cos for odd index, sin for even index > 0
        frequency = 2 * np.pi * ((index + 1) // 2)
        phase = np.where((index > 0) & (index % 2 == 0), -np.pi / 2, 0.0)
    w, shift = backend.asarray(frequency), backend.asarray(phase)
    angle = s[:, None] * w + shift  # cos(angle): sin(a) = cos(a - pi/2)
    values = lib.cos(angle)
    slopes = -lib.sin(angle) * (w / length) if derivative else None
    return values, slopes, (frequency / length) ** 2


@dataclass(frozen=True, eq=False)
class SeriesFunction(InputFunction):
    """``mean + sum_k c_k prod_j phi_{k_j}(x_j)``: a separable trigonometric series on a box.

    Args:
        lower, upper: the box.
        bases: per axis ``"cos"`` (Neumann), ``"sin"`` (Dirichlet) or ``"fourier"`` (periodic); see
            :func:`_series_basis` for the ordering of the basis functions.
        coefficients: ``(K_1, ..., K_d)`` array of ``c_k``.
        mean: constant added.
    """

    lower: tuple
    upper: tuple
    bases: tuple
    coefficients: np.ndarray = field(repr=False)
    mean: float = 0.0

    def _evaluate(self, coords, backend, gradient):
        d = self.dim
        spans = [u - lo for lo, u in zip(self.lower, self.upper)]
        if not gradient and not (backend.torch and any(x.requires_grad for x in coords)):
            return self._on_distinct(coords, backend, spans) + self.mean, None
        tables = [_series_basis(self.bases[j], (coords[j] - self.lower[j]) / spans[j], self.coefficients.shape[j],
                                spans[j], backend, gradient) for j in range(d)]
        c = backend.asarray(self.coefficients)

        def contract(factors):  # sum_k c_k prod_j factors[j][n, k_j]
            if d == 1:
                return factors[0] @ c
            if d == 2:
                return ((factors[0] @ c) * factors[1]).sum(-1)
            return backend.lib.einsum("na,abc,nb,nc->n", factors[0], c, factors[1], factors[2])

        values = [table[0] for table in tables]
        value = contract(values) + self.mean
        if not gradient:
            return value, None
        grads = [contract(values[:j] + [tables[j][1]] + values[j + 1:]) for j in range(d)]
        return value, grads

    def _on_distinct(self, coords, backend, spans):
        """The series at the points, with the basis tables computed at each axis' distinct coordinates
        only and the first axis contracted before the tables are gathered per point: on the points of
        a grid, ``n`` rows per axis instead of ``n^d``."""
        tables, where = [], []
        for j in range(self.dim):
            distinct, inverse = backend.unique(coords[j])
            table, _, _ = _series_basis(self.bases[j], (distinct - self.lower[j]) / spans[j], self.coefficients.shape[j],
                                        spans[j], backend, False)
            tables.append(table)
            where.append(inverse.reshape(-1))
        c = backend.asarray(self.coefficients)
        first = (tables[0] @ c.reshape(c.shape[0], -1))[where[0]]  # (N, K_2 ... K_d)
        if self.dim == 1:
            return first[:, 0]
        if self.dim == 2:
            return (first * tables[1][where[1]]).sum(-1)
        first = first.reshape(len(where[0]), *c.shape[1:])
        return backend.lib.einsum("nbc,nb,nc->n", first, tables[1][where[1]], tables[2][where[2]])


@dataclass(frozen=True, eq=False)
class GridFunction(InputFunction):
    """Values on a regular grid over a box, interpolated multilinearly (``"linear"``) or as
    piecewise constants around the nodes (``"nearest"``, a discontinuous input).

    Args:
        lower, upper: the box the grid spans: its first and last nodes along an ordinary axis; along
            a periodic axis, one period (``n`` nodes at ``lower + k (upper - lower) / n``, as the
            datasets store periodic axes).
        values: ``(n_1, ..., n_d)`` array of nodal values, ``n_j >= 2``.
        method: ``"linear"`` or ``"nearest"``.
        periodic: per axis, whether it wraps around (default: none).

    Outside the box (along an ordinary axis) the values of the nearest boundary cell are extended.
    """

    lower: tuple
    upper: tuple
    values: np.ndarray = field(repr=False)
    method: str = "linear"
    periodic: tuple = ()

    def __post_init__(self):
        values = np.asarray(self.values, dtype=float)
        if values.ndim != len(self.lower) or min(values.shape) < 2:
            raise ValueError(f"GridFunction values must have one axis of at least 2 nodes per dimension "
                             f"({len(self.lower)}), got shape {values.shape}")
        if self.method not in ("linear", "nearest"):
            raise ValueError(f"unknown GridFunction method {self.method!r}; valid methods: linear, nearest")
        periodic = tuple(bool(p) for p in self.periodic) or (False,) * values.ndim
        if len(periodic) != values.ndim:
            raise ValueError(f"periodic needs one flag per axis ({values.ndim}), got {self.periodic!r}")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "periodic", periodic)

    def _steps(self, shape=None) -> list[float]:
        return [(u - lo) / (n if wraps else n - 1)
                for lo, u, n, wraps in zip(self.lower, self.upper, shape or self.values.shape, self.periodic)]

    @property
    def discontinuous(self) -> bool:
        return self.method == "nearest"

    def _evaluate(self, coords, backend, gradient, table=None):
        """``table``: the values already as the backend's array (converted once by a caller that evaluates often)."""
        values = backend.asarray(self.values) if table is None else table
        lib, d, shape = backend.lib, self.dim, tuple(values.shape)
        table = values.reshape(-1)
        strides = [math.prod(shape[j + 1:]) for j in range(d)]  # plain ints (np.prod of a torch.Size traces)
        steps = self._steps(shape)
        position = [(coords[j] - self.lower[j]) / steps[j] for j in range(d)]
        position = [p % shape[j] if self.periodic[j] else p for j, p in enumerate(position)]
        if self.method == "nearest":
            nearest = [lib.round(p) % shape[j] if self.periodic[j] else lib.round(backend.clip(p, 0, shape[j] - 1))
                       for j, p in enumerate(position)]
            value = table[sum(backend.index(nearest[j]) * strides[j] for j in range(d))]
            return value, [lib.zeros_like(value) for _ in range(d)] if gradient else None
        cells, fractions = [], []
        for j in range(d):
            cell = lib.floor(position[j] if self.periodic[j] else backend.clip(position[j], 0, shape[j] - 2))
            cells.append(backend.index(cell))
            fractions.append(position[j] - cell)
        value = 0.0
        grads = [0.0] * d
        for corner in itertools.product((0, 1), repeat=d):
            node = table[sum(((cells[j] + corner[j]) % shape[j]) * strides[j] for j in range(d))]
            factors = [fractions[j] if corner[j] else 1 - fractions[j] for j in range(d)]
            value = value + node * _product(factors)
            if gradient:
                for j in range(d):
                    sign = (1.0 if corner[j] else -1.0) / steps[j]
                    grads[j] = grads[j] + node * sign * _product(factors[:j] + factors[j + 1:])
        return value, grads if gradient else None

    def cumulative_integral(self, x):
        """``int_lower^x f(s) ds`` of the interpolant (exact): trapezoids up to the cell, then the part
        cell (NumPy, or torch, differentiably)."""
        self._check_1d()
        if self.periodic[0]:
            raise ValueError("cumulative_integral is defined for a GridFunction on an ordinary (not periodic) axis")
        backend = _Backend(_is_torch(x), x)
        lib, x = backend.lib, backend.asarray(x)
        nodes = np.linspace(self.lower[0], self.upper[0], len(self.values))
        step = nodes[1] - nodes[0]
        if self.method == "nearest":  # each node's value on [node - h/2, node + h/2], within the box
            low = backend.asarray(np.clip(nodes - step / 2, nodes[0], nodes[-1]))
            high = backend.asarray(np.clip(nodes + step / 2, nodes[0], nodes[-1]))
            overlap = backend.clip(lib.minimum(x[:, None], high[None, :]) - low[None, :], 0.0, np.inf)
            return overlap @ backend.asarray(self.values)
        values = backend.asarray(self.values)
        cumulative = backend.asarray(np.concatenate([[0.0], np.cumsum((self.values[1:] + self.values[:-1]) / 2 * step)]))
        cell = backend.index(backend.clip(lib.floor((x - nodes[0]) / step), 0, len(nodes) - 2))
        part = x - backend.asarray(nodes)[cell]
        slope = (values[cell + 1] - values[cell]) / step
        return cumulative[cell] + part * (values[cell] + slope * part / 2)


def _product(factors):
    total = 1.0
    for factor in factors:
        total = total * factor
    return total


MAPS = ("threshold", "exp")


@dataclass(frozen=True, eq=False)
class MappedFunction(InputFunction):
    """A pointwise map of another input function: ``threshold`` (two values) or ``exp``.

    Args:
        base: the function mapped.
        kind: ``"threshold"`` (``above`` where ``base >= at``, ``below`` elsewhere) or ``"exp"``.
    """

    base: InputFunction
    kind: str
    at: float = 0.0
    above: float = 1.0
    below: float = 0.0

    def __post_init__(self):
        if self.kind not in MAPS:
            raise ValueError(f"unknown map {self.kind!r}; valid maps: {', '.join(MAPS)}")

    @property
    def lower(self):
        return self.base.lower

    @property
    def upper(self):
        return self.base.upper

    @property
    def discontinuous(self) -> bool:
        return self.kind == "threshold" or self.base.discontinuous

    def _evaluate(self, coords, backend, gradient):
        value, grads = self.base._evaluate(coords, backend, gradient)
        if self.kind == "threshold":
            mapped = backend.where(value >= self.at, backend.asarray(self.above), backend.asarray(self.below))
            return mapped, [g * 0 for g in grads] if gradient else None
        mapped = backend.lib.exp(value)
        return mapped, [mapped * g for g in grads] if gradient else None


class FunctionBatch(InputFunction):
    """The input functions of ``B`` samples at once, each on its own block of the points: called on
    ``B * n`` points, member ``b`` answers for points ``b * n`` to ``(b + 1) * n - 1``.

    A physics-informed operator evaluates a residual for a batch of input functions in one pass
    over the stacked points; this object stands for the input parameter there.  Members that are
    :class:`GridFunction` objects on one grid are evaluated together, as one grid function of
    ``(member, x)`` (at whole-numbered members the interpolation is exact); others one by one.
    """

    def __init__(self, members, like=None):
        """``like``: a tensor whose dtype and device the stacked grid values take at once (a compiled
        loss then reads them as a tensor instead of converting an array inside its graph)."""
        self.members = list(members)
        if not self.members or not all(isinstance(m, InputFunction) for m in self.members):
            raise ValueError("a FunctionBatch needs at least one input function")
        first = self.members[0]
        self.lower, self.upper = first.lower, first.upper
        self.discontinuous = any(m.discontinuous for m in self.members)
        self._stacked = None
        if all(isinstance(m, GridFunction) and m.lower == first.lower and m.upper == first.upper
               and m.values.shape == first.values.shape and m.method == first.method for m in self.members):
            values = np.stack([m.values for m in self.members] * (2 if len(self.members) == 1 else 1))
            self._stacked = GridFunction((0.0, *first.lower), (float(len(values) - 1), *first.upper), values,
                                         first.method)
        self._table = None if like is None or self._stacked is None else \
            _Backend(True, like).asarray(self._stacked.values)

    def _evaluate(self, coords, backend, gradient):
        count = len(self.members)
        size = coords[0].shape[0]
        if size % count:
            raise ValueError(f"a batch of {count} input functions is evaluated on a multiple of {count} points "
                             f"(one block each), got {size}")
        block = size // count
        if self._stacked is not None:
            member = backend.asarray(np.repeat(np.arange(count, dtype=float), block))
            table = self._table if backend.torch and self._table is not None else None
            value, grads = self._stacked._evaluate([member, *coords], backend, gradient, table)
            return value, grads[1:] if gradient else None
        parts = [m._evaluate([c[b * block: (b + 1) * block] for c in coords], backend, gradient)
                 for b, m in enumerate(self.members)]
        join = backend.lib.cat if backend.torch else np.concatenate
        value = join([v for v, _ in parts])
        if not gradient:
            return value, None
        return value, [join([g[j] for _, g in parts]) for j in range(self.dim)]


# -- families ----------------------------------------------------------------------------------
class InputFamily(ABC):
    """Draws the random inputs of one sample of a Problem from one seed."""

    @property
    @abstractmethod
    def params(self) -> tuple[str, ...]:
        """The Problem parameters this family fills."""

    @abstractmethod
    def draw(self, geometry, seed: int) -> dict:
        """The parameter values of the sample with this seed (a function of the seed alone)."""


@dataclass(frozen=True)
class _OneParameter(InputFamily):
    """A family that fills one parameter."""

    param: str

    @property
    def params(self) -> tuple[str, ...]:
        return (self.param,)

    def draw(self, geometry, seed: int) -> dict:
        return {self.param: self.draw_value(geometry, np.random.default_rng(seed), seed)}

    @abstractmethod
    def draw_value(self, geometry, rng: np.random.Generator, seed: int):
        """One value of the parameter."""

    def sample(self, geometry, n: int, seed: int = 0) -> list:
        """The values of seeds ``seed, ..., seed + n - 1``."""
        return [self.draw(geometry, seed + i)[self.param] for i in range(n)]


def _box(geometry) -> tuple[tuple, tuple]:
    return tuple(map(float, geometry.lower)), tuple(map(float, geometry.upper))


@dataclass(frozen=True)
class GaussianRandomField(_OneParameter):
    """A Gaussian random field with squared-exponential covariance ``sigma^2 exp(-r^2 / (2 l^2))``.

    ``periodic=True``: a truncated Fourier series periodic over the geometry's bounding box
    whose coefficients' variances follow the kernel's spectral density, so the covariance is
    the kernel periodised over the box (for periodic problems).  ``periodic=False``: the field
    on a grid of ``points`` nodes per axis from the kernel's eigendecomposition (Karhunen-Loeve;
    the kernel is separable, so one decomposition per axis), interpolated linearly in between:
    the setting of the DeepONet papers (``length_scale`` 0.2 on ``[0, 1]``, 1,000 nodes).

    Args:
        param: the Problem parameter each sample fills (e.g. ``"u0"``).
        length_scale: correlation length ``l``.
        variance: ``sigma^2``.
        modes: highest wave number per axis (periodic).
        mean: constant mean.
        periodic: Fourier series (``True``) or grid (``False``).
        points: grid nodes per axis when not periodic (default 1000, 128, 32 in 1, 2, 3 D).
    """

    length_scale: float = 0.2
    variance: float = 1.0
    modes: int = 16
    mean: float = 0.0
    periodic: bool = True
    points: int | None = None

    def __post_init__(self):
        if self.length_scale <= 0 or self.variance < 0 or self.modes < 1:
            raise ValueError("GaussianRandomField needs length_scale > 0, variance >= 0 and modes >= 1")
        if self.points is not None and self.points < 2:
            raise ValueError(f"GaussianRandomField needs points >= 2, got {self.points}")

    def draw_value(self, geometry, rng, seed):
        lower, upper = _box(geometry)
        spans = np.subtract(upper, lower)
        if self.periodic:
            weights = []
            for span in spans:  # per axis: 1, cos k, sin k, ... with the kernel's spectral weight
                w = _spectral_weights((np.arange(2 * self.modes + 1) + 1) // 2, span, self.length_scale)
                weights.append(w / w[::2].sum())  # the variance at a point is the sum over each k once: 1
            std = np.sqrt(self.variance * functools.reduce(np.multiply.outer, weights))
            return SeriesFunction(lower, upper, ("fourier",) * len(spans), rng.standard_normal(std.shape) * std,
                                  self.mean)
        n = self.points or {1: 1000, 2: 128, 3: 32}[len(spans)]
        factors = [_kl_factor(n, float(span), self.length_scale) for span in spans]
        field_ = rng.standard_normal((n,) * len(spans))
        for axis, factor in enumerate(factors):  # apply each axis' factor along its axis
            field_ = np.moveaxis(np.tensordot(factor, field_, axes=(1, axis)), 0, axis)
        return GridFunction(lower, upper, self.mean + np.sqrt(self.variance) * field_, "linear")

    def covariance(self, r) -> np.ndarray:
        """The covariance at separations ``r`` (``(..., d)``), as the sampler realises it."""
        r = np.atleast_2d(np.asarray(r, dtype=float))
        if not self.periodic:
            return self.variance * np.exp(-0.5 * (r**2).sum(-1) / self.length_scale**2)
        raise ValueError("the periodic field's covariance depends on the box; use periodic_covariance(r, span)")

    def periodic_covariance(self, r, spans) -> np.ndarray:
        """The periodic field's covariance at separations ``r`` ``(..., d)`` on a box of ``spans``."""
        r = np.atleast_2d(np.asarray(r, dtype=float))
        total = self.variance
        for j, span in enumerate(np.atleast_1d(spans)):
            k = np.arange(self.modes + 1)
            w = _spectral_weights(k, span, self.length_scale)
            total = total * (np.cos(2 * np.pi * np.multiply.outer(r[..., j], k) / span) @ w) / w.sum()
        return total


def _spectral_weights(k: np.ndarray, span: float, length_scale: float) -> np.ndarray:
    """The squared-exponential kernel's Fourier weights at wave numbers ``k`` of a period ``span``,
    doubled for ``k > 0`` (the modes ``k`` and ``-k`` share one cosine and one sine)."""
    return np.exp(-0.5 * (2 * np.pi * k / span * length_scale) ** 2) * np.where(k > 0, 2.0, 1.0)


@functools.lru_cache(maxsize=8)
def _kl_factor(n: int, span: float, length_scale: float) -> np.ndarray:
    """``V sqrt(Lambda)`` of the squared-exponential kernel matrix on ``n`` nodes of ``[0, span]``."""
    x = np.linspace(0.0, span, n)
    kernel = np.exp(-0.5 * np.subtract.outer(x, x) ** 2 / length_scale**2)
    eigenvalues, vectors = np.linalg.eigh(kernel)
    return vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))


BOUNDARIES = {"neumann": "cos", "periodic": "fourier", "dirichlet": "sin"}


@dataclass(frozen=True)
class WhittleMaternField(_OneParameter):
    """A Gaussian field with covariance operator ``sigma^2 (-Laplace + tau^2)^(-alpha)`` on a box.

    Sampled in the Laplacian's eigenfunctions for the chosen ``boundary`` (orthonormal cosines
    for ``neumann``, the FNO Darcy data's choice; real Fourier modes for ``periodic``, the FNO
    Navier-Stokes data's; sines for ``dirichlet``), with the constant mode left out (zero mean,
    as FNO does) and the series cut at wave number ``modes`` per axis.

    Args:
        param: the Problem parameter each sample fills.
        alpha, tau: smoothness and inverse length scale.
        sigma: amplitude; default ``tau^(alpha - d / 2)`` (FNO's normalisation).
        boundary: ``"neumann"``, ``"periodic"`` or ``"dirichlet"``.
        modes: highest wave number per axis.
        mean: constant mean.
    """

    alpha: float = 2.0
    tau: float = 3.0
    sigma: float | None = None
    boundary: str = "neumann"
    modes: int = 64
    mean: float = 0.0

    def __post_init__(self):
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"unknown boundary {self.boundary!r}; valid boundaries: {', '.join(BOUNDARIES)}")
        if self.alpha <= 0 or self.tau < 0 or self.modes < 1:
            raise ValueError("WhittleMaternField needs alpha > 0, tau >= 0 and modes >= 1")

    def standard_deviations(self, geometry) -> np.ndarray:
        """Per basis function, ``sigma (lambda_k + tau^2)^(-alpha / 2)`` times the orthonormalisation."""
        lower, upper = _box(geometry)
        spans = np.subtract(upper, lower)
        kind = BOUNDARIES[self.boundary]
        count = 2 * self.modes + 1 if kind == "fourier" else self.modes + 1
        eigen, scale = [], []
        for span in spans:
            index = np.arange(count)
            _, _, eigenvalues = _series_basis(kind, np.zeros(1), count, float(span), _Backend(False), False)
            eigen.append(eigenvalues)
            constant = (index == 0) & (kind != "sin")
            scale.append(np.where(constant, 1.0, np.sqrt(2.0)) / np.sqrt(span))
        eigenvalues = functools.reduce(np.add.outer, eigen)
        sigma = self.tau ** (self.alpha - len(spans) / 2) if self.sigma is None else self.sigma
        std = sigma * functools.reduce(np.multiply.outer, scale) * (eigenvalues + self.tau**2) ** (-self.alpha / 2)
        if kind != "sin":
            std[(0,) * len(spans)] = 0.0  # no constant mode: zero mean
        return std

    def draw_value(self, geometry, rng, seed):
        lower, upper = _box(geometry)
        std = self.standard_deviations(geometry)
        return SeriesFunction(lower, upper, (BOUNDARIES[self.boundary],) * len(lower),
                              rng.standard_normal(std.shape) * std, self.mean)


@dataclass(frozen=True)
class _Pointwise(InputFamily):
    """A family whose fields are another family's, mapped pointwise."""

    base: _OneParameter

    @property
    def params(self) -> tuple[str, ...]:
        return self.base.params

    @property
    def param(self) -> str:
        return self.base.param

    def draw(self, geometry, seed: int) -> dict:
        return {name: self.map(value) for name, value in self.base.draw(geometry, seed).items()}

    def sample(self, geometry, n: int, seed: int = 0) -> list:
        return [self.draw(geometry, seed + i)[self.param] for i in range(n)]

    @abstractmethod
    def map(self, value: InputFunction) -> InputFunction:
        """The mapped function."""


@dataclass(frozen=True)
class Threshold(_Pointwise):
    """``above`` where the base field is ``>= at``, ``below`` elsewhere: FNO's piecewise-constant
    Darcy coefficient (12 and 3 at 0)."""

    at: float = 0.0
    above: float = 12.0
    below: float = 3.0

    def map(self, value):
        return MappedFunction(value, "threshold", self.at, self.above, self.below)


@dataclass(frozen=True)
class LogNormal(_Pointwise):
    """``exp`` of the base field (a log-normal coefficient)."""

    def map(self, value):
        return MappedFunction(value, "exp")


@dataclass(frozen=True)
class ArrayInputs(_OneParameter):
    """Fields given as arrays on a grid: seed ``i`` is ``values[i]``.

    Args:
        param: the Problem parameter each sample fills.
        values: ``(M, n_1, ..., n_d)`` nodal values spanning the geometry's bounding box.
        method: ``"linear"`` (continuous, P1 for the reference) or ``"nearest"`` (piecewise
            constant, DG0).
    """

    values: np.ndarray = field(default=None, repr=False)
    method: str = "linear"

    def draw_value(self, geometry, rng, seed):
        values = np.asarray(self.values)
        if not 0 <= seed < len(values):
            raise ValueError(f"seed {seed} is out of range: ArrayInputs holds {len(values)} arrays (seeds 0 to "
                             f"{len(values) - 1}); give seed= and n within it")
        lower, upper = _box(geometry)
        return GridFunction(lower, upper, values[seed], self.method)


@dataclass(frozen=True)
class UniformParameter(_OneParameter):
    """A random scalar, uniform in ``[low, high]`` (or in ``log`` space, ``log=True``)."""

    low: float = 0.0
    high: float = 1.0
    log: bool = False

    def __post_init__(self):
        if not self.high > self.low or self.log and self.low <= 0:
            raise ValueError(f"UniformParameter needs low < high (and low > 0 with log=True), "
                             f"got low={self.low}, high={self.high}")

    def draw_value(self, geometry, rng, seed):
        if self.log:
            return float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        return float(rng.uniform(self.low, self.high))


class Joint(InputFamily):
    """Several families drawn together; member ``j`` of sample ``i`` uses a seed derived from ``(i, j)``."""

    def __init__(self, *families: InputFamily):
        names = [name for family in families for name in family.params]
        if len(set(names)) != len(names):
            raise ValueError(f"the families of a Joint fill the same parameter twice: {names}")
        if not families:
            raise ValueError("Joint needs at least one family")
        self.families = tuple(families)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(name for family in self.families for name in family.params)

    def draw(self, geometry, seed: int) -> dict:
        values = {}
        for j, family in enumerate(self.families):
            values.update(family.draw(geometry, int(np.random.SeedSequence([seed, j]).generate_state(1)[0])))
        return values

    def __repr__(self):
        return f"Joint{self.families!r}"
