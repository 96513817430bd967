"""The shared problem-definition API: geometry, time, fields, equation, conditions."""

from .conditions import Dirichlet, Initial, Neumann, Periodic
from .equation import Equation
from .geometry import BoundaryPoints, Box, Disk, Geometry, Interval, Polygon, Rectangle, TimeInterval
from .inputs import GaussianRandomField
from .problem import Field, Parameters, Problem

__all__ = [
    "Problem", "Field", "Parameters", "Equation",
    "Dirichlet", "Neumann", "Periodic", "Initial",
    "Geometry", "Interval", "Rectangle", "Box", "Disk", "Polygon", "TimeInterval", "BoundaryPoints",
    "GaussianRandomField",
]
