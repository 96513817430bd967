"""Advection of a Gaussian pulse, the 1D example of INSR (Chen et al. 2023, "advect1D")."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Initial, Interval, Problem, TimeInterval

#: what ``pdekit solve advection1d --solver S`` uses (benchmarks/insr.py)
RECIPES = {
    "insr": {"model": "siren", "width": 20, "depth": 3, "omega0": 30.0, "integrator": "midpoint", "time_steps": 600,
             "n_points": 1000, "init_iterations": 2000, "init_lbfgs_iterations": 300, "iterations": 100, "lr": 2e-4,
             "lbfgs_iterations": 10, "compile": True},
}


def exact(x, t, p):
    return pm.exp(-((x[0] - p.center - p.speed * t) ** 2) / (2 * p.width**2))


def advection1d(speed: float = 0.25, center: float = -1.5, width: float = 0.1) -> Problem:
    """``u_t + 0.25 u_x = 0`` on ``[-2, 2]``, ``t`` in ``[0, 12]``, a Gaussian pulse, ``u = 0`` at both ends."""
    return Problem(
        name="advection1d",
        geometry=Interval(-2.0, 2.0),
        time=TimeInterval(0.0, 12.0),
        params={"speed": speed, "center": center, "width": width},
        equation=Equation(flux=lambda u, du, x, t, p: [p.speed * u]),
        conditions=[Dirichlet(0.0), Initial(lambda x, t, p: exact(x, 0.0, p))],
        exact=exact,
        description="a Gaussian pulse carried at constant speed (zero ends; exact up to ~1e-5 at the walls)",
    )
