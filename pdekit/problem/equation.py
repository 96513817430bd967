"""The equation in divergence form.

``c2 d2u/dt2 + c1 du/dt + div F(u, grad u, x, t; p) = S(u, grad u, x, t; p)``

``F`` and ``S`` are callables ``(u, grad_u, x, t, p)`` written once with :mod:`pdekit.math`.
For a scalar field ``u`` is a scalar per point and ``grad_u[j]`` its derivative along axis
``j``; ``F`` returns the ``d`` flux components (a bare scalar is accepted in 1D).  For ``n > 1``
components ``u[i]``, ``grad_u[i][j]`` and ``F`` returns ``n`` rows of ``d`` components, ``S``
``n`` values.  The same callable thus yields the strong-form residual on torch tensors and the
weak form ``(c1 u_t, v) - (F, grad v) - (S, v)`` on UFL expressions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["Equation"]


@dataclass(frozen=True)
class Equation:
    """A PDE in divergence form.

    Args:
        flux: ``F(u, grad_u, x, t, p)``, or ``None`` for no flux.
        source: ``S(u, grad_u, x, t, p)``, or ``None`` for zero.
        time_coefficient: ``c1``, the factor of ``du/dt`` (ignored for steady problems).
        second_time_coefficient: ``c2``, the factor of ``d2u/dt2`` (wave-type equations).
        weak_form: optional hook for cases outside this class (mixed elements, say): a callable
            ``weak_form(context) -> ufl.Form`` used by the FEniCS reference instead of the form
            generated from ``flux`` and ``source``; see :mod:`pdekit.reference.fenics`.
    """

    flux: Callable | None = None
    source: Callable | None = None
    time_coefficient: float = 1.0
    second_time_coefficient: float = 0.0
    weak_form: Callable | None = None


def _is_scalar(value) -> bool:
    if isinstance(value, (list, tuple)):
        return False
    shape = getattr(value, "ufl_shape", None)
    if shape is not None:
        return shape == ()
    return getattr(value, "ndim", 0) <= 1


def flux_rows(value, n: int, d: int) -> list[list]:
    """A flux value as ``n`` rows of ``d`` components, whatever form the callable returned.

    Accepted: a scalar per point (1D, one component), a sequence or ``(d, N)`` array of
    components, a UFL vector, and for ``n > 1`` a sequence of such rows.
    """
    rows = [value] if n == 1 else [value[i] for i in range(n)]
    out = []
    for row in rows:
        if _is_scalar(row):
            if d != 1:
                raise ValueError(f"the flux must have {d} components per field, got a scalar")
            out.append([row])
            continue
        length = row.ufl_shape[0] if hasattr(row, "ufl_shape") else len(row)
        if length != d:
            raise ValueError(f"the flux must have {d} components per field, got {length}")
        out.append([row[j] for j in range(d)])
    return out


def source_rows(value, n: int) -> list:
    """A source value as a list of ``n`` per-component values."""
    if n == 1:
        return [value]
    rows = [value[i] for i in range(n)]
    return rows
