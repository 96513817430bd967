"""LPINN against the PINN on transport-dominated problems, at equal wall-clock time.

Cases: convection1d with beta in {10, 30, 50} (against the exact solution), convection-diffusion
(beta = 30, nu = 0.01; against the FEniCS reference and the exact solution) and burgers1d up to
t = 0.25, before the shock forms (t = 1/pi for the inviscid equation; against the FEniCS
reference).  Both solvers get the same collocation points (Sobol, ``--points``) and about the
same number of parameters (LPINN: two branches of 32 x 4 tanh; PINN: one 46 x 4 tanh net); the
PINN trains for the wall-clock time the LPINN took (``time_budget``).  On convection at
beta = 50 the LPINN is also run as in the paper, learning the whole characteristic without the
initial speed built in (``initial_speed=False``).

All networks train first (compiled); the FEniCS references are solved afterwards.

    python benchmarks/lpinn_vs_pinn.py [--steps 1000] [--lbfgs 20] [--points 2048]

Prints a table and writes benchmarks/results/lpinn_vs_pinn.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
from pathlib import Path

import torch

from pdekit import FunctionSolution, compare, get_case
from pdekit.atomic import write_json
from pdekit.pde_cases import recipe
from pdekit.problem import TimeInterval
from pdekit.solvers import LPINN, PINN

OUT = Path(__file__).parent / "results" / "lpinn_vs_pinn.json"
BURGERS_END = 0.25
# saves = 100 puts a snapshot at every time of the comparison grid (101 times): no error from
# interpolating the reference in time, which is O(1e-2) for a wave moving at speed 30
REFERENCE = dict(degree=2, cells=1024, dt=2.5e-4, saves=100)
RECIPE = recipe("convection1d", "lpinn")  # what `pdekit solve convection1d --solver lpinn` uses


def cases():
    """(name, problem, check against: 'exact' and/or 'fenics')."""
    burgers = dataclasses.replace(get_case("burgers1d"), time=TimeInterval(0.0, BURGERS_END))
    return [
        ("convection beta=10", get_case("convection1d", beta=10.0), ("exact",)),
        ("convection beta=30", get_case("convection1d", beta=30.0), ("exact",)),
        ("convection beta=50", get_case("convection1d", beta=50.0), ("exact",)),
        ("convection-diffusion beta=30 nu=0.01", get_case("convection1d", beta=30.0, nu=0.01), ("exact", "fenics")),
        (f"burgers1d t<={BURGERS_END}", burgers, ("fenics",)),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=RECIPE["adam_steps"],
                        help="LPINN Adam steps (the PINN gets the same time)")
    parser.add_argument("--lbfgs", type=int, default=RECIPE["lbfgs_steps"], help="LPINN L-BFGS calls after Adam")
    parser.add_argument("--points", type=int, default=RECIPE["n_interior"], help="collocation points of both solvers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    common = dict(n_interior=args.points, sampling=RECIPE["sampling"], seed=args.seed, compile=RECIPE["compile"],
                  progress=False, log_every=500, eval_every=10**9)
    runs = []
    for name, problem, checks in cases():
        contenders = [("lpinn", LPINN(adam_steps=args.steps, lbfgs_steps=args.lbfgs, width=RECIPE["width"],
                                           depth=RECIPE["depth"], **common))]
        if name == "convection beta=50":
            contenders.append(("lpinn (paper: no initial speed)",
                               LPINN(adam_steps=args.steps, lbfgs_steps=args.lbfgs, width=RECIPE["width"],
                                     depth=RECIPE["depth"], initial_speed=False, **common)))
        for label, solver in contenders:
            solution = solver.solve(problem)
            runs.append({"case": name, "solver": label, "problem": problem, "checks": checks, "solution": solution})
            print(f"{name}: {label} {solution.wall_time:.1f} s", flush=True)
        budget = runs[-len(contenders)]["solution"].wall_time
        pinn = PINN(adam_steps=10**7, time_budget=budget, width=46, depth=4, n_boundary=256, n_initial=256, **common)
        runs.append({"case": name, "solver": "pinn", "problem": problem, "checks": checks,
                     "solution": pinn.solve(problem)})
        print(f"{name}: pinn {runs[-1]['solution'].wall_time:.1f} s", flush=True)

    from pdekit.reference import solve

    references = {}
    rows = []
    for run in runs:
        problem, solution = run["problem"], run["solution"]
        row = {"case": run["case"], "solver": run["solver"], "seconds": solution.wall_time,
               "steps": solution.config["steps"], "parameters": solution.config["parameters"],
               "compiled": solution.config["compiled"]}
        if "exact" in run["checks"]:
            exact = FunctionSolution(problem, problem.exact_solution, "exact")
            row["rel_l2_exact"] = float(compare(solution, exact).metrics["u_rel_l2"])
        if "fenics" in run["checks"]:
            if run["case"] not in references:
                references[run["case"]] = solve(problem, **REFERENCE)
                if "exact" in run["checks"]:  # the reference's own error, for scale
                    rows.append({"case": run["case"], "solver": "fenics (P2, 1024 cells, CN)",
                                 "seconds": references[run["case"]].wall_time,
                                 "parameters": references[run["case"]].config["dofs"], "steps": 0,
                                 "rel_l2_exact": float(compare(references[run["case"]], exact).metrics["u_rel_l2"])})
            row["rel_l2_fenics"] = float(compare(solution, references[run["case"]]).metrics["u_rel_l2"])
        if "min_map_slope" in solution.config:
            row["min_map_slope"] = solution.config["min_map_slope"]
        rows.append(row)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = torch.cuda.get_device_name(0) if device == "cuda" else \
        f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()})"
    print(f"\nLPINN vs PINN at equal wall-clock, {args.points} Sobol points, device: {machine}")
    print(f"{'case':<38} {'solver':<32} {'params':>6} {'steps':>6} {'s':>6} {'vs exact':>9} {'vs FEniCS':>9}")
    for row in rows:
        exact = f"{row['rel_l2_exact']:.2e}" if "rel_l2_exact" in row else "-"
        fenics = f"{row['rel_l2_fenics']:.2e}" if "rel_l2_fenics" in row else "-"
        print(f"{row['case']:<38} {row['solver']:<32} {row['parameters']:>6} {row['steps']:>6} {row['seconds']:>6.1f} "
              f"{exact:>9} {fenics:>9}")
    write_json(OUT, {"machine": machine, "torch": torch.__version__, "threads": torch.get_num_threads(),
                               "settings": vars(args), "rows": rows})
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
