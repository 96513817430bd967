"""The ``pdekit`` command for batch jobs.

    pdekit cases
    pdekit reference CASE [--param NAME=VALUE ...] [--option KEY=VALUE ...] [--config F.toml] --out F.nc
    pdekit solve CASE --solver NAME [same flags] --out F.nc
    pdekit compare RESULT.nc REFERENCE.nc [--figure F.png] [--json M.json]

``pdekit reference`` takes ``--option method=fenics|spectral``; by default FEniCS, or the spectral
solver where the problem is periodic along every axis and has a constraint row (taylor_green).

A TOML config holds ``[params]`` and ``[options]`` tables (and optionally ``case``); flags on
the command line override it.  Results name their data variables after the fields.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .atomic import write_json
from .pde_cases import CASES, get_case, list_cases

__all__ = ["main", "SOLVERS"]


def _reference(method):
    def run(problem, options, args):
        from .reference import solve

        options = dict(options)
        chosen = options.pop("method", "auto") if method == "auto" else method
        return solve(problem, method=chosen, progress=not args.quiet, **options)

    return run


def _neural(name):
    def run(problem, options, args):
        from .solvers import get_solver

        solver = get_solver(name, **{"progress": not args.quiet, **options})
        return solver.solve(problem, checkpoint=getattr(args, "checkpoint", None), resume=getattr(args, "resume", False))

    return run


def _solvers():
    """The references and every neural solver of :data:`pdekit.solvers.SOLVERS` (one registry)."""
    from .solvers import SOLVERS as NEURAL

    return {"fenics": _reference("fenics"), **{name: _neural(name) for name in NEURAL}, "spectral": _reference("spectral")}


SOLVERS = _solvers()


def _pairs(items, flag):
    values = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"{flag} expects NAME=VALUE, got {item!r}")
        name, value = item.split("=", 1)
        values[name.strip()] = value.strip()
    return values


def _number(name, value):
    if not isinstance(value, str):
        return value
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"parameter {name} expects a number, got {value!r}") from None


def _load_config(path):
    if path is None:
        return {}
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    unknown = set(config) - {"case", "solver", "params", "options", "output"}
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)} in {path}; valid keys: case, solver, params, options, output")
    return config


def _run_solver(args, solver_name=None):
    """Solve a case with ``solver_name`` (``None``: the reference, its method chosen by option or problem)."""
    config = _load_config(args.config)
    case = args.case or config.get("case")
    if case is None:
        raise ValueError(f"name a case (valid cases: {', '.join(CASES)})")
    params = {**config.get("params", {}), **_pairs(args.param, "--param")}
    options = {**config.get("options", {}), **_pairs(args.option, "--option")}
    output = config.get("output", {})
    if solver_name is not None and solver_name not in SOLVERS:
        raise ValueError(f"unknown solver {solver_name!r}; valid solvers: {', '.join(SOLVERS)}")
    problem = get_case(case, **{k: _number(k, v) for k, v in params.items()})
    run = _reference("auto") if solver_name is None else SOLVERS[solver_name]
    solution = run(problem, options, args)
    resolution = args.resolution or output.get("resolution")
    times = args.times or output.get("times")
    path = solution.save(args.out, resolution=resolution, times=times)
    print(f"{case}: solved with {solution.solver} in {solution.wall_time:.2f} s -> {path}")
    if problem.exact is not None:
        from .compare import compare
        from .results import FunctionSolution

        exact = FunctionSolution(problem, problem.exact_solution, "exact")
        coords = {d: v.values for d, v in solution.to_xarray(resolution=resolution, times=times).coords.items()}
        print("against the exact solution:\n" + compare(solution, exact, coords=coords).summary())
    return 0


def _compare(args):
    from .compare import compare
    from .results import load

    result = compare(load(args.result), load(args.reference))
    print(result.summary())
    if args.figure:
        figure = result.figure()
        Path(args.figure).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(args.figure, dpi=120)
        print(f"figure -> {args.figure}")
    if args.json:
        metrics = {name: float(value) for name, value in result.metrics.items() if value.ndim == 0}
        write_json(args.json, metrics)
    return 0


def _parser():
    parser = argparse.ArgumentParser(prog="pdekit", description="Neural PDE solvers and their FEniCS references.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("cases", help="list the ready-made problems")

    def solver_flags(sub):
        sub.add_argument("case", nargs="?", help=f"one of: {', '.join(CASES)}")
        sub.add_argument("--param", action="append", metavar="NAME=VALUE", help="set a problem parameter")
        sub.add_argument("--option", action="append", metavar="KEY=VALUE", help="set a solver setting")
        sub.add_argument("--config", metavar="FILE.toml", help="TOML file with [params] and [options]")
        sub.add_argument("--out", required=True, metavar="F.nc", help="result file (netCDF4/HDF5)")
        sub.add_argument("--resolution", type=int, help="grid points per spatial axis of the result")
        sub.add_argument("--times", type=int, help="number of times in the result")
        sub.add_argument("--quiet", action="store_true", help="no progress bar")

    solver_flags(commands.add_parser("reference", help="solve a case with a classical reference (FEniCS or spectral; "
                                                       "--option method=...)"))
    solve = commands.add_parser("solve", help="solve a case with a chosen solver")
    solver_flags(solve)
    solve.add_argument("--solver", required=True, help=f"one of: {', '.join(SOLVERS)}")
    solve.add_argument("--checkpoint", metavar="F.pt", help="checkpoint file of a neural solver (written atomically)")
    solve.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    comp = commands.add_parser("compare", help="errors of a result against a reference result")
    comp.add_argument("result")
    comp.add_argument("reference")
    comp.add_argument("--figure", metavar="F.png")
    comp.add_argument("--json", metavar="M.json", help="write the scalar metrics as JSON")
    return parser


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "cases":
            for name, description in list_cases().items():
                print(f"{name:<16} {description}")
            return 0
        if args.command == "reference":
            return _run_solver(args)
        if args.command == "solve":
            return _run_solver(args, args.solver)
        return _compare(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"pdekit: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
