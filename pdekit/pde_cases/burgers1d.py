"""Viscous Burgers' equation, the PINN benchmark of Raissi et al. (DeepXDE's Burgers.npz)."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Initial, Interval, Problem, TimeInterval

#: what ``pdekit solve burgers1d --solver S`` uses (benchmarks/pinn_vs_deepxde.py --recipe)
RECIPES = {
    "pinn": {"width": 32, "depth": 5, "n_interior": 8000, "n_boundary": 400, "n_initial": 400, "sampling": "sobol",
             "adam_steps": 10000, "lr": 1e-3, "lbfgs_steps": 1500, "resample": "rad", "resample_every": 2000,
             "compile": True, "dtype": "float64"},  # in float32 L-BFGS stalls at the rounding (1.4e-3 for seed 0)
}


def burgers1d(nu: float = 0.01 / pm.pi) -> Problem:
    """``u_t + (u^2 / 2)_x = nu u_xx`` on ``[-1, 1] x [0, 0.99]``, ``u0 = -sin(pi x)``, ``u(+-1) = 0``."""
    return Problem(
        name="burgers1d",
        geometry=Interval(-1.0, 1.0),
        time=TimeInterval(0.0, 0.99),
        params={"nu": nu},
        equation=Equation(flux=lambda u, du, x, t, p: [0.5 * u**2 - p.nu * du[0]]),
        conditions=[Dirichlet(0.0, on=("left", "right")), Initial(lambda x, t, p: -pm.sin(pm.pi * x[0]))],
        description="viscous Burgers, shock forming near x = 0",
    )
