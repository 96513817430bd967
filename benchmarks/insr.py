"""INSR (Chen et al. 2023) against classical peers: error, peak height, memory and wall-clock.

(a) advection1d, the paper's advect1D (a Gaussian pulse carried across [-2, 2] until t = 12):
    INSR against the exact solution, beside first-order upwind differences and the FEniCS
    reference (P1, Crank-Nicolson, INSR's time step), both with as many unknowns as the INSR
    network has weights.  Goal: INSR's error at t = 12 at most 1/5 of upwind's.
(b) heat2d against its exact solution.  Goal: relative L2 at t = 1 at most 1e-3.
(c) taylor_green (2D incompressible Navier-Stokes, nu = 0.1, t in [0, 1]) by the operator
    splitting (advection by semi-Lagrangian backtrace with implicit viscosity, pressure Poisson,
    projection) against the exact decaying vortex, and against the spectral reference
    (pdekit.reference.spectral: velocity and pressure, Leray projection) solved with as many
    unknowns (2 n^2 velocity values) as INSR has weights per step.  Goal: relative L2 of the
    velocity at t = 1 at most 1e-2.  Memory: the weights of both networks beside the unknowns of a
    P2/P1 Taylor-Hood mesh with as many (a count, not a solve: the FEniCS reference has no mixed element).

Scaled to run in minutes on a 2-core CPU: fewer iterations per step than the paper (which
optimises each step until the learning rate has decayed to 1e-8, up to 20000 iterations); the
advection time step is 0.04 (the paper: 0.05), because the midpoint rule's own phase error at
0.05 (5.3e-2 at t = 12, what FEniCS with that step shows too) already exceeds the goal.

    python benchmarks/insr.py            # the benchmark
    python benchmarks/insr.py --fast     # a smoke run (small settings; numbers not meaningful)
    python benchmarks/insr.py --only taylor_green   # one part, merged into the existing JSON
Prints tables and writes benchmarks/results/insr.json (--fast: only with --out).
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

from pdekit import get_case
from pdekit.atomic import write_json
from pdekit.pde_cases import recipe
from pdekit.reference import spectral
from pdekit.solvers.insr import INSR
from pdekit.solvers.upwind import upwind_advection

RESULTS = Path(__file__).parent / "results"
# what `pdekit solve CASE --solver insr` uses
ADVECTION, HEAT, TAYLOR_GREEN = (recipe(case, "insr") for case in ("advection1d", "heat2d", "taylor_green"))
FAST = dict(time_steps=12, iterations=20, init_iterations=200, lbfgs_iterations=0, init_lbfgs_iterations=0,
            n_points=500, dtype="float32")
UPWIND_CFL = (0.5, 0.8, 0.9)
PARTS = ("advection1d", "heat2d", "taylor_green")


def machine() -> str:
    return (f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()}), "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, torch {torch.__version__}")


def over_time(solution, problem, times, resolution=801) -> dict:
    """Relative L2 error and peak height on a fine grid at each of ``times``."""
    lower, upper = problem.geometry.lower, problem.geometry.upper
    axes = [np.linspace(lower[j], upper[j], resolution if problem.dim == 1 else 101) for j in range(problem.dim)]
    space = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
    errors, peaks = [], []
    for t in times:
        points = np.concatenate([space, np.full((len(space), 1), t)], axis=1)
        values, truth = solution(points)[:, 0], problem.exact_solution(points)[:, 0]
        errors.append(float(np.linalg.norm(values - truth) / np.linalg.norm(truth)))
        peaks.append(float(np.max(np.abs(values))))
    return {"times": [float(t) for t in times], "rel_l2": errors, "peak": peaks}


def insr_row(solution, problem, times) -> dict:
    attributes = solution.attributes()
    return {"settings": {k: v for k, v in solution.config.items() if k in {**ADVECTION, **HEAT, **TAYLOR_GREEN}},
            "parameters_per_step": attributes["parameters_per_step"], "saved_steps": attributes["saved_steps"],
            "stored_values": attributes["stored_values"], "compiled": solution.config["compiled"],
            "wall_s": solution.wall_time, **over_time(solution, problem, times)}


def advection(fast: bool) -> dict:
    problem = get_case("advection1d")
    times = np.linspace(problem.time.t0, problem.time.t1, 13)
    settings = {**ADVECTION, **(FAST if fast else {})}
    solution = INSR(progress=False, **settings).solve(problem)
    rows = {"insr": insr_row(solution, problem, times)}
    unknowns = rows["insr"]["parameters_per_step"]
    for cfl in UPWIND_CFL:
        upwind = upwind_advection(problem, nodes=unknowns, cfl=cfl, saves=240)
        rows[f"upwind_cfl{cfl}"] = {"unknowns": unknowns, **upwind.config, "wall_s": upwind.wall_time,
                                    **over_time(upwind, problem, times)}
    return {"problem": problem.name, "unknowns": unknowns, "dt": solution.config["dt"], "contenders": rows,
            "_fenics": dict(degree=1, cells=unknowns - 1, dt=solution.config["dt"], scheme="crank_nicolson",
                            saves=settings["time_steps"])}


def heat(fast: bool) -> dict:
    problem = get_case("heat2d")
    settings = {**HEAT, **(FAST if fast else {})}
    solution = INSR(progress=False, **settings).solve(problem)
    return {"problem": problem.name, "contenders": {"insr": insr_row(solution, problem, np.linspace(0, 1, 5))}}


def flow_over_time(solution, problem, times, resolution=64, reference=None) -> dict:
    """Relative L2 errors of velocity and pressure on a periodic grid at each of ``times``, against
    the exact solution or a ``reference`` Solution."""
    axis = np.linspace(0, 2 * np.pi, resolution, endpoint=False)
    space = np.stack([a.ravel() for a in np.meshgrid(axis, axis, indexing="ij")], axis=1)
    velocity, pressure = [], []
    for t in times:
        points = np.concatenate([space, np.full((len(space), 1), t)], axis=1)
        values = solution(points)
        truth = problem.exact_solution(points) if reference is None else reference(points)
        velocity.append(float(np.linalg.norm(values[:, :2] - truth[:, :2]) / np.linalg.norm(truth[:, :2])))
        pressure.append(float(np.linalg.norm(values[:, 2] - truth[:, 2]) / np.linalg.norm(truth[:, 2])))
    return {"times": [float(t) for t in times], "rel_l2": velocity, "rel_l2_pressure": pressure}


def taylor_hood_dofs(cells_per_side: int) -> int:
    """Unknowns of P2 velocity and P1 pressure on a periodic ``n x n`` mesh of ``2 n^2`` triangles:
    ``n^2`` vertices and ``3 n^2`` edges, so ``2 * 4 n^2 + n^2``."""
    return 9 * cells_per_side**2


def taylor_green(fast: bool) -> dict:
    problem = get_case("taylor_green")
    settings = {**TAYLOR_GREEN, **(FAST if fast else {}), "dtype": TAYLOR_GREEN["dtype"]}
    solution = INSR(progress=False, **settings).solve(problem)
    row = insr_row(solution, problem, [])
    row.update(flow_over_time(solution, problem, np.linspace(0, 1, 6)))
    weights = row["parameters_per_step"]
    n = 2 * int(round(np.sqrt(weights / 2) / 2))  # an even grid with 2 n^2 velocity values, about the weights
    reference = spectral.solve(problem, n=n, dt=solution.config["dt"], saves=settings["time_steps"], cache=False)
    times = row["times"]
    row.update({f"{k}_vs_spectral": v for k, v in flow_over_time(solution, problem, times, reference=reference).items()
                if k != "times"})
    spectral_row = {"n": n, "unknowns": 2 * n * n, "dt": reference.config["time_step"],
                    "scheme": reference.config["scheme"], "wall_s": reference.wall_time,
                    **flow_over_time(reference, problem, times)}
    side = int(round(np.sqrt(weights / 9)))
    return {"problem": problem.name, "nu": problem.params["nu"], "dt": solution.config["dt"],
            "contenders": {"insr": row, "spectral": spectral_row},
            "taylor_hood": {"cells_per_side": side, "dofs": taylor_hood_dofs(side),
                            "note": "a count of P2/P1 unknowns on a periodic mesh with about as many unknowns as "
                                    "INSR has weights per step, not a solve"}}


def fenics_advection(result: dict) -> None:
    """The FEniCS reference with as many dofs as INSR has weights."""
    from pdekit.reference import solve

    problem = get_case("advection1d")
    settings = result.pop("_fenics")
    reference = solve(problem, cache=False, progress=False, **settings)
    times = result["contenders"]["insr"]["times"]
    result["contenders"]["fenics"] = {**settings, "dofs": reference.config["dofs"], "wall_s": reference.wall_time,
                                      **over_time(reference, problem, times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="small settings, a smoke run")
    parser.add_argument("--skip-fenics", action="store_true")
    parser.add_argument("--only", choices=PARTS, action="append",
                        help="run only this part (repeatable); the others are kept from the existing JSON")
    parser.add_argument("--out", type=Path, help=f"JSON file (default {RESULTS / 'insr.json'}; none with --fast)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    out = args.out or (None if args.fast else RESULTS / "insr.json")
    parts = args.only or PARTS
    result = json.loads(out.read_text()) if args.only and out is not None and out.exists() else {}
    result["machine"] = machine()
    runs = {"advection1d": advection, "heat2d": heat, "taylor_green": taylor_green}
    result.update({part: runs[part](args.fast) for part in parts})
    if "advection1d" in parts:
        if args.skip_fenics:
            result["advection1d"].pop("_fenics")
        else:
            fenics_advection(result["advection1d"])
    goals = result.setdefault("goals", {})
    if "advection1d" in result:
        final = {name: row["rel_l2"][-1] for name, row in result["advection1d"]["contenders"].items()}
        goals["advection1d: insr error at t=12 <= upwind (cfl 0.5) / 5"] = final["insr"] <= final["upwind_cfl0.5"] / 5
        goals["advection1d: insr error at t=12 <= 2e-2"] = final["insr"] <= 2e-2
    if "heat2d" in result:
        goals["heat2d: insr rel L2 at t=1 <= 1e-3"] = result["heat2d"]["contenders"]["insr"]["rel_l2"][-1] <= 1e-3
    if "taylor_green" in result:
        goals["taylor_green: insr velocity rel L2 at t=1 <= 1e-2"] = \
            result["taylor_green"]["contenders"]["insr"]["rel_l2"][-1] <= 1e-2
    result[f"total_s{'_' + '_'.join(parts) if args.only else ''}"] = time.perf_counter() - started
    if "advection1d" in parts:
        adv = result["advection1d"]["contenders"]
        print(f"advection1d, {result['advection1d']['unknowns']} unknowns each, dt = {result['advection1d']['dt']:.3g}")
        print(f"{'contender':<16} {'rel L2 t=12':>12} {'peak t=12':>10} {'wall s':>8}")
        for name, row in adv.items():
            print(f"{name:<16} {row['rel_l2'][-1]:>12.3e} {row['peak'][-1]:>10.3f} {row['wall_s']:>8.1f}")
    if "heat2d" in parts:
        row = result["heat2d"]["contenders"]["insr"]
        print(f"heat2d insr: rel L2 at t=1 {row['rel_l2'][-1]:.3e}, {row['parameters_per_step']} weights x "
              f"{row['saved_steps']} saved steps, {row['wall_s']:.0f} s")
    if "taylor_green" in parts:
        tg = result["taylor_green"]
        row = tg["contenders"]["insr"]
        print(f"taylor_green insr (splitting, dt = {tg['dt']:.3g}): velocity rel L2 at t=1 {row['rel_l2'][-1]:.3e} "
              f"(pressure {row['rel_l2_pressure'][-1]:.3e}), {row['parameters_per_step']} weights per step vs "
              f"{tg['taylor_hood']['dofs']} P2/P1 unknowns on a {tg['taylor_hood']['cells_per_side']}^2 mesh (count), "
              f"{row['wall_s']:.0f} s")
        ref = tg["contenders"]["spectral"]
        print(f"taylor_green spectral reference ({ref['unknowns']} unknowns, n = {ref['n']}): velocity rel L2 at t=1 "
              f"{ref['rel_l2'][-1]:.1e} (pressure {ref['rel_l2_pressure'][-1]:.1e}), {ref['wall_s']:.2f} s; insr against "
              f"it: velocity {row['rel_l2_vs_spectral'][-1]:.3e}, pressure {row['rel_l2_pressure_vs_spectral'][-1]:.3e}")
    for goal, met in goals.items():
        print(f"goal {'met' if met else 'NOT met'}: {goal}")
    if out is not None:
        write_json(out, result)
        print(f"-> {out}")


if __name__ == "__main__":
    main()
