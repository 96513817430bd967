"""pdekit's PINN against DeepXDE (PyTorch backend) on burgers1d: speed and accuracy in one run.

Same problem (built once with pdekit; DeepXDE gets it through pdekit.interop.deepxde), same
network ([2] + [20]*3 + [1], tanh, Glorot normal), same point counts (2540 interior, 80
boundary, 160 initial), same Adam learning rate and number of steps.  Speed: alternating rounds
of fresh runs (benchmarks/timing.py), the median per contender, the load recorded around each
round; accuracy: one run of --steps per contender against DeepXDE's Burgers.npz.

    python benchmarks/pinn_vs_deepxde.py                   # speed + accuracy after --steps
    python benchmarks/pinn_vs_deepxde.py --recipe          # also the full Adam + L-BFGS recipe
                                                           # (burgers1d and allen_cahn1d, slow)
    python benchmarks/pinn_vs_deepxde.py --recipe-only --recipe-cases burgers1d --recipe-seeds 0,1,2
                                                           # one recipe over seeds; the rest of the file kept
    OMP_NUM_THREADS=1 python benchmarks/pinn_vs_deepxde.py --recipe-only --recipe-cases burgers1d --recipe-seeds 1
                                                           # seeds as separate processes: their runs add up
Prints a table and writes benchmarks/results/pinn_vs_deepxde.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("DDE_BACKEND", "pytorch")

from timing import alternating_rounds  # noqa: E402

from pdekit import anchors, compare, get_case  # noqa: E402
from pdekit.atomic import write_json  # noqa: E402
from pdekit.pde_cases import recipe  # noqa: E402
from pdekit.solvers.pinn import PINN  # noqa: E402

OUT = Path(__file__).parent / "results" / "pinn_vs_deepxde.json"
POINTS = dict(n_interior=2540, n_boundary=80, n_initial=160)


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"


def rel_l2(solution, anchor) -> float:
    return float(compare(solution, anchor).metrics["u_rel_l2"])


def run_deepxde(problem, anchor, steps: int, warmup: int, lr: float, seed: int):
    from pdekit.interop.deepxde import deepxde, to_deepxde

    dde = deepxde()
    dde.config.set_random_seed(seed)
    data = to_deepxde(problem, POINTS["n_interior"], POINTS["n_boundary"], POINTS["n_initial"])
    net = dde.nn.FNN([2] + [20] * 3 + [1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=lr)
    model.train(iterations=warmup, display_every=10**9, verbose=0)
    start = time.perf_counter()
    model.train(iterations=steps - warmup, display_every=10**9, verbose=0)
    seconds = time.perf_counter() - start
    x, t = np.meshgrid(anchor.x.values, anchor.t.values)
    prediction = model.predict(np.stack([x.ravel(), t.ravel()], axis=1)).reshape(x.shape)
    error = float(np.linalg.norm(prediction - anchor.u.values) / np.linalg.norm(anchor.u.values))
    return {"steps_per_s": (steps - warmup) / seconds, "rel_l2": error, "steps": steps}


def run_pdekit(problem, anchor, steps: int, warmup: int, lr: float, seed: int, device: str, compiled: bool):
    solver = PINN(adam_steps=steps, lr=lr, seed=seed, device=device, compile=compiled, log_every=warmup,
                  progress=False, **POINTS)
    solution = solver.solve(problem)
    rows = solution.history.rows
    first, last = rows[0], rows[-1]  # steps/s after the first `warmup` steps (which include compiling)
    return {"steps_per_s": (last["step"] - first["step"]) / (last["wall_time"] - first["wall_time"]),
            "rel_l2": rel_l2(solution, anchor), "steps": steps, "compiled": solution.config["compiled"],
            "derivative_path": solution.config["derivative_path"], "warmup_s": first["wall_time"]}


BURGERS_RECIPE = recipe("burgers1d", "pinn")  # what `pdekit solve burgers1d --solver pinn` uses
ALLEN_CAHN_RECIPE = recipe("allen_cahn1d", "pinn")  # hard constraints: DeepXDE's transform


RECIPES = {"burgers1d": (BURGERS_RECIPE, anchors.burgers), "allen_cahn1d": (ALLEN_CAHN_RECIPE, anchors.allen_cahn)}


def run_recipe(device: str, cases: list[str], seeds: list[int]):
    """The full recipes: Adam then L-BFGS, compiled, against the anchors, once per seed."""
    results = {}
    for name in cases:
        settings, anchor = RECIPES[name]
        problem, runs = get_case(name), []
        for seed in seeds:
            solver = PINN(**{**settings, "seed": seed, "device": device, "log_every": 500, "progress": False})
            start = time.perf_counter()
            solution = solver.solve(problem)
            runs.append({"seed": seed, "rel_l2": rel_l2(solution, anchor()), "seconds": time.perf_counter() - start,
                         "lbfgs_restarts": solution.history.rows[-1].get("lbfgs_restarts", 0),
                         "torch_threads": torch.get_num_threads()})
        constrained = settings.get("hard_constraints", "none") != "none"
        results[name + (" (hard constraints)" if constrained else "")] = recipe_row(runs, settings)
    return results


def recipe_row(runs: list[dict], settings: dict) -> dict:
    """One recipe's entry: its runs (by seed), the worst error and the longest time."""
    runs = sorted(runs, key=lambda run: run.get("seed", 0))
    return {"rel_l2": max(run["rel_l2"] for run in runs), "seconds": max(run["seconds"] for run in runs),
            "runs": runs, "recipe": settings}


def merge_recipes(kept: dict, new: dict) -> dict:
    """The recipe entries of the file with ``new`` ones; runs of an unchanged recipe accumulate by
    seed, so seeds run as separate processes (``--recipe-seeds 1`` and ``--recipe-seeds 2``) add up."""
    merged = dict(kept)
    for name, row in new.items():
        old = kept.get(name, {})
        if old.get("recipe") == row["recipe"]:
            runs = {run.get("seed", 0): run for run in old.get("runs", [])}
            runs.update({run["seed"]: run for run in row["runs"]})
            row = recipe_row(list(runs.values()), row["recipe"])
        merged[name] = row
    return merged


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="Adam steps of the accuracy run of each contender")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds")
    parser.add_argument("--round-steps", type=int, default=600, help="Adam steps per timed round (fresh models)")
    parser.add_argument("--warmup", type=int, default=200, help="steps before the clock starts (compiling included)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--recipe", action="store_true", help="also run the full Adam + L-BFGS recipes")
    parser.add_argument("--recipe-only", action="store_true", help="only the recipes (the speed results are kept)")
    parser.add_argument("--recipe-cases", default=",".join(RECIPES), help="comma-separated: " + ", ".join(RECIPES))
    parser.add_argument("--recipe-seeds", default="0", help="comma-separated seeds (rel_l2: the worst of them)")
    parser.add_argument("--skip-deepxde", action="store_true")
    args = parser.parse_args(argv)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else ("cpu" if args.device == "auto" else args.device)
    if args.recipe_only:
        recipes = run_recipe(device, args.recipe_cases.split(","), [int(s) for s in args.recipe_seeds.split(",")])
        previous = json.loads(OUT.read_text()) if OUT.exists() else {}  # read now: other seeds may have run meanwhile
        write_json(OUT, {**previous, "recipe": merge_recipes(previous.get("recipe", {}), recipes)})
        for name, row in recipes.items():
            errors = ", ".join(f"{run['rel_l2']:.3e} (seed {run['seed']})" for run in row["runs"])
            print(f"full recipe {name}: rel L2 {errors}")
        print(f"-> {OUT}")
        return
    problem, anchor = get_case("burgers1d"), anchors.burgers()
    runs = {}
    if not args.skip_deepxde:
        runs["deepxde"] = lambda steps, seed: run_deepxde(problem, anchor, steps, args.warmup, args.lr, seed)
    for name, compiled in (("pdekit_eager", False), ("pdekit_compiled", True)):
        runs[name] = lambda steps, seed, compiled=compiled: run_pdekit(problem, anchor, steps, args.warmup, args.lr,
                                                                       seed, device, compiled)
    runs["pdekit_compiled"](args.warmup + 10, args.seed)  # compile once (cached for every later model)
    rounds = alternating_rounds({name: lambda r, run=run: run(args.round_steps, args.seed + r)["steps_per_s"]
                                 for name, run in runs.items()}, args.rounds)
    contenders = {}
    for name, run in runs.items():  # the accuracy runs (and their own rate, not the one compared)
        full = run(args.steps, args.seed)
        contenders[name] = {**full, "steps_per_s": rounds[name]["median"], "rounds_steps_per_s": rounds[name]["rounds"],
                            "full_run_steps_per_s": full["steps_per_s"]}
    base = contenders.get("deepxde", {}).get("steps_per_s")
    print(f"burgers1d: {args.rounds} alternating rounds of {args.round_steps} Adam steps (median), rel L2 after "
          f"{args.steps}; device: {device_name(device)}, torch threads {torch.get_num_threads()}")
    print(f"{'contender':<18} {'steps/s':>9} {'vs deepxde':>11} {'rel L2':>10}")
    for name, row in contenders.items():
        ratio = f"{row['steps_per_s'] / base:.2f}x" if base else "-"
        print(f"{name:<18} {row['steps_per_s']:>9.1f} {ratio:>11} {row['rel_l2']:>10.3e}")
    print(f"load averages (1, 5, 15 min) around the rounds: {rounds['load']}")
    result = {"problem": "burgers1d", "device": device_name(device), "torch_threads": torch.get_num_threads(),
              "steps": args.steps, "rounds": args.rounds, "round_steps": args.round_steps, "warmup": args.warmup,
              "load": rounds["load"], "contenders": contenders}
    if base:
        result["speedup"] = {name: row["steps_per_s"] / base for name, row in contenders.items() if name != "deepxde"}
    if args.recipe:
        result["recipe"] = run_recipe(device, args.recipe_cases.split(","), [int(s) for s in args.recipe_seeds.split(",")])
        for name, row in result["recipe"].items():
            print(f"full recipe {name}: rel L2 {row['rel_l2']:.3e} (worst of {len(row['runs'])}) in {row['seconds']:.0f} s")
    else:
        previous = json.loads(OUT.read_text()) if OUT.exists() else {}
        if "recipe" in previous:
            result["recipe"] = previous["recipe"]  # kept from the last --recipe run
    write_json(OUT, result)
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
