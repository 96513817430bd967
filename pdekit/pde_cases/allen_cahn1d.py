"""Allen-Cahn reaction-diffusion (DeepXDE's Allen_Cahn.mat setting)."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Initial, Interval, Problem, TimeInterval

#: what ``pdekit solve allen_cahn1d --solver S`` uses (benchmarks/pinn_vs_deepxde.py --recipe, benchmarks/pig.py)
RECIPES = {
    "pinn": {"width": 32, "depth": 4, "n_interior": 8000, "n_boundary": 0, "n_initial": 0, "sampling": "sobol",
             "adam_steps": 15000, "lr": 2e-3, "lr_decay": 0.85, "lbfgs_steps": 500, "resample": "rad",
             "resample_every": 2500, "hard_constraints": "initial_dirichlet", "compile": True},
    # errors grow like exp(5 t) around the unstable u = 0, so the residual is weighted by exp(-10 t)
    "pig": {"n_gaussians": 300, "sigma": 0.15, "n_interior": 4000, "n_boundary": 0, "n_initial": 0,
            "sampling": "sobol", "resample": "rad", "resample_every": 10, "time_decay": 10.0, "adam_steps": 100,
            "lbfgs_steps": 1000, "time_budget": 300.0, "hard_constraints": "initial_dirichlet", "dtype": "float64",
            "compile": True},
}


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
