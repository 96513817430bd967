"""The antiderivative operator ``f -> u, u' = f``: the first DeepONet benchmark."""

from ..problem import Dirichlet, Equation, GaussianRandomField, Interval, Problem

#: the DeepONet repository's inputs: a Gaussian field with squared-exponential covariance, length scale 0.2
FAMILY = GaussianRandomField("f", length_scale=0.2, periodic=False)

RECIPES = {"data": {"resolution": 100}}


def exact(x, t, p):
    """``u(x) = int_0^x f``, by the input function's own (exact or Gauss-Legendre) quadrature."""
    return p.f.cumulative_integral(x[0])


def antiderivative() -> Problem:
    """``du/dx = f(x)`` on ``[0, 1]``, ``u(0) = 0``; ``f`` random (exact solution by quadrature)."""
    geometry = Interval(0.0, 1.0)
    return Problem(
        name="antiderivative",
        geometry=geometry,
        params={"f": FAMILY.draw(geometry, 0)["f"]},
        equation=Equation(flux=lambda u, du, x, t, p: [u], source=lambda u, du, x, t, p: p.f(x)),
        conditions=[Dirichlet(0.0, on="left")],
        exact=exact,
        input_family=FAMILY,
        description="antiderivative u' = f, u(0) = 0, with a random f",
    )
