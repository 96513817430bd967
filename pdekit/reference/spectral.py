"""Pseudo-spectral reference solutions for problems periodic along every axis, batched over samples (torch).

Everything comes from the Problem.  The state is held as Fourier coefficients on an ``n^d`` grid
(no repeated end point); derivatives are products with ``i kappa``; the flux ``F(u, grad u)`` and
the source ``S`` are evaluated pointwise on torch tensors through :mod:`pdekit.math` (as the
PINN residual is), ``div F`` is taken by FFT, and the 2/3 rule removes the aliased modes of what
was evaluated pointwise.  The part of each row that is linear with constant coefficients is found
by probing (:mod:`.linear`) and handled exactly in Fourier space.  Recognised rows:

- evolution rows (``c1 != 0``), any flux and source: the constant-coefficient dependence on the
  row's own field (the diffusion ``-D grad u``; a constant advection or reaction too) is
  integrated exactly by the exponential integrator ETDRK4 (Cox & Matthews 2002, coefficients by
  the contour integrals of Kassam & Trefethen 2005; fourth order), or implicitly by
  Crank-Nicolson with Adams-Bashforth 2 for the rest (``scheme="cnab2"``; second order).
  Everything else is explicit.
- Poisson rows (``c1 = 0``, the row involves its own field), linear with constant coefficients
  in their own field and the evolving fields, such as ``-lap psi = w`` for a stream function:
  solved at every stage by one division per wave number (where the symbol vanishes, at
  ``kappa = 0`` for a Laplacian, the mode is set to zero: a zero-mean gauge).
- one multiplier row (``c1 = 0``, its own field absent): a homogeneous linear constraint with
  constant coefficients on the evolving fields, such as ``div u = 0``, whose field enters the
  evolution rows linearly with constant coefficients (the pressure as ``p I`` in the momentum
  flux).  Keeping the constraint, ``g . du/dt = 0``, fixes the multiplier per wave number, and
  subtracting its term projects the rate onto the constraint (for ``div u = 0`` and ``p I``: the
  Leray projection).  The initial state is projected the same way.

Anything else is refused with the reason.  A leading sample axis lets :func:`solve_batch` march
many samples of an input family at once, on the GPU where there is one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import sys
import time as _time
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..options import config_from_options, with_options
from ..problem import Dirichlet, Initial, Neumann, Problem
from ..problem.equation import source_rows
from ..problem.fingerprint import fingerprint
from ..problem.geometry import _AxisBox
from ..problem.inputs import InputFunction
from ..problem.problem import Parameters
from ..results import Solution, save_dataset
from . import cache_dir
from .linear import probe_linear_part, symbol, variable_names

__all__ = ["SpectralSettings", "SpectralSolution", "solve", "solve_batch", "check_periodic", "RECOGNISED"]

SCHEMES = ("etdrk4", "cnab2")
DTYPES = {"float64": (torch.float64, torch.complex128), "float32": (torch.float32, torch.complex64)}
CACHE_VERSION = "spectral-reference-1"
RECOGNISED = ("the spectral reference recognises evolution rows (c1 != 0) with any flux and source; Poisson rows "
              "(c1 = 0) linear with constant coefficients in their own field and the evolving fields "
              "(-lap psi = w); and one multiplier row (c1 = 0): a homogeneous linear constraint with constant "
              "coefficients on the evolving fields (div u = 0) whose field enters the evolution rows linearly with "
              "constant coefficients (the pressure as p I)")


@dataclass(frozen=True)
class SpectralSettings:
    """Discretisation settings of the spectral reference.

    Args:
        n: grid points per axis (every axis; no repeated end point).
        dt: time step (default ``(t1 - t0) / 200``); the step used divides each interval between
            saves evenly and is at most this.
        scheme: ``etdrk4`` (fourth order) or ``cnab2`` (Crank-Nicolson/Adams-Bashforth, second order).
        saves: intervals between stored snapshots (``saves + 1`` times are kept).
        dealias: apply the 2/3 rule to the pointwise (nonlinear) terms.
        dtype: ``float64`` or ``float32``.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``, ...
        batch: samples marched together by :func:`solve_batch`; default 32 on a CPU (larger batches
            leave the cache and gain nothing there), 1024 on a GPU.
    """

    n: int = 64
    dt: float | None = None
    scheme: str = "etdrk4"
    saves: int = 100
    dealias: bool = True
    dtype: str = "float64"
    device: str = "auto"
    batch: int | None = None

    def __post_init__(self):
        if not isinstance(self.n, int) or self.n < 4:
            raise ValueError(f"n must be an integer >= 4 (grid points per axis), got {self.n!r}")
        if self.scheme not in SCHEMES:
            raise ValueError(f"unknown time scheme {self.scheme!r}; valid schemes: {', '.join(SCHEMES)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}; valid dtypes: {', '.join(DTYPES)}")
        if self.dt is not None and not self.dt > 0:
            raise ValueError(f"dt must be positive, got {self.dt}")
        if self.saves < 1 or self.batch is not None and self.batch < 1:
            raise ValueError(f"saves and batch must be >= 1, got saves={self.saves}, batch={self.batch}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(f"unknown device {self.device!r}; valid devices: auto, cpu, cuda, cuda:N") from None

    @classmethod
    def from_options(cls, **options) -> "SpectralSettings":
        """Settings from keyword options (strings from the CLI are converted to each field's type)."""
        return config_from_options(cls, options, "spectral")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def batch_size(self) -> int:
        """``batch``, or its default for the device."""
        return self.batch or (1024 if self.torch_device().type == "cuda" else 32)


def check_periodic(problem: Problem) -> None:
    """Raise a ValueError saying why the spectral reference cannot take ``problem``, if it cannot
    (the checks that need no probing; the row structure is checked when solving)."""
    geometry, eq = problem.geometry, problem.equation
    why = None
    if not isinstance(geometry, _AxisBox):
        why = f"its geometry is a {type(geometry).__name__}, not an Interval, Rectangle or Box"
    elif set(problem.periodic_axes) != set(range(problem.dim)):
        missing = sorted(set(range(problem.dim)) - set(problem.periodic_axes))
        why = f"it is not periodic along axis {', '.join(map(str, missing))} (every axis must be); use method='fenics'"
    elif not problem.is_evolution:
        why = "it is steady; the spectral reference marches in time"
    elif eq.second_time_coefficient:
        why = "it has a second time derivative; write it as a first-order system"
    elif eq.weak_form is not None:
        why = "its equation is a hand-written weak form (UFL), which cannot be evaluated pointwise"
    elif problem.conditions_of(Dirichlet) or problem.conditions_of(Neumann):
        why = "it has Dirichlet or Neumann conditions, which a periodic box has no place for"
    elif all(c == 0 for c in problem.time_coefficients):
        why = "no component has a time derivative"
    if why is not None:
        raise ValueError(f"the spectral reference cannot solve {problem.name!r}: {why}")


# -- grid --------------------------------------------------------------------------------------
class _Grid:
    """The periodic grid of a box: points, wave numbers, the 2/3-rule mask, FFTs over the last ``d`` axes."""

    def __init__(self, geometry, n: int, dealias: bool, dtype, device):
        d = geometry.dim
        self.d, self.shape = d, (n,) * d
        self.lower = np.asarray(geometry.lower, dtype=float)
        self.length = np.asarray(geometry.upper, dtype=float) - self.lower
        self.axes = [self.lower[j] + self.length[j] * np.arange(n) / n for j in range(d)]
        mesh = torch.meshgrid(*[torch.as_tensor(a, dtype=dtype, device=device) for a in self.axes], indexing="ij")
        self.x = [m[None] for m in mesh]  # (1, *grid): broadcasts against the sample axis
        self.dims = tuple(range(-d, 0))
        frequencies = [np.fft.fftfreq(n, 1.0 / n)] * (d - 1) + [np.fft.rfftfreq(n, 1.0 / n)]
        self.spectral_shape = tuple(len(f) for f in frequencies)
        self.kappa, self.kappa64 = [], []
        keep = np.ones(self.spectral_shape, dtype=bool)
        resolved = np.ones(self.spectral_shape, dtype=bool)
        for j, f in enumerate(frequencies):
            shape = [1] * d
            shape[j] = len(f)
            nyquist = np.abs(f) == n / 2  # no derivative there (its sine is zero on the grid)
            k = np.where(nyquist, 0.0, 2 * np.pi * f / self.length[j]).reshape(shape)
            self.kappa64.append(torch.as_tensor(k, dtype=torch.float64))
            self.kappa.append(torch.as_tensor(k, dtype=dtype, device=device))
            resolved = resolved & ~nyquist.reshape(shape)
            keep = keep & (~nyquist & ((np.abs(f) <= n / 3) if dealias else True)).reshape(shape)
        self.ikappa = [1j * k for k in self.kappa]
        self.keep = torch.as_tensor(keep, dtype=dtype, device=device)
        self.resolved = torch.as_tensor(resolved, device=device)
        self.points = int(np.prod(self.shape))

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return torch.fft.rfftn(values, dim=self.dims)

    def inverse(self, coefficients: torch.Tensor) -> torch.Tensor:
        return torch.fft.irfftn(coefficients, s=self.shape, dim=self.dims)


class _OnGrid:
    """Input functions (one shared, or one per sample) as the flux sees them: evaluated on the grid
    tensors it is given, once (input functions do not depend on time)."""

    def __init__(self, functions: list, batched: bool):
        self.functions, self.batched = functions, batched
        self._cache = []  # (coordinate tensors, values): the tensors are kept, so their ids stay theirs

    def __call__(self, x, t=None, p=None):
        coords = [x[j] for j in range(len(x))]
        for key, value in self._cache:
            if len(key) == len(coords) and all(a is b for a, b in zip(key, coords)):
                return value
        shape = torch.Size(np.broadcast_shapes(*(tuple(c.shape) for c in coords)))
        flat = [c.expand(shape).reshape(-1) for c in coords]
        values = torch.stack([f(flat).reshape(shape) for f in self.functions])
        if not self.batched:
            value = values[0]
        else:  # the grid's leading axis of 1 becomes the sample axis
            value = values.squeeze(1) if len(shape) and shape[0] == 1 else values
        self._cache = (self._cache + [(tuple(coords), value)])[-4:]
        return value


def _batched_parameters(problems: list, dtype, device, d: int) -> Parameters:
    """The parameters of a batch: shared values as they are, numbers that differ as ``(B, 1, ...)``
    tensors, input functions evaluated on the grid (``(B, *grid)`` where they differ)."""
    values = {}
    for name, first in problems[0].params.items():
        column = [p.params[name] for p in problems]
        if isinstance(first, InputFunction):
            if not all(isinstance(v, InputFunction) for v in column):
                raise ValueError(f"parameter {name!r} is an input function in some samples and not in others")
            shared = all(v is first for v in column)
            values[name] = _OnGrid([first] if shared else column, batched=not shared)
        elif isinstance(first, numbers.Number) and all(isinstance(v, numbers.Number) for v in column):
            values[name] = first if all(v == first for v in column) else \
                torch.tensor([float(v) for v in column], dtype=dtype, device=device).reshape(-1, *([1] * d))
        elif all(v is first for v in column):
            values[name] = first
        else:
            raise ValueError(f"parameter {name!r} differs between the samples of a batch and is neither a number nor "
                             "an input function; solve those samples one at a time")
    return Parameters(values)


def _grid_rows(value, n: int, d: int) -> list[list]:
    """A flux on grid tensors as ``n`` rows of ``d`` components (a bare value is a 1D row)."""
    rows = [value] if n == 1 else [value[i] for i in range(n)]
    out = []
    for row in rows:
        if not isinstance(row, (list, tuple)):
            if d != 1:
                raise ValueError(f"the flux must have {d} components per field, got a single value")
            row = [row]
        if len(row) != d:
            raise ValueError(f"the flux must have {d} components per field, got {len(row)}")
        out.append(list(row))
    return out


# -- the discrete system -----------------------------------------------------------------------
class _System:
    """A batch of samples of one problem as the time stepper sees it.

    The evolving state is ``(B, E, *spectral)`` complex (``E`` evolving components); ``linear``
    ``(B or 1, E, *spectral)`` is the exact (implicit) part of its rate and :meth:`rates` the rest,
    with the constraint fields (Poisson solutions, the multiplier) at that state.
    """

    def __init__(self, problems: list, settings: SpectralSettings, device):
        problem = problems[0]
        self.problem, self.device = problem, device
        self.n, self.d = problem.n_components, problem.dim
        self.real, self.complex = DTYPES[settings.dtype]
        self.grid = _Grid(problem.geometry, settings.n, settings.dealias, self.real, device)
        self.params = _batched_parameters(problems, self.real, device, self.d)
        self.c1 = problem.time_coefficients
        self.evolving = [i for i in range(self.n) if self.c1[i] != 0]
        self.names = variable_names(problem)
        flux, source, part = self._probe(problems)
        self._classify(part)
        spectral = ~self.pointwise
        everything = np.ones_like(spectral)

        def sigma(row, column, variables):
            return symbol(flux, source, row, column, variables, self.grid.kappa64, self.n)

        self.linear64 = torch.stack([-sigma(e, e, spectral) / self.c1[e] for e in self.evolving], dim=1)
        self.linear = self._on_device(self.linear64)
        self.couplings = []  # per evolving row: (component, symbol) of the other fields treated spectrally
        for e in self.evolving:
            terms = [(m, sigma(e, m, spectral)) for m in self.evolving + self.poisson if m != e]
            self.couplings.append([(m, self._on_device(s)) for m, s in terms if s.abs().max() > 0])
        self.poisson_terms, self.poisson_inverse = {}, {}  # u_c^ = inverse * forcing + sum_m term_m * u_m^
        for c in self.poisson:
            own = sigma(c, c, everything)
            self._check_poisson(c, own)
            inverse = torch.where(own.abs() > 0, 1 / torch.where(own.abs() > 0, own, 1), 0)
            self.poisson_inverse[c] = self._on_device(inverse)
            self.poisson_terms[c] = [(m, self._on_device(-inverse * sigma(c, m, everything))) for m in self.evolving
                                     if part.depends[c, self._variables(m)].any()]
        self.multiplier = None
        if self.multipliers:
            (c,) = self.multipliers
            g = [sigma(c, m, everything) for m in self.evolving]
            h = [sigma(e, c, spectral) for e in self.evolving]
            self._set_multiplier(c, g, h)
        # what is left of each evolution row once its spectral variables are zero (skipped if nothing)
        self.active_source = [bool(part.source_at_zero[e] or (part.source_depends[e] & self.pointwise).any())
                              for e in self.evolving]
        self.active_flux = [[bool(part.flux_at_zero[e, j] or (part.flux_depends[e, j] & self.pointwise).any())
                             for j in range(self.d)] for e in self.evolving]
        self.forced_poisson = [c for c in self.poisson if part.flux_at_zero[c].any() or part.source_at_zero[c]]
        self._zero = torch.zeros((), dtype=self.real, device=device)

    # structure ----------------------------------------------------------------------------------
    def _variables(self, m: int) -> list[int]:
        """The variables of component ``m``: its value and its gradient."""
        return [m] + [self.n + m * self.d + k for k in range(self.d)]

    def _probe(self, problems):
        """Probe every sample whose parameters differ; one coefficient set where they all agree."""
        parts, seen = [], {}
        for problem in problems:
            key = tuple((name, value if isinstance(value, numbers.Number) else id(value))
                        for name, value in problem.params.items())
            if key not in seen:
                seen[key] = probe_linear_part(problem)
            parts.append(seen[key])
        flux = np.stack([p.flux for p in parts])
        source = np.stack([p.source for p in parts])
        if all(np.array_equal(f, flux[0]) for f in flux) and all(np.array_equal(s, source[0]) for s in source):
            flux, source = flux[:1], source[:1]
        first = parts[0]
        merged = dataclasses.replace(first, depends=np.any([p.depends for p in parts], axis=0),
                                     flux_depends=np.any([p.flux_depends for p in parts], axis=0),
                                     source_depends=np.any([p.source_depends for p in parts], axis=0),
                                     constant=np.all([p.constant for p in parts], axis=0),
                                     flux_at_zero=np.any([p.flux_at_zero for p in parts], axis=0),
                                     source_at_zero=np.any([p.source_at_zero for p in parts], axis=0))
        return flux, source, merged

    def _refuse(self, why: str):
        raise ValueError(f"the spectral reference cannot solve {self.problem.name!r}: {why}; {RECOGNISED}")

    def _classify(self, part):
        n, names, components = self.n, self.names, self.problem.components
        constraints = [i for i in range(n) if self.c1[i] == 0]
        self.pointwise = np.zeros(n + n * self.d, dtype=bool)
        for e in self.evolving:
            self.pointwise |= part.depends[e] & ~part.constant[e]
        for c in constraints:
            varying = part.depends[c] & ~part.constant[c]
            if varying.any():
                self._refuse(f"the constraint row of {components[c]!r} is not linear with constant coefficients in "
                             f"{', '.join(names[v] for v in np.flatnonzero(varying))}")
        self.poisson = [c for c in constraints if part.depends[c, self._variables(c)].any()]
        self.multipliers = [c for c in constraints if c not in self.poisson]
        for c in constraints:
            others = [m for m in constraints if m != c and part.depends[c, self._variables(m)].any()]
            if others:
                self._refuse(f"the constraint row of {components[c]!r} involves the constrained field(s) "
                             f"{', '.join(components[m] for m in others)}")
        if len(self.multipliers) > 1:
            self._refuse(f"it has {len(self.multipliers)} multiplier rows "
                         f"({', '.join(components[c] for c in self.multipliers)}); one is supported")
        for c in self.multipliers:
            if not part.depends[c].any():
                self._refuse(f"the constraint row of {components[c]!r} involves no field")
            if part.flux_at_zero[c].any() or part.source_at_zero[c]:
                self._refuse(f"the constraint row of {components[c]!r} is inhomogeneous (a forcing); a multiplier row "
                             "must be homogeneous")
            if self.pointwise[self._variables(c)].any():
                self._refuse(f"the multiplier {components[c]!r} enters an evolution row nonlinearly or with a "
                             "variable coefficient")

    def _check_poisson(self, c: int, own: torch.Tensor):
        zero = own.abs() == 0
        zero[(slice(None),) + (0,) * self.d] = False  # kappa = 0: the gauge
        if bool((zero & self.grid.resolved.cpu()).any()):
            self._refuse(f"the Poisson row of {self.problem.components[c]!r} is singular at a nonzero wave number")

    def _set_multiplier(self, c: int, g: list, h: list):
        components = self.problem.components
        c1 = [self.c1[e] for e in self.evolving]
        involved = [i for i in range(len(g)) if g[i].abs().max() > 0]
        for i in involved[1:]:
            if not torch.allclose(self.linear64[:, i], self.linear64[:, involved[0]], rtol=1e-12, atol=0):
                self._refuse(f"the exactly integrated linear parts of {components[self.evolving[involved[0]]]!r} and "
                             f"{components[self.evolving[i]]!r} differ, so the projection of the constraint of "
                             f"{components[c]!r} does not commute with them")
        denominator = sum(g[i] * h[i] / c1[i] for i in range(len(g)))
        constrained = sum(g[i].abs() for i in range(len(g))) > 0
        size = max(float(sum(x.abs() for x in g).max()), 1e-300) * max(float(sum(x.abs() for x in h).max()), 1e-300)
        if bool((constrained & (denominator.abs() <= 1e-12 * size)).any()):
            self._refuse(f"the multiplier {components[c]!r} cannot keep its constraint (g . M^-1 h = 0 at a wave number "
                         "where the constraint acts)")
        safe = torch.where(constrained, denominator, torch.ones_like(denominator))
        weights = [torch.where(constrained, g[i] / (c1[i] * safe), torch.zeros_like(safe)) for i in range(len(g))]
        self.multiplier = (c, [self._on_device(w) for w in weights], [self._on_device(x) for x in h])

    def _on_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device=self.device, dtype=self.complex)

    def describe(self) -> dict:
        """The structure recognised: rows by kind, what is exact, what is evaluated pointwise."""
        components, names = self.problem.components, self.names
        exact = {components[e]: [names[v] for v in self._variables(e) if not self.pointwise[v]
                                 and bool(self.linear64[:, i].abs().max() > 0)]
                 for i, e in enumerate(self.evolving)}
        return {"evolving": [components[e] for e in self.evolving],
                "poisson": [components[c] for c in self.poisson],
                "multiplier": [components[c] for c in self.multipliers],
                "exact_linear_part": {k: v for k, v in exact.items() if v},
                "pointwise": [names[v] for v in np.flatnonzero(self.pointwise)]}

    # evaluation --------------------------------------------------------------------------------
    def _complete(self, state: torch.Tensor, t: float) -> list:
        """Fourier coefficients per component: the evolving ones from ``state``, the Poisson fields
        solved from them; ``None`` for the multiplier."""
        full = [None] * self.n
        for i, e in enumerate(self.evolving):
            full[e] = state[:, i]
        forcing = self._poisson_forcing(t) if self.forced_poisson else {}
        for c in self.poisson:
            total = forcing[c] * self.poisson_inverse[c] if c in forcing else None
            for m, term in self.poisson_terms[c]:
                total = term * full[m] if total is None else total + term * full[m]
            full[c] = torch.zeros_like(state[:, 0]) if total is None else total
        return full

    def _evaluate(self, values, grads, t: float):
        n, d, eq = self.n, self.d, self.problem.equation
        u, du = (values[0], grads[0]) if n == 1 else (values, grads)
        time = torch.tensor(t, dtype=self.real, device=self.device)
        flux = _grid_rows(eq.flux(u, du, self.grid.x, time, self.params), n, d) if eq.flux is not None else None
        source = source_rows(eq.source(u, du, self.grid.x, time, self.params), n) if eq.source is not None else None
        return flux, source

    def _transform(self, value) -> torch.Tensor:
        """FFT of a pointwise value (number, ``(1 or B, *grid)`` tensor, or anything broadcasting to it)."""
        value = torch.as_tensor(value, dtype=self.real, device=self.device)
        if value.dim() > self.d + 1:
            raise ValueError(f"a flux or source value has shape {tuple(value.shape)}, more axes than (samples, *grid)")
        value = value.reshape((1,) * (self.d + 1 - value.dim()) + tuple(value.shape))
        return self.grid.forward(value.expand(value.shape[0], *self.grid.shape))

    def _divergence_form(self, flux_row, source_value, active_flux, active_source):
        """``S^ - i kappa . F^`` of one row from its pointwise values (``None`` if nothing is active)."""
        total = self._transform(source_value) if active_source else None
        for j, component in enumerate(flux_row):
            if active_flux[j]:
                term = -self.grid.ikappa[j] * self._transform(component)
                total = term if total is None else total + term
        return total

    def _poisson_forcing(self, t: float) -> dict:
        """``S^ - i kappa . F^`` of the Poisson rows with every field zero (their forcing)."""
        zero, d = self._zero, self.d
        flux, source = self._evaluate([zero] * self.n, [[zero] * d for _ in range(self.n)], t)
        forcing = {}
        for c in self.forced_poisson:
            rest = self._divergence_form(flux[c] if flux else [0.0] * d, source[c] if source else 0.0,
                                         [True] * d, source is not None)
            forcing[c] = rest * self.grid.keep
        return forcing

    def rates(self, state: torch.Tensor, t: float):
        """The explicit part of ``d state / dt`` ``(B, E, *spectral)`` and every component's coefficients."""
        grid, zero = self.grid, self._zero
        full = self._complete(state, t)
        values = [zero] * self.n
        grads = [[zero] * self.d for _ in range(self.n)]
        for v in np.flatnonzero(self.pointwise):
            if v < self.n:
                values[v] = grid.inverse(full[v])
            else:
                m, k = divmod(v - self.n, self.d)
                grads[m][k] = grid.inverse(grid.ikappa[k] * full[m])
        flux, source = self._evaluate(values, grads, t)
        rows = []
        for i, e in enumerate(self.evolving):
            total = self._divergence_form(flux[e] if flux else [], source[e] if source else None,
                                          self.active_flux[i], self.active_source[i])
            total = torch.zeros_like(state[:, i]) if total is None else total * grid.keep
            for m, sigma in self.couplings[i]:
                total = total - sigma * full[m]
            rows.append(total.expand_as(state[:, i]))
        if self.multiplier is not None:
            c, weights, h = self.multiplier
            full[c] = sum(w * r for w, r in zip(weights, rows))
            rows = [r - x * full[c] for r, x in zip(rows, h)]
        rows = [r if self.c1[e] == 1 else r / self.c1[e] for r, e in zip(rows, self.evolving)]
        return (rows[0].unsqueeze(1) if len(rows) == 1 else torch.stack(rows, dim=1)), full

    def project(self, state: torch.Tensor) -> torch.Tensor:
        """``state`` with the multiplier's constraint imposed (the same oblique projection as the rates')."""
        if self.multiplier is None:
            return state
        _, weights, h = self.multiplier
        c1 = [self.c1[e] for e in self.evolving]
        # weights_i = g_i / (c1_i den); the state's constraint g . u = sum_i c1_i weights_i u_i
        amount = sum(c1[i] * weights[i] * state[:, i] for i in range(len(c1)))
        return torch.stack([state[:, i] - h[i] / c1[i] * amount for i in range(len(c1))], dim=1)

    def initial_state(self, problems: list) -> torch.Tensor:
        """The evolving components' initial values on the grid, transformed, projected: ``(B, E, *spectral)``."""
        grid = self.grid
        x = np.stack([m.ravel() for m in np.meshgrid(*grid.axes, indexing="ij")])
        values = np.zeros((len(problems), len(self.evolving), grid.points))
        t0 = self.problem.time.t0
        for b, problem in enumerate(problems):
            for condition in problem.conditions_of(Initial):
                if condition.derivative != 0:
                    continue
                components = range(self.n)[problem.component_slice(condition.field)]
                raw = problem.value_of(condition.value, x, t0)
                rows = [raw] if len(components) == 1 else list(raw)
                for c, row in zip(components, rows):
                    if c in self.evolving:
                        values[b, self.evolving.index(c)] = np.broadcast_to(np.asarray(row, dtype=float), (grid.points,))
        physical = torch.as_tensor(values.reshape(len(problems), len(self.evolving), *grid.shape), dtype=self.real,
                                   device=self.device)
        return self.project(grid.forward(physical) * grid.resolved)

    def snapshot(self, state: torch.Tensor, t: float) -> np.ndarray:
        """Every component's normalised coefficients ``(B, n, *spectral)`` on the host."""
        full = self.rates(state, t)[1] if len(self.evolving) < self.n else self._complete(state, t)
        stacked = torch.stack([f.expand_as(state[:, 0]) for f in full], dim=1) / self.grid.points
        return stacked.cpu().numpy()


# -- time stepping -----------------------------------------------------------------------------
class _ETDRK4:
    """Exponential time differencing RK4 (Cox & Matthews 2002): the linear part exactly, the rest to
    fourth order; the phi-function coefficients by contour integrals (Kassam & Trefethen 2005)."""

    POINTS = 32

    def __init__(self, system: _System, dt: float):
        self.system, self.dt = system, dt
        z = dt * system.linear64
        circle = torch.exp(2j * math.pi * (torch.arange(self.POINTS, dtype=torch.float64) + 0.5) / self.POINTS)
        q, f1, f2, f3 = ([] for _ in range(4))
        for row in z:  # one parameter set at a time keeps the (..., POINTS) temporaries small
            r = row[..., None] + circle
            e = torch.exp(r)
            q.append(dt * ((torch.exp(r / 2) - 1) / r).mean(-1))
            f1.append(dt * ((-4 - r + e * (4 - 3 * r + r**2)) / r**3).mean(-1))
            f2.append(dt * ((2 + r + e * (r - 2)) / r**3).mean(-1))
            f3.append(dt * ((-4 - 3 * r - r**2 + e * (4 - r)) / r**3).mean(-1))
        move = system._on_device
        self.e, self.e2 = move(torch.exp(z)), move(torch.exp(z / 2))
        self.q, self.f1, self.f3 = (move(torch.stack(c)) for c in (q, f1, f3))
        self.two_f2 = move(2 * torch.stack(f2))

    def step(self, u: torch.Tensor, t: float) -> torch.Tensor:
        rates, h = self.system.rates, self.dt
        nu = rates(u, t)[0]
        a = self.e2 * u + self.q * nu
        na = rates(a, t + h / 2)[0]
        b = self.e2 * u + self.q * na
        nb = rates(b, t + h / 2)[0]
        c = self.e2 * a + self.q * (2 * nb - nu)
        nc = rates(c, t + h)[0]
        return self.e * u + self.f1 * nu + self.two_f2 * (na + nb) + self.f3 * nc


class _CNAB2:
    """Crank-Nicolson for the linear part, Adams-Bashforth 2 for the rest (forward Euler on the first step)."""

    def __init__(self, system: _System, dt: float):
        self.system, self.dt = system, dt
        half = dt * system.linear64 / 2
        self.gain = system._on_device((1 + half) / (1 - half))
        self.weight = system._on_device(dt / (1 - half))
        self.previous = None

    def step(self, u: torch.Tensor, t: float) -> torch.Tensor:
        rate = self.system.rates(u, t)[0]
        previous = rate if self.previous is None else self.previous
        self.previous = rate
        return self.gain * u + self.weight * (1.5 * rate - 0.5 * previous)


STEPPERS = {"etdrk4": _ETDRK4, "cnab2": _CNAB2}


# -- the solution ------------------------------------------------------------------------------
class SpectralSolution(Solution):
    """A spectral solution: Fourier interpolation in space (exact for band-limited fields), linear
    in time between saves.

    Attributes:
        times: ``(T,)`` save times.
        coefficients: ``(T, n_components, *spectral)`` complex: a component at ``x`` is
            ``Re sum_k w_k c_k exp(i kappa_k . (x - lower))``, ``w_k = 2`` for the modes whose
            conjugates the real FFT leaves out, else 1.
    """

    POINTS_PER_CHUNK = 4096

    def __init__(self, problem: Problem, times, coefficients, config: dict, wall_time: float):
        super().__init__(problem, "spectral", config, wall_time)
        self.times, self.coefficients = np.asarray(times, dtype=float), np.asarray(coefficients)
        geometry = problem.geometry
        self.lower = np.asarray(geometry.lower, dtype=float)
        self.length = np.asarray(geometry.upper, dtype=float) - self.lower
        self.n = n = int(config["n"])
        last = np.fft.rfftfreq(n, 1.0 / n)
        weights = np.where((last == 0) | (last == n / 2), 1.0, 2.0)
        self._weights = weights  # applied per save as needed: a batch's solutions share one coefficient array
        d = problem.dim
        self._kappa = [2 * np.pi * np.fft.fftfreq(n, 1.0 / n) / self.length[j] for j in range(d - 1)]
        self._kappa.append(2 * np.pi * last / self.length[d - 1])

    def on_grid(self, k: int) -> np.ndarray:
        """The solver's grid values of save ``k``: ``(n_components, n, ..., n)``."""
        d = self.problem.dim
        return np.fft.irfftn(self.coefficients[k] * self.n**d, s=(self.n,) * d, axes=tuple(range(1, d + 1)))

    def __call__(self, points):
        points = np.asarray(points, dtype=float)
        x, t = self.problem.split_points(points)
        t0, t1 = self.times[0], self.times[-1]
        if np.any((t < t0 - 1e-12 * (t1 - t0)) | (t > t1 + 1e-12 * (t1 - t0))):
            raise ValueError(f"times must lie in the solved interval [{t0}, {t1}]")
        position = np.interp(t, self.times, np.arange(len(self.times)))
        nearest = np.round(position)
        position = np.where(np.abs(position - nearest) < 1e-9, nearest, position)
        lower = np.minimum(np.floor(position).astype(int), len(self.times) - 2)
        weight = position - lower
        out = np.zeros((len(points), self.problem.n_components))
        for k in np.unique(lower):
            rows = np.flatnonzero(lower == k)
            w = weight[rows][:, None]
            out[rows] = (1 - w) * self._interpolate(k, x[:, rows])
            later = rows[weight[rows] > 0]
            if len(later):
                out[later] += weight[later][:, None] * self._interpolate(k + 1, x[:, later])
        return out

    def _interpolate(self, k: int, x: np.ndarray) -> np.ndarray:
        """Fourier interpolation of save ``k`` at ``(d, P)`` points: ``(P, n_components)``.

        Per axis the phases are computed at the distinct coordinates only; points on a tensor
        grid are then a sequence of small matrix products, other points a contraction per point.
        """
        d = x.shape[0]
        distinct = [np.unique(x[j], return_inverse=True) for j in range(d)]
        phases = [np.exp(1j * np.outer(values - self.lower[j], self._kappa[j])) for j, (values, _) in enumerate(distinct)]
        out = self.coefficients[k] * self._weights
        if np.prod([len(values) for values, _ in distinct]) <= 4 * x.shape[1]:  # (nearly) a tensor grid
            for phase in phases:
                out = np.tensordot(out, phase, axes=([1], [1]))  # contracts one axis, appends its points
            return out.real[(slice(None), *[inverse for _, inverse in distinct])].T
        first = np.moveaxis(np.tensordot(out, phases[0], axes=([1], [1])), -1, 1)  # (C, U0, K1, ...)
        result = np.empty((out.shape[0], x.shape[1]))
        letters = "abc"[: d - 1]
        formula = f"cp{letters}," + ",".join(f"p{a}" for a in letters) + "->cp"
        for start in range(0, x.shape[1], self.POINTS_PER_CHUNK):
            chunk = slice(start, start + self.POINTS_PER_CHUNK)
            gathered = first[:, distinct[0][1][chunk]]
            factors = [phases[j][distinct[j][1][chunk]] for j in range(1, d)]
            result[:, chunk] = np.einsum(formula, gathered, *factors).real if d > 1 else gathered.real
        return result.T


# -- the solver ----------------------------------------------------------------------------------
def _settings(settings, options) -> SpectralSettings:
    return with_options(settings, options, "spectral") if settings else SpectralSettings.from_options(**options)


def _same_structure(problems: list) -> None:
    first = problems[0]
    shape = fingerprint(first.equation, first.geometry, first.time, first.fields, first.conditions)
    for problem in problems[1:]:
        if problem is not first and problem.equation is not first.equation or \
                fingerprint(problem.equation, problem.geometry, problem.time, problem.fields, problem.conditions) != shape:
            raise ValueError(f"the samples of a batch must share equation, geometry, time, fields and conditions; "
                             f"{problem.name!r} differs from {first.name!r} (only parameters may vary)")


def solve(problem: Problem, settings: SpectralSettings | None = None, *, cache: bool = True,
          progress: bool | None = None, **options) -> SpectralSolution:
    """Solve ``problem`` (periodic along every axis) with the pseudo-spectral method.

    Args:
        problem: a Problem on an Interval, Rectangle or Box with ``Periodic`` on every axis.
        settings: :class:`SpectralSettings`; or give them as keyword ``options`` (``n=64, dt=1e-2``).
        cache: reuse (and store) the result under ``data/reference`` (``$PDEKIT_DATA``), keyed by a
            fingerprint of the problem and the settings that change the result.
        progress: show a progress bar over time steps (default: when stderr is a terminal).

    Returns:
        a :class:`SpectralSolution`.
    """
    settings = _settings(settings, options)
    check_periodic(problem)
    key = {k: v for k, v in dataclasses.asdict(settings).items() if k not in ("batch", "device")}
    path = cache_dir() / f"{problem.name}-{fingerprint(problem, key, CACHE_VERSION)}.nc"
    if cache and path.exists():
        return _load_cached(path, problem)
    solution = solve_batch([problem], settings, progress=progress)[0]
    if cache:
        spectral = [f"k{j}" for j in range(problem.dim)]
        dims = ("time", "component", *spectral)
        save_dataset(xr.Dataset({"real": (dims, solution.coefficients.real), "imag": (dims, solution.coefficients.imag)},
                                coords={"time": solution.times},
                                attrs={"wall_time_s": solution.wall_time, "config": json.dumps(solution.config)}), path)
    return solution


def _load_cached(path, problem) -> SpectralSolution:
    data = xr.load_dataset(path, engine="h5netcdf")
    config = {**json.loads(data.attrs["config"]), "cached": True}
    coefficients = data["real"].values + 1j * data["imag"].values
    return SpectralSolution(problem, data["time"].values, coefficients, config, float(data.attrs["wall_time_s"]))


def solve_batch(problems: list, settings: SpectralSettings | None = None, *, progress: bool | None = None,
                errors: str = "raise", **options) -> list:
    """Solve samples of one problem (parameters may differ) together, ``settings.batch`` at a time.

    Args:
        problems: Problems that share equation, geometry, time, fields and conditions (the
            samples of an input family: :meth:`Problem.sample_inputs`).
        settings, options: as for :func:`solve`.
        progress: show a progress bar over time steps.
        errors: ``"raise"`` the first sample's failure, or ``"return"`` it in that sample's place.

    Returns:
        one :class:`SpectralSolution` (or, with ``errors="return"``, the exception) per problem.
    """
    settings = _settings(settings, options)
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    problems = list(problems)
    if not problems:
        return []
    check_periodic(problems[0])
    _same_structure(problems)
    results = []
    size = settings.batch_size()
    for start in range(0, len(problems), size):
        results += _solve_together(problems[start: start + size], settings, progress)
    failed = [r for r in results if isinstance(r, Exception)]
    if failed and errors == "raise":
        raise failed[0]
    return results


def _solve_together(problems: list, settings: SpectralSettings, progress) -> list:
    started = _time.perf_counter()
    device = settings.torch_device()
    system = _System(problems, settings, device)
    t0, t1 = system.problem.time.t0, system.problem.time.t1
    per_save = max(1, int(np.ceil((t1 - t0) / (settings.dt or (t1 - t0) / 200) / settings.saves - 1e-9)))
    steps = per_save * settings.saves
    dt = (t1 - t0) / steps
    stepper = STEPPERS[settings.scheme](system, dt)
    state = system.initial_state(problems)
    first = system.snapshot(state, t0)
    coefficients = np.empty((len(problems), settings.saves + 1, *first.shape[1:]), dtype=first.dtype)
    coefficients[:, 0] = first
    blown = np.full(len(problems), np.nan)  # the first save time at which a sample was not finite
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(range(1, steps + 1), desc=f"{system.problem.name} spectral x{len(problems)}", disable=not show,
               unit="step", mininterval=1.0)
    for step in bar:
        state = stepper.step(state, t0 + (step - 1) * dt)
        if step % per_save == 0:
            t = t0 + step * dt
            coefficients[:, step // per_save] = system.snapshot(state, t)
            finite = torch.isfinite(torch.view_as_real(state)).flatten(1).all(1).cpu().numpy()
            blown[~finite & np.isnan(blown)] = t
    wall = (_time.perf_counter() - started) / len(problems)
    config = {**dataclasses.asdict(settings), "device": str(device), "time_step": dt, "steps": steps,
              "samples_together": len(problems), "structure": system.describe()}
    results = []
    for b, problem in enumerate(problems):
        if np.isnan(blown[b]):
            results.append(SpectralSolution(problem, np.linspace(t0, t1, settings.saves + 1), coefficients[b], config,
                                            wall))
        else:
            results.append(RuntimeError(f"the spectral solve of {problem.name!r} became non-finite by t = {blown[b]:.4g} "
                                        f"(dt = {dt:.3g}, n = {settings.n}): the explicit part is unstable; reduce dt"))
    return results
