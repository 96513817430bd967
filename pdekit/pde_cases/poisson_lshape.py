"""Poisson on the L-shaped domain: the classic corner singularity."""

from ..problem import Dirichlet, Equation, Polygon, Problem

L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]


def poisson_lshape() -> Problem:
    """``-laplace u = 1`` on ``[-1, 1]^2`` minus ``[0, 1]^2``, ``u = 0`` on the boundary."""
    return Problem(
        name="poisson_lshape",
        geometry=Polygon(L_SHAPE),
        equation=Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]], source=lambda u, du, x, t, p: 1.0),
        conditions=[Dirichlet(0.0)],
        description="Poisson with unit source on the L-shape (re-entrant corner singularity)",
    )
