"""Allen-Cahn reaction-diffusion (DeepXDE's Allen_Cahn.mat setting)."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Initial, Interval, Problem, TimeInterval


def allen_cahn1d(diffusion: float = 0.001, reaction: float = 5.0) -> Problem:
    """``u_t = d u_xx + r (u - u^3)`` on ``[-1, 1] x [0, 1]``, ``u0 = x^2 cos(pi x)``, ``u(+-1) = -1``."""
    return Problem(
        name="allen_cahn1d",
        geometry=Interval(-1.0, 1.0),
        time=TimeInterval(0.0, 1.0),
        params={"diffusion": diffusion, "reaction": reaction},
        equation=Equation(
            flux=lambda u, du, x, t, p: [-p.diffusion * du[0]],
            source=lambda u, du, x, t, p: p.reaction * (u - u**3),
        ),
        conditions=[
            Dirichlet(-1.0, on=("left", "right")),
            Initial(lambda x, t, p: x[0] ** 2 * pm.cos(pm.pi * x[0])),
        ],
        description="Allen-Cahn with sharp interfaces forming",
    )
