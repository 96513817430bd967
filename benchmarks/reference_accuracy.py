"""Accuracy and cost of the FEniCS reference: convergence orders and the DeepXDE anchors.

    python benchmarks/reference_accuracy.py        # table + benchmarks/results/reference_accuracy.json
"""

from __future__ import annotations

import dataclasses
import functools
import platform
import time
from pathlib import Path

import numpy as np

from pdekit import FunctionSolution, TimeInterval, anchors, compare, get_case, reference
from pdekit.atomic import write_json

OUT = Path(__file__).parent / "results" / "reference_accuracy.json"


def error(solution, coords=None):
    problem = solution.problem
    return float(compare(solution, FunctionSolution(problem, problem.exact_solution, "exact"), coords).metrics["u_rel_l2"])


def order(sizes, errors):
    return float(np.polyfit(np.log(sizes), np.log(errors), 1)[0])


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def main():
    rows = {}
    poisson = get_case("poisson2d")
    for degree, cells in ((1, [8, 16, 32, 64]), (2, [4, 8, 16, 32])):
        errors = [error(reference.solve(poisson, degree=degree, cells=n, cache=False)) for n in cells]
        rows[f"poisson2d P{degree} order in h"] = {"errors": errors, "order": order(1 / np.array(cells), errors)}
    heat = get_case("heat2d")
    final = {"t": np.array([1.0]), "x": np.linspace(0, 1, 41), "y": np.linspace(0, 1, 41)}
    steps = [0.1, 0.05, 0.025]
    for scheme in ("implicit_euler", "crank_nicolson"):
        errors = [error(reference.solve(heat, degree=2, cells=24, dt=dt, scheme=scheme, saves=10, cache=False), final)
                  for dt in steps]
        rows[f"heat2d {scheme} order in dt"] = {"errors": errors, "order": order(steps, errors)}
    kg = dataclasses.replace(get_case("klein_gordon"), time=TimeInterval(0.0, 2.0))
    at_saves = {"t": np.linspace(0, 2, 11), "x": np.linspace(-1, 1, 21), "y": np.linspace(-1, 1, 21)}
    errors = [error(reference.solve(kg, degree=2, cells=4, dt=dt, saves=10, cache=False), at_saves) for dt in (0.1, 0.05)]
    rows["klein_gordon (t <= 2) Newmark order in dt"] = {"errors": errors, "order": order([0.1, 0.05], errors)}
    for name, loader, settings in (("burgers1d", anchors.burgers, dict(degree=2, cells=1024, dt=2.5e-3, saves=99)),
                                   ("allen_cahn1d", anchors.allen_cahn, dict(degree=1, cells=512, dt=5e-3, saves=100))):
        try:
            anchor = loader()
        except FileNotFoundError as missing:
            rows[f"{name} vs DeepXDE anchor"] = {"skipped": str(missing)}
            continue
        solution, seconds = timed(functools.partial(reference.solve, get_case(name), cache=False, **settings))
        rows[f"{name} vs DeepXDE anchor"] = {"rel_l2": float(compare(solution, anchor).metrics["u_rel_l2"]),
                                             "seconds": seconds, "settings": settings}
    lshape = get_case("poisson_lshape")
    grids = [reference.solve(lshape, degree=1, cells=n, cache=False).to_xarray(resolution=61).u.values for n in (8, 16, 32, 64)]
    rows["poisson_lshape successive differences (cells 8-16-32-64)"] = {
        "differences": [float(np.sqrt(np.nanmean((b - a) ** 2))) for a, b in zip(grids, grids[1:])]}

    print(f"{'check':<58} result")
    for name, row in rows.items():
        shown = {k: (f"{v:.3g}" if isinstance(v, float) else [f"{e:.2e}" for e in v] if isinstance(v, list) else v)
                 for k, v in row.items() if k != "settings"}
        print(f"{name:<58} {shown}")
    write_json(OUT, {"machine": platform.processor() or platform.machine(), "device": "cpu",
                               "checks": rows})
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
