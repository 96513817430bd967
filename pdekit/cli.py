"""The ``pdekit`` command for batch jobs.

    pdekit cases
    pdekit reference CASE [--param NAME=VALUE ...] [--option KEY=VALUE ...] [--config F.toml] --out F.nc
    pdekit solve CASE --solver NAME [same flags] [--no-recipe] --out F.nc
    pdekit compare RESULT.nc REFERENCE.nc [--figure F.png] [--json M.json]
    pdekit data generate CASE --n N --out D.h5 [--workers K] [--shard I/N] [--split S] [--option KEY=VALUE ...]
    pdekit data merge D.h5 | pdekit data info D.h5
    pdekit train CASE --model unet|deeponet --data D.h5 [--validation V.h5] --out M.pt [--option KEY=VALUE ...]
    pdekit train CASE --model pi_deeponet [--data D.h5] --out M.pt [--param NAME=VALUE ...]   (the case's equation)
    pdekit predict M.pt --data TEST.h5 [--json M.json]
    pdekit run RUN.toml [--folder F]                       one run in its own folder (resumable)
    pdekit sweep SWEEP.toml [--executor local|slurm|mpi] [--workers K] [--dry-run]
    pdekit collect SWEEP_DIR [--csv F.csv] [--out F.nc] [--metric M --axis A --figure F.png]

Everywhere a CASE is accepted, ``path/to/file.py:factory`` and ``package.module:factory`` are
too (``--param`` values go to the factory's keyword arguments).  A preemption signal (SIGUSR2,
SIGTERM, SIGUSR1) stops a long command at a safe point with its checkpoint written and exit
status 75; the same command resumes it.

``pdekit reference`` takes ``--option method=fenics|spectral``; by default FEniCS, or the spectral
solver where the problem is periodic along every axis and has a constraint row (taylor_green).

``pdekit solve`` (and ``pdekit run``) start from the case's recommended recipe for the solver,
the settings its benchmark uses (README: Recipes); options override it, and ``--no-recipe``
starts from the solver's generic defaults instead.

A TOML config holds ``[params]`` and ``[options]`` tables (and optionally ``case``); flags on
the command line override it.  Results name their data variables after the fields.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .atomic import atomic_write, write_json
from .batch.mpi import mpi_world
from .pde_cases import CASES, list_cases, load_problem, recipe

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

        recipe_of = None if getattr(args, "no_recipe", False) else problem
        if recipe_of is not None and recipe(problem, name) and not args.quiet:
            print(f"{problem.name}: {name} with the case's recipe (README: Recipes; --no-recipe: generic defaults)")
        solver = get_solver(name, recipe_of, **{"progress": not args.quiet, **options})
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
    problem = load_problem(case, **{k: _number(k, v) for k, v in params.items()})
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
        figure, kind = result.figure(), Path(args.figure).suffix[1:] or "png"
        atomic_write(args.figure, lambda temporary: figure.savefig(temporary, dpi=120, format=kind))
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
    problem = load_problem(case, **{k: _number(k, v) for k, v in params.items()})
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
    world = mpi_world()
    if world is None or world[0] == 0:  # under mpirun: rank 0 speaks for all
        print(data.info(path))
    return 0


def _train(args):
    from .batch.run import _distribution
    from .data import read_attributes
    from .operators import get_operator

    config = _load_config(args.config)
    options = {"progress": not args.quiet, **config.get("options", {}), **_pairs(args.option, "--option")}
    operator = get_operator(args.model, **options)
    case = args.case or config.get("case")
    found = read_attributes(args.data).get("problem") if args.data else None
    if case and found and found != case:
        raise ValueError(f"{args.data} holds data of {found!r}, not of {case!r}")
    physics = {}
    if getattr(operator, "physics_informed", False):  # trains on the case's equation
        if not case:
            raise ValueError(f"{args.model} trains on a case's equation: name the case")
        params = {**config.get("params", {}), **_pairs(args.param, "--param")}
        physics["problem"] = load_problem(case, **{k: _number(k, v) for k, v in params.items()})
    elif args.data is None:
        raise ValueError(f"{args.model} learns from data: give --data")
    distribution = _distribution()  # several processes under torchrun
    operator.fit(args.data, validation=args.validation, checkpoint=args.checkpoint, resume=args.resume,
                 distribution=distribution, **physics)
    if distribution is not None:
        distribution.close()
        if not distribution.is_main:
            return 0
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


def _run(args):
    import json

    from .batch.run import execute, read_config

    path = Path(args.config)
    config = json.loads(path.read_text()) if path.suffix == ".json" else read_config(path)
    folder = Path(args.folder) if args.folder else path.parent if path.name == "config.json" else \
        Path(config.get("output", {}).get("dir") or path.parent / path.stem)
    metrics = execute(config, folder, base=args.base or path.parent, progress=not args.quiet)
    print(f"{folder}: done; " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in metrics.items()))
    return 0


def _sweep(args):
    from .batch import sweep as sweeps

    sweep = sweeps.expand(args.config, args.folder)
    table = sweep.table
    executor = args.executor or table.get("executor", "local")
    if executor not in sweeps.EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}; valid executors: {', '.join(sweeps.EXECUTORS)}")
    slurm = {**table.get("slurm", {}), **{k: v for k, v in (("partition", args.partition), ("time", args.time),
                                                            ("gpus", args.gpus), ("cpus", args.cpus),
                                                            ("array_parallelism", args.array_parallelism),
                                                            ("cluster", args.cluster)) if v is not None}}
    if args.dry_run:
        if executor != "slurm":
            raise ValueError("--dry-run shows the sbatch script of the slurm executor; add --executor slurm")
        print(sweeps.sbatch_script(sweep, slurm))
        return 0
    print(f"{sweep.folder}: {len(sweep.runs)} runs ({executor})")
    if executor == "local":
        counts = sweeps.run_local(sweep, int(args.workers or table.get("workers", 1)), progress=not args.quiet)
    elif executor == "mpi":
        counts = sweeps.run_mpi(sweep)
    else:
        jobs = sweeps.run_slurm(sweep, slurm, wait=args.wait)
        print(f"submitted {len(jobs)} runs" + (f" as job array {jobs[0].job_id.split('_')[0]}" if jobs else ""))
        counts = sweeps.summary(sweep) if args.wait else {}
    if counts:
        print(", ".join(f"{status}: {n}" for status, n in sorted(counts.items())))
    return 0


def _collect(args):
    from .batch.collect import collect, figure, to_csv
    from .results import save_dataset

    table = collect(args.folder)
    csv = to_csv(args.folder, args.csv or Path(args.folder) / "metrics.csv")
    print(csv.read_text(), end="")
    if args.out:
        save_dataset(table, args.out)
    if args.figure:
        if not (args.metric and args.axis):
            raise ValueError("--figure needs --metric and --axis")
        drawn, kind = figure(table, args.metric, args.axis), Path(args.figure).suffix[1:] or "png"
        atomic_write(args.figure, lambda temporary: drawn.savefig(temporary, dpi=120, format=kind))
        print(f"figure -> {args.figure}")
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
    solve.add_argument("--no-recipe", action="store_true",
                       help="the solver's generic defaults under the options, not the case's recipe (README: Recipes)")
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
    train.add_argument("--model", required=True,
                       help="operator: unet, mgno, fno (needs pdekit[peers]), deeponet, pi_deeponet")
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
    run = commands.add_parser("run", help="one run from a config file, in its own folder (resumable)")
    run.add_argument("config", metavar="RUN.toml", help="the run's config (or a sweep run's config.json)")
    run.add_argument("--folder", help="the run folder (default: beside the config, named after it)")
    run.add_argument("--base", help="folder relative paths in the config start from (default: the config's)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep = commands.add_parser("sweep", help="expand a [sweep] table into runs and run them")
    sweep.add_argument("config", metavar="SWEEP.toml")
    sweep.add_argument("--executor", help="local, slurm or mpi (default: [sweep] executor, else local)")
    sweep.add_argument("--workers", type=int, help="local: runs at a time")
    sweep.add_argument("--folder", help="the sweep folder (default: [sweep] dir, else beside the config)")
    sweep.add_argument("--dry-run", action="store_true", help="slurm: print the sbatch script, submit nothing")
    sweep.add_argument("--wait", action="store_true", help="slurm: wait for the jobs")
    for flag, kind in (("--partition", str), ("--time", int), ("--gpus", int), ("--cpus", int),
                       ("--array-parallelism", int), ("--cluster", str)):
        sweep.add_argument(flag, type=kind, help="slurm setting (also in [sweep.slurm]); --cluster local: "
                           "submitit's local executor" if flag == "--cluster" else "slurm setting (also in [sweep.slurm])")
    sweep.add_argument("--quiet", action="store_true", help="no progress lines")
    collect = commands.add_parser("collect", help="a sweep's metrics as one table (CSV, netCDF, figure)")
    collect.add_argument("folder", metavar="SWEEP_DIR")
    collect.add_argument("--csv", metavar="F.csv", help="default: SWEEP_DIR/metrics.csv")
    collect.add_argument("--out", metavar="F.nc", help="the table as netCDF (xarray)")
    collect.add_argument("--metric", help="the metric of the figure")
    collect.add_argument("--axis", help="the sweep axis of the figure")
    collect.add_argument("--figure", metavar="F.png")
    comp = commands.add_parser("compare", help="errors of a result against a reference result")
    comp.add_argument("result")
    comp.add_argument("reference")
    comp.add_argument("--figure", metavar="F.png")
    comp.add_argument("--json", metavar="M.json", help="write the scalar metrics as JSON")
    return parser


def main(argv=None) -> int:
    from .batch import preemption

    args = _parser().parse_args(argv)
    try:
        with preemption.watch():
            try:
                return _dispatch(args)
            except preemption.Preempted as stop:
                print(f"pdekit: {stop}", file=sys.stderr)
                return preemption.requeue(stop)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"pdekit: error: {error}", file=sys.stderr)
        return 2


def _dispatch(args) -> int:
    if args.command == "cases":
        for name, description in list_cases().items():
            print(f"{name:<16} {description}")
        return 0
    if args.command == "reference":
        return _run_solver(args)
    if args.command == "solve":
        return _run_solver(args, args.solver)
    commands = {"data": _data, "train": _train, "predict": _predict, "run": _run, "sweep": _sweep,
                "collect": _collect, "compare": _compare}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
