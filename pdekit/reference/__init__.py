"""Classical reference solutions generated from a Problem.

Two methods: ``fenics`` (FEniCSx finite elements, any geometry and condition; :mod:`.fenics`) and
``spectral`` (a batched pseudo-spectral solver in torch for problems periodic along every axis;
:mod:`.spectral`).  ``solve(problem, method="auto")`` takes FEniCS, except for a fully periodic problem
with a constraint row (the pressure of incompressible flow, a stream function): the spectral
solver answers those to rounding error without a mixed element.  Each method is imported on first use, so the
spectral solver works without DOLFINx.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

__all__ = ["solve", "choose_method", "cache_dir", "METHODS", "ReferenceSettings", "ReferenceSolution",
           "WeakFormContext", "SpectralSettings", "SpectralSolution", "solve_batch"]

METHODS = ("auto", "fenics", "spectral")
_LAZY = {"ReferenceSettings": "fenics", "ReferenceSolution": "fenics", "WeakFormContext": "fenics",
         "SpectralSettings": "spectral", "SpectralSolution": "spectral", "solve_batch": "spectral"}


def cache_dir() -> Path:
    """Where reference solutions are cached: ``$PDEKIT_DATA/reference`` (default ``data/reference``)."""
    return Path(os.environ.get("PDEKIT_DATA", "data")) / "reference"


def choose_method(problem, method: str = "auto") -> str:
    """The method ``solve`` uses: ``method`` itself, or for ``"auto"`` ``"spectral"`` where the
    problem is periodic along every axis and has a constraint row (time coefficient 0 beside
    nonzero ones), which it solves in Fourier space; otherwise ``"fenics"``."""
    if method not in METHODS:
        raise ValueError(f"unknown reference method {method!r}; valid methods: {', '.join(METHODS)}")
    if method != "auto":
        return method
    c1 = problem.time_coefficients if problem.is_evolution else ()
    constrained = 0.0 in c1 and any(c1) and problem.equation.weak_form is None
    periodic = set(problem.periodic_axes) == set(range(problem.dim))
    return "spectral" if constrained and periodic else "fenics"


def solve(problem, settings=None, *, method: str = "auto", **options):
    """Solve ``problem`` with the chosen classical method.

    Args:
        problem: a :class:`~pdekit.problem.Problem`.
        settings: the method's settings object (:class:`ReferenceSettings` or :class:`SpectralSettings`).
        method: ``auto``, ``fenics`` or ``spectral`` (see :func:`choose_method`).
        options: the method's settings as keywords, and ``cache``/``progress``.

    Returns:
        a :class:`~pdekit.results.Solution` (``ReferenceSolution`` or ``SpectralSolution``).
    """
    module = importlib.import_module(f".{choose_method(problem, method)}", __name__)
    return module.solve(problem, settings, **options)


def __getattr__(name):
    if name in _LAZY:  # DOLFINx (fenics) or torch (spectral): imported only when asked for
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'pdekit.reference' has no attribute {name!r}")
