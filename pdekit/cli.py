"""The ``pdekit`` command for batch jobs.

    pdekit cases
    pdekit reference CASE [--param NAME=VALUE ...] [--option KEY=VALUE ...] [--config F.toml] --out F.nc
    pdekit solve CASE --solver NAME [same flags] --out F.nc
    pdekit compare RESULT.nc REFERENCE.nc [--figure F.png] [--json M.json]
    pdekit data generate CASE --n N --out D.h5 [--workers K] [--shard I/N] [--split S] [--option KEY=VALUE ...]
    pdekit data merge D.h5 | pdekit data info D.h5
    pdekit train CASE --model unet|deeponet --data D.h5 [--validation V.h5] --out M.pt [--option KEY=VALUE ...]
    pdekit train CASE --model pi_deeponet [--data D.h5] --out M.pt [--param NAME=VALUE ...]   (the case's equation)
    pdekit predict M.pt --data TEST.h5 [--json M.json]

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


def _reference(problem, options, args):
    from .reference import solve

    return solve(problem, progress=not args.quiet, **options)


def _neural(name):
    def run(problem, options, args):
        from .solvers import get_solver

        solver = get_solver(name, **{"progress": not args.quiet, **options})
        return solver.solve(problem, checkpoint=getattr(args, "checkpoint", None), resume=getattr(args, "resume", False))

    return run


def _solvers():
    """The reference and every neural solver of :data:`pdekit.solvers.SOLVERS` (one registry)."""
    from .solvers import SOLVERS as NEURAL

    return {"fenics": _reference, **{name: _neural(name) for name in NEURAL}}


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


def _run_solver(args, solver_name):
    config = _load_config(args.config)
    case = args.case or config.get("case")
    if case is None:
        raise ValueError(f"name a case (valid cases: {', '.join(CASES)})")
    params = {**config.get("params", {}), **_pairs(args.param, "--param")}
    options = {**config.get("options", {}), **_pairs(args.option, "--option")}
    output = config.get("output", {})
    if solver_name not in SOLVERS:
        raise ValueError(f"unknown solver {solver_name!r}; valid solvers: {', '.join(SOLVERS)}")
    problem = get_case(case, **{k: _number(k, v) for k, v in params.items()})
    solution = SOLVERS[solver_name](problem, options, args)
    resolution = args.resolution or output.get("resolution")
    times = args.times or output.get("times")
    path = solution.save(args.out, resolution=resolution, times=times)
    print(f"{case}: solved with {solver_name} in {solution.wall_time:.2f} s -> {path}")
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


def _data(args):
    from . import data

    if args.action == "info":
        print(data.info(args.file))
        return 0
    if args.action == "merge":
        path = data.merge(args.file, args.shards or None)
        print(f"merged -> {path}")
        return 0
    config = _load_config(args.config)
    case = args.case or config.get("case")
    if case is None:
        raise ValueError(f"name a case (valid cases: {', '.join(CASES)})")
    params = {**config.get("params", {}), **_pairs(args.param, "--param")}
    options = {**config.get("options", {}), **_pairs(args.option, "--option")}
    problem = get_case(case, **{k: _number(k, v) for k, v in params.items()})
    shard = None
    if args.shard:
        try:
            index, count = (int(part) for part in args.shard.split("/"))
        except ValueError:
            raise ValueError(f"--shard expects I/N (the I-th of N shards, from 0), got {args.shard!r}") from None
        shard = (index, count)
    path = data.generate(problem, args.n, out=args.out, grid=args.resolution, times=args.times, solver=args.solver,
                         options=options, split=args.split, seed=args.seed, workers=args.workers, shard=shard,
                         progress=not args.quiet)
    print(data.info(path))
    return 0


def _train(args):
    from .data import read_attributes
    from .operators import get_operator

    config = _load_config(args.config)
    options = {"progress": not args.quiet, **config.get("options", {}), **_pairs(args.option, "--option")}
    operator = get_operator(args.model, **options)
    case = args.case or config.get("case")
    found = read_attributes(args.data).get("problem") if args.data else None
    if case and found and found != case:
        raise ValueError(f"{args.data} holds data of {found!r}, not of {case!r}")
    problem = None
    if getattr(operator, "physics_informed", False):  # trains on the case's equation
        if not case:
            raise ValueError(f"{args.model} trains on a case's equation: name the case")
        params = {**config.get("params", {}), **_pairs(args.param, "--param")}
        problem = get_case(case, **{k: _number(k, v) for k, v in params.items()})
        operator.fit(args.data, validation=args.validation, checkpoint=args.checkpoint, resume=args.resume,
                     problem=problem)
    elif args.data is None:
        raise ValueError(f"{args.model} learns from data: give --data")
    else:
        operator.fit(args.data, validation=args.validation, checkpoint=args.checkpoint, resume=args.resume)
    path = operator.save(args.out)
    last = operator.history[-1]
    print(f"{found or case}: trained {args.model} ({operator.n_parameters} parameters) for {last['epoch']} epochs in "
          f"{operator.wall_time:.1f} s; " + ", ".join(f"{k} {v:.3e}" for k, v in last.items() if k.startswith("val_"))
          + f" -> {path}")
    return 0


def _predict(args):
    from .operators import load

    operator = load(args.model)
    metrics = operator.evaluate(args.data)
    print(", ".join(f"{name} {value:.3e}" for name, value in metrics.items()))
    if args.json:
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

    solver_flags(commands.add_parser("reference", help="solve a case with the FEniCS reference"))
    solve = commands.add_parser("solve", help="solve a case with a chosen solver")
    solver_flags(solve)
    solve.add_argument("--solver", required=True, help=f"one of: {', '.join(SOLVERS)}")
    solve.add_argument("--checkpoint", metavar="F.pt", help="checkpoint file of a neural solver (written atomically)")
    solve.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    data = commands.add_parser("data", help="operator datasets: generate, merge shards, describe")
    actions = data.add_subparsers(dest="action", required=True)
    generate = actions.add_parser("generate", help="sample a case's input family, solve, store (HDF5)")
    generate.add_argument("case", nargs="?", help=f"one of: {', '.join(CASES)}")
    generate.add_argument("--n", type=int, required=True, help="number of samples")
    generate.add_argument("--out", required=True, metavar="F.h5", help="dataset file (written atomically)")
    generate.add_argument("--workers", type=int, default=1, help="processes solving samples in parallel")
    generate.add_argument("--shard", metavar="I/N", help="generate only the I-th of N shards (then: data merge)")
    generate.add_argument("--split", default="train", help="train, validation or test (disjoint seeds)")
    generate.add_argument("--seed", type=int, help="first seed (default: the start of the split's range)")
    generate.add_argument("--solver", default="auto", help="auto, fenics or exact")
    generate.add_argument("--resolution", type=int, help="grid points per spatial axis")
    generate.add_argument("--times", type=int, help="saved times of an evolution problem")
    generate.add_argument("--param", action="append", metavar="NAME=VALUE", help="set a problem parameter")
    generate.add_argument("--option", action="append", metavar="KEY=VALUE", help="set a solver setting")
    generate.add_argument("--config", metavar="FILE.toml", help="TOML file with [params] and [options]")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    merge = actions.add_parser("merge", help="join the shards of a dataset into the file a serial run writes")
    merge.add_argument("file", metavar="F.h5", help="the dataset the shards were generated for")
    merge.add_argument("shards", nargs="*", help="shard files (default: F.shard*of*.h5 beside F)")
    actions.add_parser("info", help="describe a dataset file").add_argument("file", metavar="F.h5")
    train = commands.add_parser("train", help="train a neural operator on a dataset")
    train.add_argument("case", nargs="?", help="the case the data belongs to (checked)")
    train.add_argument("--model", required=True, help="operator: unet, deeponet, pi_deeponet")
    train.add_argument("--data", metavar="F.h5", help="training dataset (optional for pi_deeponet)")
    train.add_argument("--param", action="append", metavar="NAME=VALUE", help="a problem parameter (pi_deeponet)")
    train.add_argument("--validation", metavar="F.h5", help="validation dataset (other seeds)")
    train.add_argument("--out", required=True, metavar="M.pt", help="trained operator (written atomically)")
    train.add_argument("--option", action="append", metavar="KEY=VALUE", help="set a training or model setting")
    train.add_argument("--config", metavar="FILE.toml", help="TOML file with [options]")
    train.add_argument("--checkpoint", metavar="F.pt", help="per-epoch checkpoint (written atomically)")
    train.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    predict = commands.add_parser("predict", help="errors of a trained operator on a dataset")
    predict.add_argument("model", metavar="M.pt")
    predict.add_argument("--data", required=True, metavar="F.h5")
    predict.add_argument("--json", metavar="M.json", help="write the metrics as JSON")
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
            return _run_solver(args, "fenics")
        if args.command == "solve":
            return _run_solver(args, args.solver)
        if args.command in ("data", "train", "predict"):
            return {"data": _data, "train": _train, "predict": _predict}[args.command](args)
        return _compare(args)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"pdekit: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
