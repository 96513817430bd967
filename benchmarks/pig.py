"""Physics-informed Gaussians against the PIG paper's Table 1, with a PINN on the same wall-clock budget.

Relative L2 errors of PIG (Kang et al., ICLR 2025) on helmholtz2d (exact solution),
allen_cahn1d (a FEniCS reference on a fine mesh for the paper's diffusion 1e-4; DeepXDE's
Allen_Cahn.mat for diffusion 1e-3) and klein_gordon (exact), each beside a PINN with the same
wall-clock budget, and the time per Adam iteration of both.  PIG and the PINN train at the same
time in two single-threaded processes (one core each), each stopped by the case's budget.
``--scaling`` measures time and peak memory of one loss + gradient evaluation against the
number of Gaussians.

    python benchmarks/pig.py                       # every case, the recipes below
    python benchmarks/pig.py --cases helmholtz_1_4 --scale 0.5   # half the budget
    python benchmarks/pig.py --scaling             # time and memory per step vs N
    python benchmarks/pig.py --cases klein_gordon --seed 1 --out /tmp/kg_seed1.json   # another seed

Prints a table and writes benchmarks/results/pig.json, or ``--out`` (sections not run are kept
from the previous file).  Needs two free cores; nothing else should run meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pdekit import anchors, get_case, load
from pdekit.atomic import write_json
from pdekit.pde_cases import recipe
from pdekit.results import grid_points
from pdekit.solvers import PIG, PINN

OUT = Path(__file__).parent / "results" / "pig.json"
REFERENCES = Path(__file__).resolve().parents[1] / "data" / "benchmarks"

# Relative L2 errors of PIG in the paper's Table 1 (and its goal here); the wall-clock budget of both
# contenders in seconds.  Hard constraints, where used, are in the recipes (hard_constraints).
CASES = {
    "helmholtz_1_4": dict(case="helmholtz2d", params=dict(a1=1.0, a2=4.0, k=1.0), truth="exact", paper=4.13e-5,
                          goal=1e-4, budget=420),
    "helmholtz_10_10": dict(case="helmholtz2d", params=dict(a1=10.0, a2=10.0, k=1.0), truth="exact", paper=7.09e-3,
                            goal=None, budget=300),
    "allen_cahn_1e-4": dict(case="allen_cahn1d", params=dict(diffusion=1e-4), truth="fenics", paper=1.04e-4,
                            goal=1e-3, budget=600),
    "allen_cahn_1e-3": dict(case="allen_cahn1d", params=dict(diffusion=1e-3), truth="deepxde", paper=None, goal=None,
                            budget=300),
    "klein_gordon": dict(case="klein_gordon", params={}, truth="exact", paper=2.76e-3, goal=5e-3, budget=600),
}

# Training recipes: Adam, then L-BFGS (calls of up to 20 iterations) until the recipe or the budget
# ends.  At a case's default parameters, the case's own recipe (what `pdekit solve CASE --solver pig`
# uses, pdekit/pde_cases); both Allen-Cahn diffusions share the reaction, hence the recipe.
COMMON = dict(progress=False, eval_every=10**9)
PIG_RECIPES = {
    "helmholtz_1_4": recipe("helmholtz2d", "pig"),
    "helmholtz_10_10": dict(n_gaussians=1500, sigma=0.05, n_interior=8000, n_boundary=0, weight_residual=1e-6,
                            sampling="sobol", adam_steps=200, lbfgs_steps=1000, hard_constraints="zero_dirichlet",
                            dtype="float64", compile=True),
    "allen_cahn_1e-4": recipe("allen_cahn1d", "pig"),
    "allen_cahn_1e-3": recipe("allen_cahn1d", "pig"),
    "klein_gordon": recipe("klein_gordon", "pig"),
}
PINN_NETWORK = dict(width=50, depth=4, lr=1e-3, lr_decay=0.9)


def device_name() -> str:
    return f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()}), " \
           f"torch threads {torch.get_num_threads()}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"


def truth_of(name: str, problem):
    """Evaluation points ``(M, d)`` and true values ``(M,)``."""
    spec = CASES[name]
    if spec["truth"] == "exact":
        axes = [np.linspace(lo, hi, 101 if problem.dim == 2 and not problem.is_evolution else 41)
                for lo, hi in zip(problem.geometry.lower, problem.geometry.upper)]
        coords = {name_: axis for name_, axis in zip("xyz", axes)}
        if problem.is_evolution:
            coords["t"] = np.linspace(problem.time.t0, problem.time.t1, 41)
        points = grid_points(coords)
        return points, problem.exact_solution(points)[:, 0]
    if spec["truth"] == "deepxde":
        data = anchors.allen_cahn()
    else:
        data = fenics_reference(name, problem)
    coords = {"x": data.x.values, "t": data.t.values}
    return grid_points(coords), data.u.transpose("x", "t").values.ravel()


def fenics_reference(name: str, problem):
    """The FEniCS reference on a fine mesh, solved through the CLI and kept under data/benchmarks."""
    path = REFERENCES / f"{name}.nc"
    if not path.exists():
        params = [a for key, value in CASES[name]["params"].items() for a in ("--param", f"{key}={value}")]
        command = [sys.executable, "-m", "pdekit.cli", "reference", CASES[name]["case"], *params, "--option", "degree=2",
                   "--option", "cells=1024", "--option", "dt=0.001", "--resolution", "1025", "--times", "101",
                   "--quiet", "--out", str(path)]
        subprocess.run(command, check=True)
    return load(path).dataset


def rel_l2(solution, points, truth) -> float:
    return float(np.linalg.norm(solution(points)[:, 0] - truth) / np.linalg.norm(truth))


def seconds_per_step(solution) -> float:
    """Wall time per Adam step after the first log (which includes compiling)."""
    rows = [r for r in solution.history.rows if r["phase"] == "adam"]
    first, last = rows[0], rows[-1]
    return (last["wall_time"] - first["wall_time"]) / max(1, last["step"] - first["step"])


def recipe_of(name: str, solver: str, scale: float, seed: int) -> dict:
    """The options of one contender: PIG's recipe, or the PINN with the same points, weights and
    Adam steps followed by L-BFGS; both stopped by the case's budget times ``scale``."""
    settings = {**COMMON, **PIG_RECIPES[name], "seed": seed, "time_budget": CASES[name]["budget"] * scale}
    settings["log_every"] = max(1, settings["adam_steps"] // 8)  # rows to time Adam steps by
    if solver == "pinn":
        gaussian_only = ("n_gaussians", "sigma", "sigma_time", "feature_scale", "neighbours")
        settings = {k: v for k, v in settings.items() if k not in gaussian_only}
        settings.update(PINN_NETWORK, lbfgs_steps=10**5)
    return settings


def run_contender(name: str, solver: str, scale: float, seed: int) -> dict:
    """Train one contender on one case; its row of the results."""
    torch.set_num_threads(1)
    spec = CASES[name]
    problem = get_case(spec["case"], **spec["params"])
    points, truth = truth_of(name, problem)
    settings = recipe_of(name, solver, scale, seed)
    start = time.perf_counter()
    solution = (PIG if solver == "pig" else PINN)(**settings).solve(problem)
    return {"rel_l2": rel_l2(solution, points, truth), "seconds": time.perf_counter() - start,
            "s_per_adam_step": seconds_per_step(solution), "steps": solution.config["steps"],
            "compiled": solution.config["compiled"], "recipe": settings}


def run_case(name: str, scale: float, seed: int) -> dict:
    """PIG and the PINN at the same time, one single-threaded process (one core) each."""
    spec = CASES[name]
    truth_of(name, get_case(spec["case"], **spec["params"]))  # a FEniCS reference is made once, before both
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        workers = {solver: subprocess.Popen([sys.executable, __file__, "--contender", name, solver, str(scale),
                                             str(seed), f"{tmp}/{solver}.json"],
                                            env={**os.environ, "OMP_NUM_THREADS": "1"})
                   for solver in ("pig", "pinn")}
        for solver, worker in workers.items():
            if worker.wait() != 0:
                raise RuntimeError(f"the {solver} run of {name} failed (exit code {worker.returncode})")
            rows[solver] = json.loads(Path(f"{tmp}/{solver}.json").read_text())
            print(f"  {name}: {solver.upper()} {rows[solver]['rel_l2']:.3e} in {rows[solver]['seconds']:.0f} s",
                  flush=True)
    pig = rows["pig"]
    return {"problem": spec["case"], "params": spec["params"], "truth": spec["truth"], "paper_pig": spec["paper"],
            "goal": spec["goal"], "goal_met": None if spec["goal"] is None else pig["rel_l2"] <= spec["goal"],
            "hard_constraints": PIG_RECIPES[name].get("hard_constraints", "none"), "budget_s": spec["budget"] * scale, "pig": pig,
            "pinn_same_wall_clock": rows["pinn"]}


SCALING_PROBE = """
import json, resource, sys, time, torch
from pdekit import get_case
from pdekit.solvers import PIG
n, points, neighbours, chunk = (int(a) for a in sys.argv[1:5])
torch.set_num_threads(1)
_, losses, batches = PIG(n_gaussians=n, n_interior=points, n_boundary=400, neighbours=neighbours, sigma=0.05,
                         chunk_elements=chunk).build(get_case("helmholtz2d"))
batch = batches(0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times = []
for _ in range(2):
    start = time.perf_counter()
    sum(losses(batch).values()).backward()
    times.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"s_per_step": min(times), "peak_rss_mb": peak / 1024, "rss_growth_mb": (peak - before) / 1024}))
"""


def run_scaling() -> list:
    """Eager loss + gradient on helmholtz2d (value, gradient, 3 second derivatives per point)."""
    rows = []
    configs = [(n, 10_000, 0, 2**24) for n in (500, 1000, 2000, 4000)]
    configs += [(4000, 10_000, 0, 2**40)]  # one chunk: the N x points tensors all at once
    configs += [(n, p, 64, 2**24) for n in (500, 1000, 2000, 4000) for p in (10_000, 100_000)]
    for n, points, neighbours, chunk in configs:
        result = subprocess.run([sys.executable, "-c", SCALING_PROBE, str(n), str(points), str(neighbours), str(chunk)],
                                capture_output=True, text=True, check=True)
        row = {"n_gaussians": n, "points": points, "neighbours": neighbours, "chunk_elements": chunk,
               **json.loads(result.stdout.strip().splitlines()[-1])}
        print(f"  N={n:5d} points={points:6d} neighbours={neighbours:2d} chunk_elements=2^{int(np.log2(chunk))}: "
              f"{row['s_per_step']:.3f} s/step, peak RSS {row['peak_rss_mb']:.0f} MB "
              f"(+{row['rss_growth_mb']:.0f} MB during the steps)", flush=True)
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every case's wall-clock budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scaling", action="store_true", help="only measure time and memory per step vs N")
    parser.add_argument("--out", type=Path, default=OUT, help=f"results file (default {OUT})")
    parser.add_argument("--contender", nargs=5, metavar=("CASE", "SOLVER", "SCALE", "SEED", "OUT"),
                        help=argparse.SUPPRESS)  # one run, in its own process (see run_case)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.contender:
        name, solver, scale, seed, out = args.contender
        row = run_contender(name, solver, float(scale), int(seed))
        write_json(out, row)
        return
    if args.scaling:
        save(args.out, {"scaling": run_scaling()})
        return
    for name in args.cases:
        save(args.out, {"cases": {name: {**run_case(name, args.scale, args.seed), "scale": args.scale}}})
    print(f"\n{'case':<17} {'paper PIG':>10} {'goal':>8} {'PIG':>10} {'PINN':>10} {'budget s':>9} "
          f"{'PIG s/it':>9} {'PINN s/it':>9}")
    for name, row in json.loads(args.out.read_text())["cases"].items():
        paper = f"{row['paper_pig']:.2e}" if row["paper_pig"] else "-"
        goal = f"{row['goal']:.0e}" if row["goal"] else "-"
        pig, pinn = row["pig"], row["pinn_same_wall_clock"]
        print(f"{name:<17} {paper:>10} {goal:>8} {pig['rel_l2']:>10.3e} {pinn['rel_l2']:>10.3e} "
              f"{pig['seconds']:>9.0f} {pig['s_per_adam_step']:>9.4f} {pinn['s_per_adam_step']:>9.4f}")


def save(out: Path, section: dict):
    """Merge ``section`` into the results file ``out`` as it is now (cases run separately accumulate)."""
    result = json.loads(out.read_text()) if out.exists() else {}
    result["device"] = device_name()
    for key, value in section.items():
        result[key] = {**result.get(key, {}), **value} if isinstance(value, dict) else value
    write_json(out, result)
    print(f"-> {out}", flush=True)


if __name__ == "__main__":
    main()
