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

import numbers
from dataclasses import dataclass
from typing import Callable

__all__ = ["Equation"]


@dataclass(frozen=True)
class Equation:
    """A PDE in divergence form.

    Args:
        flux: ``F(u, grad_u, x, t, p)``, or ``None`` for no flux.
        source: ``S(u, grad_u, x, t, p)``, or ``None`` for zero.
        time_coefficient: ``c1``, the factor of ``du/dt`` (ignored for steady problems): one number
            for all components, or a tuple with one per component, so that a constraint row (the
            ``div u = 0`` of incompressible flow) can have none: ``(1.0, 1.0, 0.0)``.
        second_time_coefficient: ``c2``, the factor of ``d2u/dt2`` (wave-type equations).
        weak_form: optional hook for cases outside this class (mixed elements, say): a callable
            ``weak_form(context) -> ufl.Form`` used by the FEniCS reference instead of the form
            generated from ``flux`` and ``source``; see :mod:`pdekit.reference.fenics`.
    """

    flux: Callable | None = None
    source: Callable | None = None
    time_coefficient: float | tuple = 1.0
    second_time_coefficient: float = 0.0
    weak_form: Callable | None = None

    def __post_init__(self):
        c1 = self.time_coefficient
        if isinstance(c1, (list, tuple)):
            if not c1 or not all(isinstance(c, numbers.Real) for c in c1):
                raise ValueError(f"time_coefficient must be a number or a non-empty tuple of numbers, got {c1!r}")
            object.__setattr__(self, "time_coefficient", tuple(float(c) for c in c1))
        elif not isinstance(c1, numbers.Real):
            raise ValueError(f"time_coefficient must be a number or a tuple of numbers (one per component), got {c1!r}")

    def time_coefficients(self, n: int) -> tuple[float, ...]:
        """``c1`` per component for an unknown of ``n`` components (a number applies to all)."""
        c1 = self.time_coefficient
        if not isinstance(c1, tuple):
            return (float(c1),) * n
        if len(c1) != n:
            raise ValueError(f"time_coefficient has {len(c1)} entries but the unknown has {n} component(s); "
                             "give one per component, or one number for all")
        return c1


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
