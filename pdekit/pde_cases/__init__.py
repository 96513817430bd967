"""Ready-made problems, each built only through the public Problem API."""

from __future__ import annotations

import inspect
import sys

from ..problem import Problem
from .advection1d import advection1d
from .allen_cahn1d import allen_cahn1d
from .antiderivative import antiderivative
from .burgers1d import burgers1d
from .convection1d import convection1d
from .darcy2d import darcy2d
from .diffusion_reaction1d import diffusion_reaction1d
from .heat2d import heat2d
from .helmholtz2d import helmholtz2d
from .klein_gordon import klein_gordon
from .ns2d_vorticity import ns2d_vorticity
from .poisson2d import poisson2d
from .poisson_lshape import poisson_lshape
from .taylor_green import taylor_green

__all__ = ["CASES", "get_case", "list_cases", "recipe"]

CASES = {
    f.__name__: f
    for f in (poisson2d, poisson_lshape, heat2d, burgers1d, allen_cahn1d, convection1d, helmholtz2d, klein_gordon,
              advection1d, taylor_green, darcy2d, diffusion_reaction1d, antiderivative, ns2d_vorticity)
}


def list_cases() -> dict[str, str]:
    """Case names with their one-line descriptions."""
    return {name: (inspect.getdoc(factory) or "").splitlines()[0] for name, factory in CASES.items()}


def get_case(name: str, **params) -> Problem:
    """The case ``name`` with parameters overridden by ``params``."""
    if name not in CASES:
        raise ValueError(f"unknown case {name!r}; valid cases: {', '.join(CASES)}")
    problem = CASES[name]()
    return problem.with_params(**params) if params else problem


def recipe(problem: Problem | str, key: str) -> dict:
    """A case's recommended settings for ``key`` (``"fenics"``, ``"data"``, a solver's name), or ``{}``.

    Cases keep them in a module-level ``RECIPES`` dict; a problem that is not a ready-made case
    (by name) has none, and the generic defaults apply.
    """
    name = problem if isinstance(problem, str) else problem.name
    if name not in CASES:
        return {}
    return dict(getattr(sys.modules[CASES[name].__module__], "RECIPES", {}).get(key, {}))
