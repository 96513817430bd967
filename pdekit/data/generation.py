"""Operator datasets generated from a Problem: sample its input family, solve, store on a grid.

Sample ``i`` is drawn from seed ``i`` alone (:meth:`Problem.sample_input`), so a run can stop
anywhere and continue, be split over processes (``workers``) or jobs (``shard``), and still
yield the file an uninterrupted serial run writes.  Each finished sample is first written to
its own file in a ``.<name>.parts`` folder beside the output (atomically, so a kill loses at
most the samples in flight); when every sample is done the dataset is assembled into one HDF5
file, atomically, and the folder removed.  A sample whose solve fails is recorded with its
reason and left out.  Seeds of the ``train``, ``validation`` and ``test`` splits come from
disjoint ranges.
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write, write_json
from ..batch import preemption
from ..batch.mpi import mpi_world
from ..pde_cases import recipe
from ..problem import Dirichlet, Neumann, Problem
from ..problem.fingerprint import describe, family_fingerprint, fingerprint
from ..problem.geometry import _AxisBox
from ..problem.inputs import GridFunction, InputFunction
from ..results import Solution, default_grid, grid_points, versions
from . import layout

__all__ = ["generate", "rasterized", "SPLITS", "SPLIT_SIZE", "SampleSolver", "SOLVERS", "shard_path"]

SPLIT_SIZE = 1_000_000_000
SPLITS = {"train": 0, "validation": SPLIT_SIZE, "test": 2 * SPLIT_SIZE}
RESOLUTION = {1: 100, 2: 64, 3: 32}
TIMES = 101


@dataclass
class SampleSolver:
    """How samples are solved: ``solve(problem) -> Solution`` one at a time (or, for batched
    solvers, ``solve_batch(problems) -> list``) under a ``name`` with its ``options``."""

    name: str
    options: dict
    solve: Callable[[Problem], Solution] | None = None
    solve_batch: Callable[[list], list] | None = None
    batch_size: int = 1

    def __call__(self, problems: list) -> list:
        """A Solution or the exception raised, per problem."""
        if self.solve_batch is not None:
            try:
                return list(self.solve_batch(problems))
            except Exception as error:  # noqa: BLE001 - recorded per sample, the run goes on
                return [error] * len(problems)
        results = []
        for problem in problems:
            try:
                results.append(self.solve(problem))
            except Exception as error:  # noqa: BLE001
                results.append(error)
        return results


def _fenics(problem: Problem, options: dict, coords: dict) -> SampleSolver:
    from ..reference import ReferenceSettings, solve

    settings = {**recipe(problem, "fenics"), **options}
    if problem.is_evolution:
        settings["saves"] = len(coords["t"]) - 1
    ReferenceSettings.from_options(**settings)  # bad options fail before any work
    return SampleSolver("fenics", settings, solve=lambda p: solve(p, cache=False, progress=False, **settings))


def _exact(problem: Problem, options: dict, coords: dict) -> SampleSolver:
    from ..results import FunctionSolution

    if problem.exact is None:
        raise ValueError(f"problem {problem.name!r} has no exact solution; use solver='fenics' or a callable")
    if options:
        raise ValueError(f"the exact solver takes no options, got {sorted(options)}")
    return SampleSolver("exact", {}, solve=lambda p: FunctionSolution(p, p.exact_solution, "exact"))


def _spectral(problem: Problem, options: dict, coords: dict) -> SampleSolver:
    from ..reference.spectral import SpectralSettings, check_periodic, solve_batch

    check_periodic(problem)
    settings = {**recipe(problem, "spectral"), **options, "saves": len(coords["t"]) - 1}  # evolution: checked
    parsed = SpectralSettings.from_options(**settings)  # bad options fail before any work
    return SampleSolver("spectral", settings, batch_size=parsed.batch_size(),
                        solve_batch=lambda problems: solve_batch(problems, parsed, progress=False, errors="return"))


#: named solvers: ``factory(problem, options, coords) -> SampleSolver``
SOLVERS = {"fenics": _fenics, "exact": _exact, "spectral": _spectral}


def _solver(problem, solver, options, coords) -> SampleSolver:
    if solver == "auto":
        solver = "exact" if problem.exact is not None else "fenics"
    if isinstance(solver, SampleSolver):
        return solver
    if callable(solver):
        return SampleSolver(getattr(solver, "__name__", type(solver).__name__), {"fingerprint": fingerprint(solver)},
                            solve=solver)
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; valid solvers: auto, {', '.join(SOLVERS)}, or a callable "
                         "problem -> Solution")
    return SOLVERS[solver](problem, dict(options or {}), coords)


def shard_path(out, index: int, count: int) -> Path:
    """The file shard ``index`` of ``count`` writes for the dataset ``out`` (``d.h5`` -> ``d.shard1of4.h5``)."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard{index}of{count}{out.suffix}")


def _parts_folder(out: Path) -> Path:
    return out.parent / f".{out.name}.parts"


def generate(problem: Problem, n: int, *, out, grid: int | dict | None = None, times: int | None = None,
             solver="auto", options: dict | None = None, split: str = "train", seed: int | None = None,
             rasterize: bool | None = None, refine: int | None = None, workers: int = 1,
             shard: tuple[int, int] | None = None, progress: bool | None = None) -> Path:
    """Sample ``n`` inputs of ``problem``'s input family, solve each, and store them in ``out``.

    Args:
        problem: a Problem with an ``input_family``.
        n: number of samples (seeds ``seed, ..., seed + n - 1``).
        out: the HDF5 file to write (see :mod:`pdekit.data.layout`).
        grid: points per spatial axis of the output grid, or explicit coordinates
            (``{"t": ..., "x": ..., "y": ...}``); default: the case's recipe, else 100/64/32 in 1/2/3 D.
        times: number of saved times of an evolution problem (default: the recipe's, else 101).
        solver: ``"auto"`` (``"exact"`` when the problem has an exact solution, else ``"fenics"``),
            ``"fenics"``, ``"exact"``, ``"spectral"`` (periodic boxes, a batch of samples per call), or a
            callable ``problem -> Solution``.
        options: the solver's settings (for ``fenics``: :class:`~pdekit.reference.ReferenceSettings`
            fields); the case's recipe fills what is not given.
        split: ``train``, ``validation`` or ``test``: the seed range (disjoint between splits).
        seed: the first seed (default: the start of the split's range).
        rasterize: replace each input function by its values on the grid before solving (so the
            stored input determines the output; the recipe says for which cases).
        refine: FEniCS cells per grid cell along each axis (a mesh aligned with the grid).
        workers: processes that solve samples in parallel (forked; one FEniCS solve each).  Under
            ``mpirun -n N`` the N ranks share the samples too (each solving on ``COMM_SELF``).
        shard: ``(i, k)``: generate only the ``i``-th of ``k`` contiguous blocks of the seeds,
            into :func:`shard_path`; join the shards with :func:`pdekit.data.merge`.
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        the path written (the shard's file when ``shard`` is given).  An existing file written
        with the same settings is left as it is; one written with other settings is refused.
    """
    plan = _plan(problem, n, out, grid, times, solver, options, split, seed, rasterize, refine, shard)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if plan.out.exists():
        return _existing(plan)
    world = mpi_world() if shard is None else None  # under mpirun: the ranks share the samples
    rank, size, comm = world or (0, 1, None)
    parts = _parts_folder(plan.out)
    if rank == 0:
        _claim(parts, plan.generation)
    if comm is not None:
        comm.Barrier()
    done = {int(p.name.split(".")[0]) for p in parts.iterdir() if p.suffix in (".npz", ".json") and p.name[0].isdigit()}
    todo = [s for s in plan.seeds if s not in done][rank::size]
    _run(plan, todo, parts, workers, progress if rank == 0 else False)
    if comm is not None:
        comm.Barrier()
    if rank == 0:
        _assemble(plan, parts)
    if comm is not None:
        comm.Barrier()
    return plan.out


@dataclass
class _Plan:
    problem: Problem
    out: Path
    coords: dict
    solver: SampleSolver
    seeds: list
    rasterize: bool
    generation: dict


def _plan(problem, n, out, grid, times, solver, options, split, seed, rasterize, refine, shard) -> _Plan:
    if not isinstance(problem, Problem):
        raise ValueError(f"generate needs a pdekit Problem, got {type(problem).__name__}")
    if problem.input_family is None:
        raise ValueError(f"problem {problem.name!r} has no input_family: give it one (GaussianRandomField, "
                         "WhittleMaternField, Threshold, ...) to generate a dataset")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive number of samples, got {n!r}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    data = recipe(problem, "data")
    coords = _coords(problem, grid if grid is not None else data.get("resolution"),
                     times if times is not None else data.get("times"))
    rasterize = data.get("rasterize", False) if rasterize is None else bool(rasterize)
    refine = data.get("refine") if refine is None else refine
    options = dict(options or {})
    if refine is not None:
        if not isinstance(problem.geometry, _AxisBox):
            raise ValueError(f"refine aligns the mesh with the grid of a box, not a {type(problem.geometry).__name__}")
        span = problem.geometry.upper - problem.geometry.lower
        axis = int(np.argmax(span))  # cells are counted along the longest axis
        step = coords[("x", "y", "z")[axis]][1] - coords[("x", "y", "z")[axis]][0]
        options.setdefault("cells", int(refine) * int(round(span[axis] / step)))
    sample_solver = _solver(problem, solver, options, coords)
    first = SPLITS[split] if seed is None else int(seed)
    base = SPLITS[split]
    if not base <= first or first + n > base + SPLIT_SIZE:
        raise ValueError(f"seeds {first} to {first + n - 1} leave the {split} split's range [{base}, {base + SPLIT_SIZE}); "
                         "splits never share seeds")
    seeds = list(range(first, first + int(n)))
    out = Path(out)
    if shard is not None:
        index, count = shard
        if not (isinstance(count, int) and count >= 1 and 0 <= index < count):
            raise ValueError(f"shard must be (i, k) with 0 <= i < k, got {shard!r}")
        seeds = [int(s) for s in np.array_split(np.asarray(seeds), count)[index]]
        out = shard_path(out, index, count)
    generation = {
        "problem": problem.name, "problem_fingerprint": family_fingerprint(problem),
        "family": describe(problem.input_family), "solver": sample_solver.name,
        "options": json.loads(json.dumps(sample_solver.options, default=repr)),
        "coords": {name: np.asarray(values).tolist() for name, values in coords.items()},
        "rasterize": rasterize, "split": split, "seeds": [first, int(n)],
        "shard": list(shard) if shard is not None else None, "structure": structure(problem),
    }
    return _Plan(problem, out, coords, sample_solver, seeds, rasterize, generation)


def structure(problem: Problem) -> dict:
    """What a model trained on the data needs to know of the problem beyond the arrays: its box,
    the kind of condition on each side (for padding), its fields and time interval."""
    kinds = {side: "free" for side in problem.geometry.sides}
    for axis in problem.periodic_axes:
        for side in problem.geometry.sides[2 * axis: 2 * axis + 2]:
            kinds[side] = "periodic"
    for condition in problem.conditions_of(Dirichlet) + problem.conditions_of(Neumann):
        for side in _sides(problem.geometry, condition.on):
            if kinds[side] == "free":
                kinds[side] = type(condition).__name__.lower()
    return {"dim": problem.dim, "lower": problem.geometry.lower.tolist(), "upper": problem.geometry.upper.tolist(),
            "sides": kinds, "periodic_axes": list(problem.periodic_axes),
            "fields": {f.name: f.components for f in problem.fields},
            "time": [problem.time.t0, problem.time.t1] if problem.is_evolution else None}


def _sides(geometry, on) -> tuple[str, ...]:
    """The sides a condition's ``on`` covers (a predicate covers the sides it holds on everywhere)."""
    if on is None:
        return geometry.sides
    if isinstance(on, (str, tuple)):
        return (on,) if isinstance(on, str) else on
    points = geometry.sample_boundary(256, seed=0)
    return tuple(side for side in geometry.sides if np.all(on(points.points[points.sides == side].T)))


def _coords(problem, grid, times) -> dict:
    if isinstance(grid, dict):
        expected = (["t"] if problem.is_evolution else []) + list(("x", "y", "z")[: problem.dim])
        if sorted(grid) != sorted(expected):
            raise ValueError(f"grid coordinates must be {expected}, got {sorted(grid)}")
        coords = {name: np.asarray(grid[name], dtype=float) for name in expected}
        if problem.is_evolution:
            t = coords["t"]
            uniform = np.linspace(problem.time.t0, problem.time.t1, len(t))
            if len(t) < 2 or not np.allclose(t, uniform, rtol=0, atol=1e-12 * problem.time.length):
                raise ValueError("the saved times must be equally spaced from t0 to t1 (the reference saves there); "
                                 "give times=N instead")
        return coords
    resolution = RESOLUTION[problem.dim] if grid is None else int(grid)
    if resolution < 2:
        raise ValueError(f"grid needs at least 2 points per axis, got {resolution}")
    coords = default_grid(problem, resolution, (times or TIMES) if problem.is_evolution else None)
    for axis in problem.periodic_axes:  # one period: the upper end is the lower end again
        name = ("x", "y", "z")[axis]
        lower, upper = problem.geometry.lower[axis], problem.geometry.upper[axis]
        coords[name] = lower + (upper - lower) * np.arange(resolution) / resolution
    return coords


def _existing(plan: _Plan) -> Path:
    found = layout.generation_of(plan.out)
    if found is None:
        raise ValueError(f"{plan.out} exists and is not a pdekit dataset; remove it or choose another --out")
    if found != plan.generation:
        raise ValueError(f"{plan.out} was generated with other settings ({_difference(found, plan.generation)}); "
                         "remove it or choose another --out")
    return plan.out


def _difference(old: dict, new: dict) -> str:
    keys = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    key = keys[0]
    return f"{key}: {_short(old.get(key))} there, {_short(new.get(key))} now"


def _short(value) -> str:
    if isinstance(value, dict) and value and all(isinstance(v, list) and v and isinstance(v[0], float)
                                                 for v in value.values()):  # coordinates: their sizes and ranges
        return "{" + ", ".join(f"{k}: {len(v)} points in [{v[0]:.4g}, {v[-1]:.4g}]" for k, v in value.items()) + "}"
    text = json.dumps(value, default=repr)
    return text if len(text) < 120 else text[:117] + "..."


def _claim(parts: Path, generation: dict):
    """Create the parts folder for these settings, or check that an interrupted run used them."""
    record = parts / "generation.json"
    if record.exists():
        found = json.loads(record.read_text())
        if found != generation:
            raise ValueError(f"an interrupted generation with other settings is in {parts} "
                             f"({_difference(found, generation)}); rerun with its settings, or remove the folder")
        return
    parts.mkdir(parents=True, exist_ok=True)
    write_json(record, generation)


# -- solving -----------------------------------------------------------------------------------
_ACTIVE: dict = {}  # what forked workers inherit: the plan and the parts folder


def _run(plan: _Plan, todo: list, parts: Path, workers: int, progress):
    batches = [todo[i: i + plan.solver.batch_size] for i in range(0, len(todo), plan.solver.batch_size)]
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(plan.seeds), initial=len(plan.seeds) - len(todo), desc=f"{plan.problem.name} data",
               unit="sample", disable=not show, mininterval=1.0)
    _ACTIVE.update(plan=plan, parts=parts)
    try:
        if workers == 1 or len(batches) <= 1:
            for batch in batches:
                _solve_batch(batch)
                bar.update(len(batch))
                preemption.check(f"after sample {batch[-1]} (the finished samples are kept)")
        else:  # leaving the block on a preemption terminates the workers; their finished samples are kept
            with multiprocessing.get_context("fork").Pool(min(workers, len(batches)), initializer=_worker) as pool:
                for count in pool.imap_unordered(_solve_batch, batches):
                    bar.update(count)
                    preemption.check("with samples in flight (the finished ones are kept)")
    finally:
        _ACTIVE.clear()
        bar.close()


def _worker():
    """Workers share the cores (one thread each for the numerical libraries) and end on a signal
    (the parent notes preemption signals and stops them)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    for name in preemption.SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)


def _solve_batch(seeds: list) -> int:
    plan, parts = _ACTIVE["plan"], _ACTIVE["parts"]
    samples = [plan.problem.sample_input(seed) for seed in seeds]
    spatial = {name: values for name, values in plan.coords.items() if name != "t"}
    if plan.rasterize:
        samples = [rasterized(sample, spatial) for sample in samples]
    started = time.perf_counter()
    solutions = plan.solver(samples)
    elapsed = (time.perf_counter() - started) / len(seeds)
    for seed, sample, solution in zip(seeds, samples, solutions):
        try:
            if isinstance(solution, BaseException):
                raise solution
            record = _record(plan, sample, solution, spatial)
        except Exception as error:  # noqa: BLE001 - a failed sample is recorded, never stored as data
            write_json(parts / f"{seed}.failed.json", {"seed": seed, "reason": f"{type(error).__name__}: {error}"})
            continue
        record["diagnostics"] = {"solve_seconds": elapsed}
        _save_record(parts / f"{seed}.npz", record)
    return len(seeds)


def rasterized(problem: Problem, spatial: dict) -> Problem:
    """The sample with each input function replaced by its values on the grid (piecewise constant
    where it jumps, multilinear elsewhere): the stored input is then exactly the solved one."""
    values = {}
    for name in problem.input_family.params:
        value = problem.params[name]
        if isinstance(value, InputFunction):
            lower, upper = tuple(map(float, problem.geometry.lower)), tuple(map(float, problem.geometry.upper))
            periodic = tuple(axis in problem.periodic_axes for axis in range(problem.dim))
            values[name] = GridFunction(lower, upper, value.on_grid(spatial),
                                        "nearest" if value.discontinuous else "linear", periodic)
    return problem.with_params(**values)


def _record(plan: _Plan, sample: Problem, solution, spatial: dict) -> dict:
    shape = tuple(len(values) for values in plan.coords.values())
    values = np.asarray(solution(grid_points(plan.coords)), dtype=float).reshape(*shape, -1)
    if not np.all(np.isfinite(values)):
        raise FloatingPointError(f"the {plan.solver.name} solution has non-finite values on the grid")
    outputs = {f.name: values[..., sample.component_slice(f.name)] for f in sample.fields}
    inputs, parameters = {}, {}
    for name in sample.input_family.params:
        value = sample.params[name]
        if isinstance(value, InputFunction):
            inputs[name] = value.on_grid(spatial)[..., None]
        else:
            parameters[name] = float(value)
    return {"outputs": outputs, "inputs": inputs, "parameters": parameters}


def _save_record(path: Path, record: dict):
    """One sample's arrays (grids in float32, as the dataset stores them), written atomically."""
    arrays = {f"{group}/{name}": np.asarray(value, dtype=np.float32 if np.ndim(value) else np.float64)
              for group in layout.ROLES for name, value in record[group].items()}

    def write(temporary):
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)

    atomic_write(path, write)


def _load_record(path: Path, seed: int) -> dict:
    record = {"seed": seed, **{group: {} for group in layout.ROLES}}
    with np.load(path) as arrays:
        for key in arrays.files:
            group, name = key.split("/", 1)
            record[group][name] = arrays[key]
    return record


# -- assembling --------------------------------------------------------------------------------
def _assemble(plan: _Plan, parts: Path) -> Path:
    solved = [seed for seed in plan.seeds if (parts / f"{seed}.npz").exists()]
    failed = [json.loads((parts / f"{seed}.failed.json").read_text()) for seed in sorted(set(plan.seeds) - set(solved))]
    records = (_load_record(parts / f"{seed}.npz", seed) for seed in solved)
    attributes = {
        "problem": plan.problem.name, "description": plan.problem.description,
        "problem_fingerprint": plan.generation["problem_fingerprint"], "family": plan.generation["family"],
        "solver": plan.solver.name, "solver_options": plan.generation["options"],
        "generation": plan.generation, "failed": failed, "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    layout.write(plan.out, len(solved), records, plan.coords, attributes)
    shutil.rmtree(parts)
    return plan.out
