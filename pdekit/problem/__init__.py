"""The shared problem-definition API: geometry, time, fields, equation, conditions."""

from .conditions import Dirichlet, Initial, Neumann, Periodic
from .equation import Equation
from .geometry import BoundaryPoints, Box, Difference, Disk, Geometry, Interval, Polygon, Rectangle, TimeInterval
from .inputs import (
    ArrayInputs,
    GaussianRandomField,
    GridFunction,
    InputFamily,
    InputFunction,
    Joint,
    LogNormal,
    SeriesFunction,
    Threshold,
    UniformParameter,
    WhittleMaternField,
)
from .problem import Field, Parameters, Problem

__all__ = [
    "Problem", "Field", "Parameters", "Equation",
    "Dirichlet", "Neumann", "Periodic", "Initial",
    "Geometry", "Interval", "Rectangle", "Box", "Disk", "Polygon", "Difference", "TimeInterval", "BoundaryPoints",
    "InputFamily", "InputFunction", "GaussianRandomField", "WhittleMaternField", "Threshold", "LogNormal",
    "ArrayInputs", "UniformParameter", "Joint", "GridFunction", "SeriesFunction",
]
