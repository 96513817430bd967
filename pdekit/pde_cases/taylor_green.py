"""The 2D Taylor-Green vortex: incompressible Navier-Stokes with an exact decaying solution."""

from .. import math as pm
from ..problem import Equation, Field, Initial, Periodic, Problem, Rectangle, TimeInterval

#: what ``pdekit solve taylor_green --solver S`` uses (benchmarks/insr.py)
RECIPES = {
    "insr": {"integrator": "splitting", "model": "siren", "width": 24, "depth": 2, "omega0": 30.0, "time_steps": 10,
             "n_points": 1000, "init_iterations": 1000, "init_lbfgs_iterations": 300, "iterations": 200,
             "lbfgs_iterations": 100, "lr": 1e-2, "dtype": "float64"},
}


def exact(x, t, p):
    decay = pm.exp(-2 * p.nu * t)
    return [pm.cos(x[0]) * pm.sin(x[1]) * decay,
            -pm.sin(x[0]) * pm.cos(x[1]) * decay,
            -(pm.cos(2 * x[0]) + pm.cos(2 * x[1])) / 4 * decay**2]


def velocity(x, t, p):
    return exact(x, t, p)[:2]


def flux(u, du, x, t, p):
    """Momentum ``u u^T + p I - nu grad u`` (rows 0, 1) and the continuity row ``u``."""
    return [[u[0] * u[0] + u[2] - p.nu * du[0][0], u[0] * u[1] - p.nu * du[0][1]],
            [u[1] * u[0] - p.nu * du[1][0], u[1] * u[1] + u[2] - p.nu * du[1][1]],
            [u[0], u[1]]]


def taylor_green(nu: float = 0.1) -> Problem:
    """``u_t + div(u u + p I - nu grad u) = 0``, ``div u = 0`` on ``[0, 2 pi]^2`` periodic, ``t`` in ``[0, 1]``.

    Exact: ``u = (cos x sin y, -sin x cos y) e^(-2 nu t)``, ``p = -(cos 2x + cos 2y) / 4 e^(-4 nu t)``
    (unit density).  The continuity row has no time derivative (``time_coefficient`` 0), so the
    pressure needs no initial value: it is the constraint's Lagrange multiplier.
    """
    return Problem(
        name="taylor_green",
        geometry=Rectangle((0, 0), (2 * pm.pi, 2 * pm.pi)),
        time=TimeInterval(0.0, 1.0),
        fields=[Field("u", 2), Field("p")],
        params={"nu": nu},
        equation=Equation(flux=flux, time_coefficient=(1.0, 1.0, 0.0)),
        conditions=[Periodic(axis=0), Periodic(axis=1), Initial(velocity, field="u")],
        exact=exact,
        description="decaying Taylor-Green vortex (velocity u, pressure p; divergence-free)",
    )
