"""The FEniCS reference on incompressible flow: the lid-driven cavity against Ghia, Ghia and Shin
(1982) under mesh refinement, the DFG 2D-1 cylinder's drag and lift, and the Taylor-Hood orders on
a manufactured Stokes solution.

    python benchmarks/cavity_fenics.py        # table + benchmarks/results/cavity_fenics.json

Ghia's tables come from a second-order scheme on a 129 x 129 grid: once the finite-element
centrelines have converged, the deviation left is Ghia's own error.  At Re = 1000 the extrema of
Botella and Peyret (1998, Comput. Fluids 27, 421-433; Chebyshev, N = 160), accurate to about
1e-6, measure the reference itself.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from pdekit import get_case, reference
from pdekit.atomic import write_json
from pdekit.pde_cases.cavity2d import BOTELLA_1000, centreline_extrema, ghia_deviation

OUT = Path(__file__).parent / "results" / "cavity_fenics.json"
MESHES = {100: [8, 16, 32, 64], 1000: [16, 32, 64, 96]}


def stokes_orders() -> dict:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from test_reference_flow import field_errors, stokes

    points = np.random.default_rng(0).uniform(0, 1, (4000, 2))
    cells = np.array([8, 16, 32, 64])
    errors = np.array([field_errors(reference.solve(stokes(), cells=n, cache=False), points) for n in cells])
    rates = np.log2(errors[:-1] / errors[1:])
    return {"cells": cells.tolist(), "velocity_rel_l2": errors[:, 0].tolist(), "pressure_rel_l2": errors[:, 1].tolist(),
            "velocity_orders": rates[:, 0].tolist(), "pressure_orders": rates[:, 1].tolist()}


def dfg(cells_list=(55, 110, 165), refinement=8.0) -> list[dict]:
    from pdekit.pde_cases.channel2d import DFG_2D1, coefficients

    rows = []
    for cells in cells_list:
        start = time.perf_counter()
        solution = reference.solve(get_case("channel2d"), cells=cells, hole_refinement=refinement, cache=False)
        seconds = time.perf_counter() - start
        found = coefficients(solution)
        rows.append({"cells": cells, "hole_refinement": refinement, "dofs": solution.config["dofs"], "seconds": seconds,
                     **found, "relative_errors": {k: (found[k] - v) / v for k, v in DFG_2D1.items()}})
        print(f"DFG 2D-1 cells {cells} (x{refinement:g} at the cylinder) dofs {solution.config['dofs']} {seconds:.2f} s: "
              + ", ".join(f"{k} {found[k]:.6g} ({rows[-1]['relative_errors'][k]:+.2%})" for k in DFG_2D1), flush=True)
    return rows


def main(meshes=MESHES):
    rows = []
    print(f"{'Re':>5} {'cells':>5} {'dofs':>7} {'seconds':>8} {'newton':>6}  {'max|u-Ghia|':>11} {'max|v-Ghia|':>11}")
    for Re, cells_list in meshes.items():
        problem = get_case("cavity2d", Re=float(Re))
        for cells in cells_list:
            start = time.perf_counter()
            solution = reference.solve(problem, cells=cells, continuation="Re:100", cache=False)
            seconds = time.perf_counter() - start
            row = {"Re": Re, "cells": cells, "dofs": solution.config["dofs"], "seconds": seconds,
                   "newton_iterations": solution.config["newton_iterations"],
                   "continuation_values": solution.config["continuation_values"],
                   "ghia_deviation": ghia_deviation(solution, Re), "extrema": centreline_extrema(solution)}
            if Re == 1000:
                row["botella_deviation"] = {k: abs(row["extrema"][k][0] - v[0]) for k, v in BOTELLA_1000.items()}
            rows.append(row)
            print(f"{Re:>5} {cells:>5} {row['dofs']:>7} {seconds:>8.2f} {row['newton_iterations']:>6}  "
                  f"{row['ghia_deviation']['u']:>11.2e} {row['ghia_deviation']['v']:>11.2e}"
                  + (f"   vs Botella: {', '.join(f'{k} {v:.1e}' for k, v in row['botella_deviation'].items())}"
                     if Re == 1000 else ""), flush=True)
    channel = dfg()
    stokes = stokes_orders()
    print("Stokes (P2/P1) velocity orders", [f"{r:.2f}" for r in stokes["velocity_orders"]],
          "pressure orders", [f"{r:.2f}" for r in stokes["pressure_orders"]])
    write_json(OUT, {"machine": platform.processor() or platform.machine(), "device": "cpu",
                     "cores": os.cpu_count(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                     "elements": "u:P2,p:P1", "cavity": rows, "dfg_2d1": channel, "stokes": stokes})
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
