"""The generic defaults on a problem no recipe was made for: a user's nonlinear PDE on a disk.

``-div((1 + u^2) grad u) = f`` on the unit disk, ``u`` given on the circle, with the manufactured
solution ``u = sin(pi x) cos(pi y) + x y / 2``.  Each solver runs with its defaults (what a user's
own problem gets: no recipe, only ``progress=False``) and is scored by the relative L2 error at
5,000 random points of the disk.  Checks that the defaults are not tuned to one ready-made case.

    python benchmarks/user_problem.py                 # pinn and pig
    python benchmarks/user_problem.py --solvers pig   # one of them (the others are kept)

Prints a table and writes benchmarks/results/user_problem.json, with the machine's load.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from timing import load_now

import pdekit
from pdekit import math as pm
from pdekit.atomic import write_json
from pdekit.solvers import get_solver

OUT = Path(__file__).parent / "results" / "user_problem.json"


def exact(x, t, p):
    return pm.sin(pm.pi * x[0]) * pm.cos(pm.pi * x[1]) + 0.5 * x[0] * x[1]


def source(u, du, x, t, p):
    """``-div((1 + e^2) grad e) = -(1 + e^2) lap e - 2 e |grad e|^2`` for ``e`` the exact solution."""
    s, c = pm.sin(pm.pi * x[0]), pm.cos(pm.pi * x[1])
    e = s * c + 0.5 * x[0] * x[1]
    ex = pm.pi * pm.cos(pm.pi * x[0]) * c + 0.5 * x[1]
    ey = -pm.pi * s * pm.sin(pm.pi * x[1]) + 0.5 * x[0]
    return 2 * pm.pi**2 * s * c * (1 + e**2) - 2 * e * (ex**2 + ey**2)


def problem() -> pdekit.Problem:
    return pdekit.Problem(
        name="nonlinear_disk", geometry=pdekit.Disk((0.0, 0.0), 1.0),
        equation=pdekit.Equation(flux=lambda u, du, x, t, p: [-(1 + u**2) * du[0], -(1 + u**2) * du[1]], source=source),
        conditions=[pdekit.Dirichlet(exact)], exact=exact)


def run(name: str) -> dict:
    case = problem()
    started, load = time.perf_counter(), load_now()
    solution = get_solver(name, progress=False).solve(case)  # no case name: the generic defaults
    seconds = time.perf_counter() - started
    points = case.geometry.sample_interior(5000, "uniform", 7)
    truth = np.asarray(case.exact_solution(points)).reshape(len(points), -1)[:, 0]
    error = float(np.linalg.norm(solution(points)[:, 0] - truth) / np.linalg.norm(truth))
    return {"rel_l2": error, "seconds": seconds, "load_before": load, "load_after": load_now(),
            "config": {k: v for k, v in solution.config.items() if isinstance(v, (int, float, str, bool))}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solvers", default="pinn,pig", help="comma-separated: pinn, pig")
    args = parser.parse_args(argv)
    result = json.loads(OUT.read_text()) if OUT.exists() else {}
    result.update({"problem": "-div((1 + u^2) grad u) = f on the unit disk, u = sin(pi x) cos(pi y) + xy/2",
                   "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads"})
    for name in args.solvers.split(","):
        result[name] = run(name)
        print(f"{name:<6} rel L2 {result[name]['rel_l2']:.3e} in {result[name]['seconds']:.0f} s", flush=True)
    write_json(OUT, result)
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
