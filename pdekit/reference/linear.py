"""The constant-coefficient linear part of a Problem's equation, found by probing, and its Fourier symbols.

Row ``i`` of ``c1_i du_i/dt + div F_i(u, G, x, t) = S_i(u, G, x, t)`` (``G[m][k] = du_m/dx_k``) is
evaluated on first-order jets in the *variables* ``u_m`` and ``G_mk`` at random states, points
and times, as the LPINN probes its flux.  Where the derivative with respect to a variable is the
same at every probe, the row is affine in that variable with a constant coefficient, so its
contribution to ``div F_i - S_i`` is a Fourier multiplier: the *symbol*

    sigma_im(kappa) = sum_j i kappa_j V_ijm - sum_jk kappa_j kappa_k D_ijmk - s_im - sum_k i kappa_k r_imk

with ``V = dF/du``, ``D = dF/dG``, ``s = dS/du``, ``r = dS/dG`` (``div F_i - S_i`` has Fourier
coefficients ``sum_m sigma_im u_m^`` from those variables).  Variables are numbered ``u_m`` first
(``m < n``), then ``G_mk`` at ``n + m d + k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..derivatives.jet import Jet
from ..problem import Problem
from ..problem.equation import flux_rows, source_rows

__all__ = ["LinearPart", "probe_linear_part", "symbol", "variable_names"]

PROBES = 32
RELATIVE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class LinearPart:
    """What the probe found, per row ``i`` (``n`` rows) and variable ``v`` (``n + n d``).

    Attributes:
        flux: ``(n, d, V)`` constant coefficients ``dF_ij/dv`` (meaningful where ``constant``).
        source: ``(n, V)`` constant coefficients ``dS_i/dv``.
        depends: ``(n, V)`` whether row ``i`` depends on ``v`` at all.
        flux_depends: ``(n, d, V)`` whether ``F_ij`` does; ``source_depends``: ``(n, V)`` whether ``S_i`` does.
        constant: ``(n, V)`` whether that dependence has one coefficient everywhere.
        flux_at_zero: ``(n, d)`` whether ``F_ij`` is nonzero with every variable zero (a forcing).
        source_at_zero: ``(n,)`` the same for ``S_i``.
    """

    flux: np.ndarray
    source: np.ndarray
    depends: np.ndarray
    flux_depends: np.ndarray
    source_depends: np.ndarray
    constant: np.ndarray
    flux_at_zero: np.ndarray
    source_at_zero: np.ndarray


def variable_names(problem: Problem) -> list[str]:
    """Readable names of the variables: ``u``, ``p``, then ``du/dx``, ``du/dy``, ..."""
    axes = "xyz"
    names = list(problem.components)
    return names + [f"d{c}/d{axes[k]}" for c in problem.components for k in range(problem.dim)]


def probe_linear_part(problem: Problem, probes: int = PROBES, seed: int = 0) -> LinearPart:
    """Probe the flux and source of ``problem`` for their constant-coefficient linear part."""
    n, d = problem.n_components, problem.dim
    dims = n + n * d
    generator = torch.Generator().manual_seed(seed)

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(probes, generator=generator, dtype=torch.float64)

    values = [Jet.variable(uniform(-2.0, 2.0), m, dims, second_order=False) for m in range(n)]
    grads = [[Jet.variable(uniform(-2.0, 2.0), n + m * d + k, dims, second_order=False) for k in range(d)]
             for m in range(n)]
    x = [uniform(lo, hi) for lo, hi in zip(problem.geometry.lower, problem.geometry.upper)]
    t = uniform(problem.time.t0, problem.time.t1) if problem.is_evolution else None
    flux, source = _rows(problem, values, grads, x, t)
    zero = torch.zeros(probes, dtype=torch.float64)
    flux0, source0 = _rows(problem, [zero] * n, [[zero] * d for _ in range(n)], x, t)

    flux_jacobian = np.stack([np.stack([_jacobian(c, probes, dims) for c in row]) for row in flux])  # (n, d, P, V)
    source_jacobian = np.stack([_jacobian(c, probes, dims) for c in source])  # (n, P, V)
    both = np.concatenate([flux_jacobian.transpose(0, 2, 3, 1), source_jacobian[..., None]], axis=-1)  # (n, P, V, d + 1)
    scale = np.maximum(1.0, np.abs(both).max(axis=(1, 3)))  # (n, V)
    spread = np.abs(both - both[:, :1]).max(axis=(1, 3))
    return LinearPart(
        flux=flux_jacobian[:, :, 0], source=source_jacobian[:, 0],
        depends=np.abs(both).max(axis=(1, 3)) > 0,
        flux_depends=np.abs(flux_jacobian).max(axis=2) > 0, source_depends=np.abs(source_jacobian).max(axis=1) > 0,
        constant=spread <= RELATIVE_TOLERANCE * scale,
        flux_at_zero=np.array([[_nonzero(c) for c in row] for row in flux0], dtype=bool).reshape(n, d),
        source_at_zero=np.array([_nonzero(c) for c in source0], dtype=bool),
    )


def _rows(problem, values, grads, x, t):
    """Flux (``n`` rows of ``d``) and source (``n``) at the given variables; zeros where absent."""
    n, d, eq = problem.n_components, problem.dim, problem.equation
    u, du = (values[0], grads[0]) if n == 1 else (list(values), list(grads))
    flux = flux_rows(eq.flux(u, du, x, t, problem.p), n, d) if eq.flux is not None else [[0.0] * d for _ in range(n)]
    source = source_rows(eq.source(u, du, x, t, problem.p), n) if eq.source is not None else [0.0] * n
    return flux, source


def _jacobian(value, probes: int, dims: int) -> np.ndarray:
    """``(P, V)`` derivatives of one flux or source component (zero where it is no jet)."""
    if isinstance(value, Jet):
        return value.grad.detach().numpy().astype(float)
    return np.zeros((probes, dims))


def _nonzero(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool((value != 0).any())
    return bool(np.any(np.asarray(value) != 0))


def symbol(part_flux: np.ndarray, part_source: np.ndarray, row: int, column: int, variables, kappa, n: int):
    """``sigma_row,column(kappa)`` from the coefficients of the chosen ``variables`` of ``column``.

    Args:
        part_flux: ``(B, n, d, V)`` flux coefficients (``B`` parameter sets, or 1).
        part_source: ``(B, n, V)`` source coefficients.
        row, column: the equation row and the component whose variables contribute.
        variables: ``(V,)`` boolean mask of the variables to include.
        kappa: ``d`` real tensors of wave numbers, broadcastable to the spectral grid.
        n: number of components.

    Returns:
        a complex128 tensor ``(B, *spectral grid)``.
    """
    d = len(kappa)
    batch = part_flux.shape[0]
    shape = np.broadcast_shapes(*(tuple(k.shape) for k in kappa))
    total = torch.zeros((batch, *shape), dtype=torch.complex128)

    def coefficient(array, *index):
        return torch.as_tensor(array[(slice(None), *index)], dtype=torch.float64).reshape(batch, *([1] * len(shape)))

    k64 = [k.to(torch.float64) for k in kappa]
    if variables[column]:
        for j in range(d):
            total = total + 1j * k64[j] * coefficient(part_flux, row, j, column)
        total = total - coefficient(part_source, row, column)
    for k in range(d):
        v = n + column * d + k
        if not variables[v]:
            continue
        for j in range(d):
            total = total - k64[j] * k64[k] * coefficient(part_flux, row, j, v)
        total = total - 1j * k64[k] * coefficient(part_source, row, v)
    return total
