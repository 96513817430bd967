"""pdekit: define a PDE once, solve it with neural solvers and a FEniCSx reference, compare.

The public API a script or notebook needs::

    import pdekit
    from pdekit import math as pm

    problem = pdekit.get_case("burgers1d")            # or build a pdekit.Problem yourself
    reference = pdekit.reference.solve(problem)        # FEniCS (DOLFINx), or spectral (torch) on periodic boxes
    print(pdekit.compare(solution, reference).summary())

``pdekit.reference`` (DOLFINx) and ``pdekit.solvers`` (torch) are imported on first use, so
the problem API works without either.
"""

from __future__ import annotations

import importlib

from . import math
from .compare import Comparison, compare, relative_l2
from .pde_cases import get_case, list_cases
from .problem import (
    ArrayInputs,
    Box,
    Difference,
    Dirichlet,
    Disk,
    Equation,
    Field,
    GaussianRandomField,
    GridFunction,
    Initial,
    Interval,
    Joint,
    LogNormal,
    Neumann,
    Periodic,
    Polygon,
    Problem,
    Rectangle,
    Threshold,
    TimeInterval,
    UniformParameter,
    WhittleMaternField,
)
from .results import FunctionSolution, GridSolution, Solution, load

__version__ = "0.1.0"

__all__ = [
    "math", "Problem", "Field", "Equation", "Dirichlet", "Neumann", "Periodic", "Initial",
    "Interval", "Rectangle", "Box", "Disk", "Polygon", "Difference", "TimeInterval", "GaussianRandomField",
    "WhittleMaternField", "Threshold", "LogNormal", "ArrayInputs", "UniformParameter", "Joint", "GridFunction",
    "Solution", "FunctionSolution", "GridSolution", "load", "compare", "Comparison", "relative_l2",
    "get_case", "list_cases", "reference", "solvers",
]


def __getattr__(name):
    if name in ("reference", "solvers"):  # DOLFINx / torch: imported only when asked for
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pdekit' has no attribute {name!r}")
