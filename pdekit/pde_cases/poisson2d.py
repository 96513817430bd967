"""Poisson on the unit square with a manufactured solution (for convergence tests)."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Problem, Rectangle


def exact(x, t, p):
    return pm.sin(pm.pi * x[0]) * pm.sin(2 * pm.pi * x[1]) + x[0] * x[1]


def poisson2d() -> Problem:
    """``-laplace u = 5 pi^2 sin(pi x) sin(2 pi y)`` on ``[0, 1]^2``; ``u = sin(pi x) sin(2 pi y) + x y``."""
    return Problem(
        name="poisson2d",
        geometry=Rectangle((0, 0), (1, 1)),
        equation=Equation(
            flux=lambda u, du, x, t, p: [-du[0], -du[1]],
            source=lambda u, du, x, t, p: 5 * pm.pi**2 * pm.sin(pm.pi * x[0]) * pm.sin(2 * pm.pi * x[1]),
        ),
        conditions=[Dirichlet(exact)],
        exact=exact,
        description="manufactured Poisson problem on the unit square",
    )
