"""2D incompressible Navier-Stokes in vorticity-stream function form: the FNO Navier-Stokes data."""

from .. import math as pm
from ..problem import Equation, Field, Initial, Periodic, Problem, Rectangle, TimeInterval, WhittleMaternField

#: FNO's initial vorticity: a periodic Gaussian field with covariance 7^3 (-lap + 49)^(-2.5)
FAMILY = WhittleMaternField("w0", alpha=2.5, tau=7.0, boundary="periodic")

RECIPES = {
    # FNO stores 64^2 every time unit up to t = 50.  Solved on that grid: against n = 128, dt = 0.0125
    # (float64) the relative L2 error of w is at most 5e-4 from t = 1 on (3e-3 at t = 0: the dropped
    # Nyquist modes of w0); dt = 0.05 adds under 1e-7 (dt = 0.2 is unstable, 0.1 was not), float32
    # under 2e-5.  benchmarks/spectral.py measures error and cost.
    "data": {"resolution": 64, "times": 51},
    "spectral": {"n": 64, "dt": 0.05, "scheme": "etdrk4", "dtype": "float32"},
}


def forcing(x, t, p):
    """FNO's forcing ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``."""
    phase = 2 * pm.pi * (x[0] + x[1])
    return 0.1 * (pm.sin(phase) + pm.cos(phase))


def flux(u, du, x, t, p):
    """Vorticity: advection by ``(psi_y, -psi_x)`` and diffusion; stream function: ``-grad psi``."""
    w, dw, dpsi = u[0], du[0], du[1]
    return [[dpsi[1] * w - p.nu * dw[0], -dpsi[0] * w - p.nu * dw[1]],
            [-dpsi[0], -dpsi[1]]]


def source(u, du, x, t, p):
    """The forcing in the vorticity row; ``w`` in the stream function's (``-lap psi = w``)."""
    return [forcing(x, t, p), u[0]]


def ns2d_vorticity(nu: float = 1e-3) -> Problem:
    """``w_t + u . grad w = nu lap w + f``, ``u = (psi_y, -psi_x)``, ``-lap psi = w`` on the unit torus.

    ``w0`` from a Whittle-Matern field (alpha 2.5, tau 7) and ``f = 0.1 (sin 2 pi (x + y) + cos 2 pi
    (x + y))``, ``t`` in ``[0, 50]``: the setting of the FNO Navier-Stokes data.  The stream function
    row has no time derivative: it is solved from ``w`` at every instant.
    """
    geometry = Rectangle((0, 0), (1, 1))
    return Problem(
        name="ns2d_vorticity",
        geometry=geometry,
        time=TimeInterval(0.0, 50.0),
        fields=[Field("w"), Field("psi")],
        params={"nu": nu, "w0": FAMILY.draw(geometry, 0)["w0"]},
        equation=Equation(flux=flux, source=source, time_coefficient=(1.0, 0.0)),
        conditions=[Periodic(axis=0), Periodic(axis=1), Initial(lambda x, t, p: p.w0(x), field="w")],
        input_family=FAMILY,
        description="2D Navier-Stokes, vorticity w and stream function psi (FNO's forced flow, GRF initial vorticity)",
    )
