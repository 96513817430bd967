"""Helmholtz on ``[-1, 1]^2`` with the manufactured solution used by the PINN and PIG papers."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Problem, Rectangle

#: what ``pdekit solve helmholtz2d --solver S`` uses (benchmarks/pig.py)
RECIPES = {
    "pig": {"n_gaussians": 300, "sigma": 0.15, "n_interior": 4000, "n_boundary": 0, "weight_residual": 1e-4,
            "sampling": "sobol", "adam_steps": 1000, "lbfgs_steps": 150, "time_budget": 420.0,
            "hard_constraints": "zero_dirichlet", "dtype": "float64", "compile": True},
}


def exact(x, t, p):
    return pm.sin(p.a1 * pm.pi * x[0]) * pm.sin(p.a2 * pm.pi * x[1])


def source(u, du, x, t, p):
    # laplace u + k^2 u = q  is  div(-grad u) = k^2 u - q
    q = (p.k**2 - (p.a1 * pm.pi) ** 2 - (p.a2 * pm.pi) ** 2) * exact(x, t, p)
    return p.k**2 * u - q


def helmholtz2d(a1: float = 1.0, a2: float = 4.0, k: float = 1.0) -> Problem:
    """``laplace u + k^2 u = q`` with ``u = sin(a1 pi x) sin(a2 pi y)``, Dirichlet from it."""
    return Problem(
        name="helmholtz2d",
        geometry=Rectangle((-1, -1), (1, 1)),
        params={"a1": a1, "a2": a2, "k": k},
        equation=Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]], source=source),
        conditions=[Dirichlet(exact)],
        exact=exact,
        description="Helmholtz with a manufactured solution",
    )
