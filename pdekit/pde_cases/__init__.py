"""Ready-made problems, each built only through the public Problem API."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from ..problem import Problem
from .advection1d import advection1d
from .allen_cahn1d import allen_cahn1d
from .antiderivative import antiderivative
from .burgers1d import burgers1d
from .cavity2d import cavity2d
from .channel2d import channel2d
from .convection1d import convection1d
from .darcy2d import darcy2d
from .darcy_periodic2d import darcy_periodic2d
from .diffusion_reaction1d import diffusion_reaction1d
from .heat2d import heat2d
from .helmholtz2d import helmholtz2d
from .klein_gordon import klein_gordon
from .ns2d_vorticity import ns2d_vorticity
from .poisson2d import poisson2d
from .poisson_lshape import poisson_lshape
from .taylor_green import taylor_green

__all__ = ["CASES", "get_case", "list_cases", "recipe", "load_problem"]

CASES = {
    f.__name__: f
    for f in (poisson2d, poisson_lshape, heat2d, burgers1d, allen_cahn1d, convection1d, helmholtz2d, klein_gordon,
              advection1d, taylor_green, cavity2d, channel2d, darcy2d, darcy_periodic2d, diffusion_reaction1d,
              antiderivative, ns2d_vorticity)
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


def load_problem(spec: str, base: str | Path | None = None, **params) -> Problem:
    """A ready-made case by name, or a user's own: ``path/to/file.py:factory`` or ``package.module:factory``.

    A factory is called with ``params`` as keyword arguments and must return a Problem; a case
    gets them through :meth:`Problem.with_params`.  Relative file paths are taken from ``base``
    (default: the working directory).  Errors say what was not found.
    """
    if ":" not in spec:
        return get_case(spec, **params)
    target, name = spec.rsplit(":", 1)
    if target.endswith(".py") or "/" in target:
        path = Path(base or ".") / target
        if not path.is_file():
            raise ValueError(f"problem file {path} not found (from {spec!r})")
        module_name = f"pdekit_user_{path.stem}_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]}"
        if module_name not in sys.modules:
            loader = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(loader)
            sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
            loader.loader.exec_module(module)
        module = sys.modules[module_name]
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as error:
            raise ValueError(f"module {target!r} not found (from {spec!r}): {error}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        found = [n for n, v in vars(module).items() if inspect.isfunction(v) and v.__module__ == module.__name__]
        raise ValueError(f"{target} has no factory {name!r}; its functions are: {', '.join(found) or '(none)'}")
    try:
        inspect.signature(factory).bind(**params)
    except TypeError:
        raise ValueError(f"{spec} does not take the parameters {sorted(params)}; its signature is "
                         f"{name}{inspect.signature(factory)}") from None
    problem = factory(**params)
    if not isinstance(problem, Problem):
        raise ValueError(f"{spec} returned a {type(problem).__name__}, not a pdekit Problem")
    return problem
