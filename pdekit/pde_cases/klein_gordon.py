"""(2+1)-D Klein-Gordon, the setting of the SPINN and PIG papers."""

from .. import math as pm
from ..problem import Dirichlet, Equation, Initial, Problem, Rectangle, TimeInterval

#: what ``pdekit solve klein_gordon --solver S`` uses (benchmarks/pig.py): Gaussians narrower along
#: time (the solution's period is a third of the interval), Adam alone on fresh points every step
RECIPES = {
    "pig": {"n_gaussians": 200, "sigma": 0.5, "sigma_time": 0.15, "feature_scale": 1.0, "n_interior": 4096,
            "n_boundary": 1024, "n_initial": 256, "sampling": "sobol", "resample": "uniform", "resample_every": 1,
            "weight_boundary": 10.0, "adam_steps": 20000, "lr_decay": 0.8, "time_budget": 600.0, "dtype": "float32",
            "compile": True},
}


def exact(x, t, p):
    return (x[0] + x[1]) * pm.cos(p.k * t) + x[0] * x[1] * pm.sin(p.k * t)


def source(u, du, x, t, p):
    # u_tt - laplace u + u^2 = f with f = u_exact^2 - k^2 u_exact; divergence form S = f - u^2
    ue = exact(x, t, p)
    return ue**2 - p.k**2 * ue - u**2


def klein_gordon(k: float = 2.0) -> Problem:
    """``u_tt - laplace u + u^2 = f`` on ``[-1, 1]^2 x [0, 10]``, ``u = (x + y) cos(k t) + x y sin(k t)``.

    The papers' training uses only the initial value; the initial velocity ``u_t = k x y`` is
    given too so the problem is well posed for time stepping.
    """
    return Problem(
        name="klein_gordon",
        geometry=Rectangle((-1, -1), (1, 1)),
        time=TimeInterval(0.0, 10.0),
        params={"k": k},
        equation=Equation(
            flux=lambda u, du, x, t, p: [-du[0], -du[1]],
            source=source,
            time_coefficient=0.0,
            second_time_coefficient=1.0,
        ),
        conditions=[
            Dirichlet(exact),
            Initial(exact),
            Initial(lambda x, t, p: p.k * x[0] * x[1], derivative=1),
        ],
        exact=exact,
        description="nonlinear Klein-Gordon with a manufactured solution",
    )
