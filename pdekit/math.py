"""Backend-neutral mathematics for writing equations once.

A flux, source, condition or exact solution written with these functions evaluates on
``torch`` tensors (the strong-form residual of a neural solver), on UFL expressions (the weak
form FEniCS assembles) and on NumPy arrays or Python numbers (sampling, plotting, exact
solutions).  Each function dispatches on the type of its argument, so a user writes
``pm.sin(pm.pi * x[0])`` and never names a backend.
"""

from __future__ import annotations

import builtins as _builtins
import math as _math
import sys

import numpy as np

__all__ = [
    "pi", "sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "abs",
    "dot", "vector", "backend_of",
]

pi = _math.pi
_builtin_abs = _builtins.abs


def _is_torch(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def _is_ufl(value) -> bool:
    ufl = sys.modules.get("ufl")
    return ufl is not None and isinstance(value, ufl.core.expr.Expr)


def backend_of(*values) -> str:
    """Name the backend of the first non-plain argument: ``"torch"``, ``"ufl"`` or ``"numpy"``.

    Nested lists and tuples are searched too, so ``backend_of([u_x, u_y])`` works.
    """
    for value in values:
        if isinstance(value, (list, tuple)):
            found = backend_of(*value)
            if found != "numpy":
                return found
        elif _is_torch(value):
            return "torch"
        elif _is_ufl(value):
            return "ufl"
    return "numpy"


def _unary(name: str, torch_name: str | None = None, ufl_name: str | None = None):
    def function(value):
        if getattr(value, "is_jet", False):  # a derivative jet (pdekit.derivatives.jet)
            return value.apply(name)
        backend = backend_of(value)
        if backend == "torch":
            return getattr(sys.modules["torch"], torch_name or name)(value)
        if backend == "ufl":
            if name == "abs":  # UFL has no ``ufl.abs``; its expressions implement ``__abs__``
                return _builtin_abs(value)
            return getattr(sys.modules["ufl"], ufl_name or name)(value)
        return getattr(np, name)(value)

    function.__name__ = name
    function.__doc__ = f"Element-wise ``{name}`` on a torch tensor, UFL expression or array."
    return function


sin = _unary("sin")
cos = _unary("cos")
tan = _unary("tan")
exp = _unary("exp")
log = _unary("log", ufl_name="ln")
sqrt = _unary("sqrt")
tanh = _unary("tanh")
sinh = _unary("sinh")
cosh = _unary("cosh")
abs = _unary("abs")  # noqa: A001 - mirrors numpy's name on purpose


def dot(a, b):
    """Inner product of two vectors given as sequences of components or UFL vectors.

    A vector with components ``a[0], a[1], ...`` (a list, a ``(d, N)`` tensor or a UFL
    vector) is reduced over its first axis, so per-point products stay per point.
    """
    if backend_of(a, b) == "ufl" and not isinstance(a, (list, tuple)) and not isinstance(b, (list, tuple)):
        return sys.modules["ufl"].dot(a, b)
    total = 0
    for i in range(len(a)):
        total = total + a[i] * b[i]
    return total


def vector(*components):
    """A vector from its components: a UFL vector under UFL, otherwise the plain list.

    Fluxes may return a plain list too; this exists for code that needs a true UFL vector.
    """
    if backend_of(*components) == "ufl":
        return sys.modules["ufl"].as_vector(list(components))
    return list(components)
