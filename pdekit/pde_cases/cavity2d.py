"""The lid-driven cavity: steady incompressible flow in the unit square driven by its top wall.

The lid is the discontinuous one of Ghia, Ghia and Shin (1982): ``u = (1, 0)`` on the top, no
slip on the other walls, the walls winning at the two top corners (a finite-element mesh then
lets the lid's speed fall to zero within the corner cells, a regularisation that vanishes with
``h``).  A smoothed lid (``16 x^2 (1 - x)^2``) would remove the corner singularities but solve
another problem, a few per cent away from Ghia's tables.  The centreline velocities converge
under refinement despite the singularities, which stay local (the pressure is unbounded at
the corners).
"""

import numpy as np

from ..problem import Dirichlet, Equation, Field, Problem, Rectangle

RECIPES = {"fenics": {"degree": 2, "cells": 32, "continuation": "Re:100"}}

#: Ghia, Ghia and Shin (1982), J. Comput. Phys. 48, 387-411, Tables I and II: ``u`` along the
#: vertical centreline ``x = 0.5`` and ``v`` along the horizontal one ``y = 0.5``, on their
#: 129 x 129 grid (positions ``i / 128``; the tables print them rounded to four digits).
#: Checked against two public transcriptions of the tables.
GHIA = {
    "y": np.array([128, 125, 124, 123, 122, 109, 94, 79, 64, 58, 36, 22, 13, 9, 8, 7, 0]) / 128,
    "x": np.array([128, 124, 123, 122, 121, 116, 110, 103, 64, 30, 29, 20, 12, 10, 9, 8, 0]) / 128,
    "u": {100: [1.0, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581, -0.21090, -0.15662,
                -0.10150, -0.06434, -0.04775, -0.04192, -0.03717, 0.0],
          1000: [1.0, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.06080, -0.10648, -0.27805,
                 -0.38289, -0.29730, -0.22220, -0.20196, -0.18109, 0.0]},
    "v": {100: [0.0, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533, 0.05454, 0.17527, 0.17507,
                0.16077, 0.12317, 0.10890, 0.10091, 0.09233, 0.0],
          1000: [0.0, -0.21388, -0.27669, -0.33714, -0.39188, -0.51550, -0.42665, -0.31966, 0.02526, 0.32235, 0.33075,
                 0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.0]},
}

#: Botella and Peyret (1998), Comput. Fluids 27, 421-433 (Chebyshev collocation, N = 160), Re = 1000:
#: the extrema of ``u`` on ``x = 0.5`` and of ``v`` on ``y = 0.5`` with their positions, accurate to
#: about 1e-6 (Ghia's tables, from a second-order 129 x 129 grid, are off by up to 2e-2 there).
BOTELLA_1000 = {"u_min": (-0.3885698, 0.1717), "v_max": (0.3769447, 0.1578), "v_min": (-0.5270771, 0.9092)}


def flux(u, du, x, t, p):
    """Pressure and viscous flux ``p I - grad u / Re`` (momentum rows), the velocity (continuity)."""
    return [[u[2] - du[0][0] / p.Re, -du[0][1] / p.Re],
            [-du[1][0] / p.Re, u[2] - du[1][1] / p.Re],
            [u[0], u[1]]]


def source(u, du, x, t, p):
    """Convection in advective form, ``-(u . grad) u``, on the momentum rows; none on continuity."""
    return [-(u[0] * du[0][0] + u[1] * du[0][1]), -(u[0] * du[1][0] + u[1] * du[1][1]), 0 * x[0]]


def cavity2d(Re: float = 100.0) -> Problem:
    """Lid-driven cavity: ``(u . grad) u + grad p - laplace u / Re = 0``, ``div u = 0`` on ``[0, 1]^2``, lid speed 1.

    Velocity ``u`` (2 components) and pressure ``p`` (the continuity row's multiplier, zero mean
    in the FEniCS reference).  Compare with :data:`GHIA` (``Re`` 100 and 1000).
    """
    return Problem(
        name="cavity2d",
        geometry=Rectangle((0, 0), (1, 1)),
        fields=[Field("u", 2), Field("p")],
        params={"Re": Re},
        equation=Equation(flux=flux, source=source),
        conditions=[Dirichlet((1.0, 0.0), on="top", field="u"),
                    Dirichlet((0.0, 0.0), on=("left", "right", "bottom"), field="u")],
        description="steady lid-driven cavity (velocity u, pressure p), Ghia's discontinuous lid",
    )


def centrelines(solution, samples: int = 129) -> dict[str, np.ndarray]:
    """``u`` along ``x = 0.5`` and ``v`` along ``y = 0.5`` at ``samples`` points: keys ``y``, ``u``, ``x``, ``v``."""
    s = np.linspace(0.0, 1.0, samples)
    half = np.full_like(s, 0.5)
    return {"y": s, "u": solution(np.stack([half, s], axis=1))[:, 0],
            "x": s, "v": solution(np.stack([s, half], axis=1))[:, 1]}


def ghia_deviation(solution, Re: int) -> dict[str, float]:
    """Largest ``|u - u_Ghia|`` on the vertical centreline and ``|v - v_Ghia|`` on the horizontal
    one, at Ghia's points, in units of the lid speed."""
    half_u = np.full(len(GHIA["y"]), 0.5)
    u = solution(np.stack([half_u, GHIA["y"]], axis=1))[:, 0]
    v = solution(np.stack([GHIA["x"], np.full(len(GHIA["x"]), 0.5)], axis=1))[:, 1]
    return {"u": float(np.abs(u - GHIA["u"][Re]).max()), "v": float(np.abs(v - GHIA["v"][Re]).max())}


def centreline_extrema(solution, samples: int = 4001) -> dict[str, tuple[float, float]]:
    """Minimum of ``u`` on ``x = 0.5``, maximum and minimum of ``v`` on ``y = 0.5``: ``(value, position)``."""
    lines = centrelines(solution, samples)
    u, v, s = lines["u"], lines["v"], lines["y"]
    return {"u_min": (float(u.min()), float(s[u.argmin()])), "v_max": (float(v.max()), float(s[v.argmax()])),
            "v_min": (float(v.min()), float(s[v.argmin()]))}
