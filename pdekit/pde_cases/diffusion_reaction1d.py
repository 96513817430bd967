"""Nonlinear diffusion-reaction with a random source: the (physics-informed) DeepONet benchmark."""

from ..problem import Dirichlet, Equation, GaussianRandomField, Initial, Interval, Problem, TimeInterval

#: the DeepONet papers' source: a Gaussian field with squared-exponential covariance, length scale 0.2
FAMILY = GaussianRandomField("f", length_scale=0.2, periodic=False)

RECIPES = {
    "data": {"resolution": 100, "times": 100},
    "fenics": {"degree": 2, "cells": 64, "dt": 1e-2},
}


def diffusion_reaction1d(D: float = 0.01, k: float = 0.01) -> Problem:  # noqa: N803 - the papers' names
    """``u_t = D u_xx + k u^2 + f(x)`` on ``[0, 1] x [0, 1]``, ``u = 0`` initially and at both ends."""
    geometry = Interval(0.0, 1.0)
    return Problem(
        name="diffusion_reaction1d",
        geometry=geometry,
        time=TimeInterval(0.0, 1.0),
        params={"D": D, "k": k, "f": FAMILY.draw(geometry, 0)["f"]},
        equation=Equation(flux=lambda u, du, x, t, p: [-p.D * du[0]],
                          source=lambda u, du, x, t, p: p.k * u**2 + p.f(x)),
        conditions=[Dirichlet(0.0), Initial(0.0)],
        input_family=FAMILY,
        description="diffusion-reaction u_t = D u_xx + k u^2 + f(x) with a random source f",
    )
