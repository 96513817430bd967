"""Darcy flow on the torus: FNO's thresholded coefficient, periodic (where padding must wrap around)."""

from .. import math as pm
from ..problem import Equation, Periodic, Problem, Rectangle, Threshold, WhittleMaternField

#: 12 where a periodic Whittle-Matern field (alpha 2, tau 3) is >= 0, 3 elsewhere
FAMILY = Threshold(WhittleMaternField("a", alpha=2.0, tau=3.0, boundary="periodic", modes=32), at=0.0, above=12.0,
                   below=3.0)

RECIPES = {
    # 64^2 nodes of one period; P1 on 128^2 cells (every node a mesh vertex); the coefficient is solved
    # as drawn (DG0 on the mesh), not rasterised: pdekit.data's rasteriser assumes grids with both ends
    "data": {"resolution": 64, "rasterize": False},
    "fenics": {"degree": 1, "cells": 128},
}


def source(x):
    return pm.sin(2 * pm.pi * x[0]) + pm.cos(2 * pm.pi * x[1])


def darcy_periodic2d() -> Problem:
    """``-div(a grad u) + u = sin(2 pi x) + cos(2 pi y)`` on the unit torus; ``a`` is 12 or 3.

    The reaction term makes the periodic problem well posed (no free constant)."""
    geometry = Rectangle((0, 0), (1, 1))
    return Problem(
        name="darcy_periodic2d",
        geometry=geometry,
        params={"a": FAMILY.draw(geometry, 0)["a"]},
        equation=Equation(flux=lambda u, du, x, t, p: [-p.a(x) * du[0], -p.a(x) * du[1]],
                          source=lambda u, du, x, t, p: source(x) - u),
        conditions=[Periodic(0), Periodic(1)],
        input_family=FAMILY,
        description="periodic Darcy flow with reaction, permeability 12 or 3 from a thresholded periodic field",
    )
