"""Periodic linear convection, the PINN failure mode of Krishnapriyan et al. (2021)."""

from .. import math as pm
from ..problem import Equation, Initial, Interval, Periodic, Problem, TimeInterval

#: what ``pdekit solve convection1d --solver S`` uses (benchmarks/lpinn_vs_pinn.py)
RECIPES = {
    "lpinn": {"width": 32, "depth": 4, "n_interior": 2048, "sampling": "sobol", "adam_steps": 1000,
              "lbfgs_steps": 20, "compile": True},
}


def exact(x, t, p):
    return pm.exp(-p.nu * t) * pm.sin(x[0] - p.beta * t)


def convection1d(beta: float = 30.0, nu: float = 0.0) -> Problem:
    """``u_t + beta u_x = nu u_xx`` on ``[0, 2 pi]`` periodic, ``t`` in ``[0, 1]``, ``u0 = sin x``.

    The exact solution is ``exp(-nu t) sin(x - beta t)``; ``nu = 0`` is pure convection.
    """
    return Problem(
        name="convection1d",
        geometry=Interval(0.0, 2 * pm.pi),
        time=TimeInterval(0.0, 1.0),
        params={"beta": beta, "nu": nu},
        equation=Equation(flux=lambda u, du, x, t, p: [p.beta * u - p.nu * du[0]]),
        conditions=[Periodic(axis=0), Initial(lambda x, t, p: pm.sin(x[0]))],
        exact=exact,
        description="linear convection(-diffusion) with speed beta",
    )
