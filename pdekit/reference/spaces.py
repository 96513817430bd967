"""The finite-element spaces of a FEniCS reference: an element degree per field, and views of each
scalar component.

A problem with one field gets one Lagrange space (scalar or vector).  With several fields the
unknown lives in a mixed space with one Lagrange element per field, so that fields may differ in
degree: a constraint field (the pressure of ``div u = 0``, see
:attr:`~pdekit.problem.Problem.constraint_fields`) gets one degree less than the others, the
Taylor-Hood pair (P2 velocity, P1 pressure for ``degree=2``), which satisfies the inf-sup
condition; equal orders do not, and are refused unless asked for.  Each scalar component is also
seen as a space of its own with the indices of its dofs in the unknown's array: Dirichlet values,
periodic identification, initial values and point evaluation work on these, whatever the layout.
"""

from __future__ import annotations

import re

import numpy as np

from ..problem import Problem
from . import compat
from .compat import fem, ufl

__all__ = ["element_degrees", "parse_elements", "Spaces"]

_ELEMENT = re.compile(r"^\s*([A-Za-z_]\w*)\s*[:=]\s*P?(\d+)\s*$")


def parse_elements(spec) -> dict[str, int]:
    """``"u:P2,p:P1"`` (or ``{"u": 2, "p": 1}``) as ``{field: Lagrange degree}``."""
    if isinstance(spec, dict):
        return {str(name): int(degree) for name, degree in spec.items()}
    out = {}
    for part in filter(None, (piece.strip() for piece in str(spec).split(","))):
        match = _ELEMENT.match(part)
        if not match:
            raise ValueError(f"elements: cannot read {part!r}; write one Lagrange degree per field, as 'u:P2,p:P1'")
        out[match.group(1)] = int(match.group(2))
    return out


def element_degrees(problem: Problem, degree: int, elements, allow_unstable: bool = False) -> dict[str, int]:
    """The Lagrange degree of each field: ``elements`` where given, else ``degree``, and one less for
    a constraint field (Taylor-Hood).  A constraint with a pair that is not Taylor-Hood raises a
    ValueError naming the pair, unless ``allow_unstable``."""
    given = parse_elements(elements)
    unknown = [name for name in given if name not in problem.field_names]
    if unknown:
        raise ValueError(f"elements names field {unknown[0]!r}; this problem's fields are: {', '.join(problem.field_names)}")
    constraints = problem.constraint_fields
    degrees = {f.name: given.get(f.name, degree - 1 if f.name in constraints else degree) for f in problem.fields}
    if any(k < 1 for k in degrees.values()):
        raise ValueError(f"element degrees must be >= 1, got {_pairs(degrees)}"
                         + (f" (a constraint field ({', '.join(constraints)}) takes degree - 1: use degree >= 2)"
                            if constraints else ""))
    if constraints and not allow_unstable:
        others = {degrees[f.name] for f in problem.fields if f.name not in constraints}
        if not all(others == {degrees[name] + 1} for name in constraints):
            low = max(1, min(degrees[name] for name in constraints))
            suggestion = {name: low if name in constraints else low + 1 for name in degrees}
            raise ValueError(
                f"the element pair {_pairs(degrees)} is not inf-sup stable for the constraint row of "
                f"{', '.join(constraints)} (its equations do not involve it, as the pressure of div u = 0): the "
                "discrete solution may oscillate or not exist. Use Taylor-Hood, the other fields one degree above "
                f"the constraint (elements='{_pairs(suggestion)}'), or pass allow_unstable=True to solve with "
                "these elements anyway")
    return degrees


def _pairs(degrees: dict) -> str:
    return ",".join(f"{name}:P{k}" for name, k in degrees.items())


class Spaces:
    """The unknown's function space and a scalar view of each component.

    Attributes:
        space: the unknown's space (Lagrange, or mixed with one element per field).
        components: per scalar component (in the Problem's order) a pair ``(space, dofs)``: the
            component as a scalar Lagrange space, and its dofs' indices in the unknown's array.
        coordinates: ``(size, 3)`` coordinates of every dof of the unknown.
    """

    def __init__(self, msh, problem: Problem, degrees: dict[str, int]):
        self.problem, self.degrees = problem, degrees
        fields = problem.fields
        self.mixed = len(fields) > 1
        if self.mixed:
            self.space = compat.mixed_space(msh, [(degrees[f.name], f.components) for f in fields])
            subspaces = []
            for k, f in enumerate(fields):
                sub = self.space.sub(k)
                subspaces += [sub] if f.components == 1 else [sub.sub(c) for c in range(f.components)]
        else:
            self.space = compat.function_space(msh, degrees[fields[0].name], fields[0].components)
            subspaces = [self.space.sub(c) for c in range(fields[0].components)] if fields[0].components > 1 else []
        size = len(fem.Function(self.space).x.array)
        if subspaces:
            self.components = [compat.collapse(sub) for sub in subspaces]
        else:
            self.components = [(self.space, np.arange(size, dtype=np.int64))]
        self.coordinates = np.zeros((size, 3))
        for space, dofs in self.components:
            self.coordinates[dofs] = space.tabulate_dof_coordinates()
        self.size = size

    def split(self, function) -> list:
        """The UFL scalar components of a Function, Argument or expression on :attr:`space`."""
        if not self.mixed:
            n = self.problem.n_components
            return [function] if n == 1 else [function[i] for i in range(n)]
        out = []
        for f, part in zip(self.problem.fields, ufl.split(function)):
            out += [part] if f.components == 1 else [part[i] for i in range(f.components)]
        return out

    def by_field(self, components: list) -> dict:
        """Scalar components grouped per field: a scalar, or a UFL vector for a vector field."""
        out = {}
        for f in self.problem.fields:
            part = components[self.problem.component_slice(f.name)]
            out[f.name] = part[0] if f.components == 1 else ufl.as_vector(part)
        return out

    def interpolate(self, value, components=None) -> np.ndarray:
        """The dof array of ``value(x) -> rows`` (component-first ``x``, ``(3, N)``; one row per component
        of ``components``, default all) interpolated component by component; other dofs are zero."""
        components = range(self.problem.n_components) if components is None else list(components)
        out = np.zeros(self.size)
        for row, c in enumerate(components):
            space, dofs = self.components[c]
            scratch = fem.Function(space)
            scratch.interpolate(lambda x, row=row: np.broadcast_to(np.asarray(value(x)[row], dtype=float), x.shape[1:]).copy())
            out[dofs] = scratch.x.array
        return out
