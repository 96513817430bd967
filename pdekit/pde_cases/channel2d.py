"""Flow past a cylinder in a channel: the DFG benchmark 2D-1 (Schaefer and Turek 1996), steady at Re = 20.

Channel ``[0, 2.2] x [0, 0.41]``, cylinder of diameter ``D = 0.1`` centred at ``(0.2, 0.2)``,
parabolic inflow of mean speed ``U = 0.2`` (peak 0.3), no slip on the walls and the cylinder,
"do nothing" at the outflow (``(nu grad u - p I) n = 0``, the natural condition of the flux
below), ``nu = U D / Re``.  Drag and lift coefficients ``c = 2 F / (U^2 D)`` of the force on the
cylinder; :data:`DFG_2D1` holds the reference values (John and Matthies 2001, Nabh 1998).
"""

from ..problem import Difference, Dirichlet, Disk, Equation, Field, Problem, Rectangle

RECIPES = {"fenics": {"degree": 2, "cells": 110, "hole_refinement": 8}}
H, D, U_MEAN = 0.41, 0.1, 0.2
#: DFG 2D-1 reference values: drag and lift coefficients, pressure difference front - back.
DFG_2D1 = {"drag": 5.57953523384, "lift": 0.010618948146, "pressure_difference": 0.11752016697}


def inflow(x, t, p):
    """The parabolic profile ``4 Um y (H - y) / H^2`` with ``Um = 1.5 U``."""
    return [4 * 1.5 * U_MEAN * x[1] * (H - x[1]) / H**2, 0 * x[1]]


def flux(u, du, x, t, p):
    """Pressure and viscous flux ``p I - nu grad u`` (momentum rows), the velocity (continuity)."""
    nu = U_MEAN * D / p.Re
    return [[u[2] - nu * du[0][0], -nu * du[0][1]],
            [-nu * du[1][0], u[2] - nu * du[1][1]],
            [u[0], u[1]]]


def source(u, du, x, t, p):
    """Convection in advective form, ``-(u . grad) u``, on the momentum rows; none on continuity."""
    return [-(u[0] * du[0][0] + u[1] * du[0][1]), -(u[0] * du[1][0] + u[1] * du[1][1]), 0 * x[0]]


def channel2d(Re: float = 20.0) -> Problem:
    """Flow past a cylinder (DFG 2D-1): ``(u . grad) u + grad p - nu laplace u = 0``, ``div u = 0``, ``nu = U D / Re``.

    Velocity ``u`` and pressure ``p``; the cylinder is the side ``cylinder``.  Forces from the
    FEniCS reference: :func:`coefficients`.
    """
    return Problem(
        name="channel2d",
        geometry=Difference(Rectangle((0, 0), (2.2, H)), {"cylinder": Disk((0.2, 0.2), D / 2)}),
        fields=[Field("u", 2), Field("p")],
        params={"Re": Re},
        equation=Equation(flux=flux, source=source),
        conditions=[Dirichlet(inflow, on="left", field="u"),
                    Dirichlet((0.0, 0.0), on=("bottom", "top", "cylinder"), field="u")],
        description="flow past a cylinder, DFG benchmark 2D-1 (velocity u, pressure p)",
    )


def coefficients(solution) -> dict[str, float]:
    """Drag and lift coefficients and the pressure difference ``p(0.15, 0.2) - p(0.25, 0.2)`` of a
    FEniCS reference (the force from the residual: :meth:`ReferenceSolution.boundary_flux`)."""
    import numpy as np

    force = solution.boundary_flux("cylinder", field="u")
    pressure = solution(np.array([[0.15, 0.2], [0.25, 0.2]]))[:, 2]
    scale = 2 / (U_MEAN**2 * D)
    return {"drag": float(scale * force[0]), "lift": float(scale * force[1]),
            "pressure_difference": float(pressure[0] - pressure[1])}
