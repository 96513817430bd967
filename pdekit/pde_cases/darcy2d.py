"""Darcy flow with a piecewise-constant random permeability: the FNO operator-learning benchmark."""

from ..problem import Dirichlet, Equation, Problem, Rectangle, Threshold, WhittleMaternField

#: FNO's coefficient: 12 where a Whittle-Matern field (alpha 2, tau 3, Neumann) is >= 0, 3 elsewhere
FAMILY = Threshold(WhittleMaternField("a", alpha=2.0, tau=3.0, boundary="neumann", modes=32), at=0.0, above=12.0,
                   below=3.0)

RECIPES = {
    # 64^2 nodes; the coefficient solved is the stored one (piecewise constant around the nodes), so the
    # input determines the output; P1 on the grid refined twice has its interfaces on mesh edges
    # (benchmarks/data_generation.py measures its error against finer solves)
    "data": {"resolution": 64, "rasterize": True, "refine": 2},
    "fenics": {"degree": 1},
}


def darcy2d() -> Problem:
    """``-div(a grad u) = 1`` on ``[0, 1]^2``, ``u = 0``; ``a`` is 12 or 3 (FNO's Darcy family)."""
    geometry = Rectangle((0, 0), (1, 1))
    return Problem(
        name="darcy2d",
        geometry=geometry,
        params={"a": FAMILY.draw(geometry, 0)["a"]},
        equation=Equation(flux=lambda u, du, x, t, p: [-p.a(x) * du[0], -p.a(x) * du[1]],
                          source=lambda u, du, x, t, p: 1.0),
        conditions=[Dirichlet(0.0)],
        input_family=FAMILY,
        description="Darcy flow, permeability 12 or 3 from a thresholded Gaussian field",
    )
