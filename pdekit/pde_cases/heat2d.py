"""Heat equation on the unit square with an exact, time-oscillating solution."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Initial, Problem, Rectangle, TimeInterval

#: what ``pdekit solve heat2d --solver S`` uses (benchmarks/insr.py)
RECIPES = {
    "insr": {"model": "siren", "width": 32, "depth": 3, "omega0": 10.0, "integrator": "midpoint", "time_steps": 40,
             "n_points": 2000, "n_boundary": 200, "init_iterations": 1000, "init_lbfgs_iterations": 500,
             "iterations": 0, "lbfgs_iterations": 80, "dtype": "float64", "compile": True},
}


def exact(x, t, p):
    return pm.sin(pm.pi * x[0]) * pm.sin(pm.pi * x[1]) * pm.cos(2 * t)


def source(u, du, x, t, p):
    shape = pm.sin(pm.pi * x[0]) * pm.sin(pm.pi * x[1])
    return shape * (-2 * pm.sin(2 * t) + 2 * pm.pi**2 * p.kappa * pm.cos(2 * t))


def heat2d(kappa: float = 0.1) -> Problem:
    """``u_t - kappa laplace u = f`` on ``[0, 1]^2 x [0, 1]``; ``u = sin(pi x) sin(pi y) cos(2 t)``."""
    return Problem(
        name="heat2d",
        geometry=Rectangle((0, 0), (1, 1)),
        time=TimeInterval(0.0, 1.0),
        params={"kappa": kappa},
        equation=Equation(flux=lambda u, du, x, t, p: [-p.kappa * du[0], -p.kappa * du[1]], source=source),
        conditions=[Dirichlet(exact), Initial(exact)],
        exact=exact,
        description="heat equation with a manufactured solution",
    )
