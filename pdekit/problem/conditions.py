"""Initial and boundary conditions.

Values are numbers or callables ``value(x, t, p)`` written with :mod:`pdekit.math`, where ``x``
is component-first (``x[0]`` the first coordinate), ``t`` the time (``None`` for steady
problems) and ``p`` the problem's parameters.  ``on`` selects the boundary: ``None`` (all of
it), a side name, a tuple of side names, or a predicate ``on(x) -> bool array``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

__all__ = ["Dirichlet", "Neumann", "Periodic", "Initial", "Condition"]

Value = Union[float, Callable]
Where = Union[None, str, tuple, Callable]


@dataclass(frozen=True)
class Dirichlet:
    """Prescribed value ``u = value`` on part of the boundary."""

    value: Value
    on: Where = None
    field: str | None = None


@dataclass(frozen=True)
class Neumann:
    """Prescribed normal flux: ``-F(u, grad u) . n = value`` on part of the boundary.

    For ``F = -grad u`` (Poisson, heat) this is ``du/dn = value``; it is the natural condition
    of the divergence form, so FEniCS imposes it weakly.
    """

    value: Value
    on: Where = None
    field: str | None = None


@dataclass(frozen=True)
class Periodic:
    """Periodicity along a coordinate axis of a box-shaped domain: the two opposite sides are
    identified (``u(lower) = u(upper)``; for all fields)."""

    axis: int = 0


@dataclass(frozen=True)
class Initial:
    """Initial value ``u(x, t0) = value(x, t0, p)``; ``derivative=1`` gives ``du/dt`` at ``t0``
    (needed when the equation has a second time derivative)."""

    value: Value
    field: str | None = None
    derivative: int = 0


Condition = Union[Dirichlet, Neumann, Periodic, Initial]
