"""A PINN on the lid-driven cavity at Re = 100 against the FEniCS reference and Ghia's tables.

The Problem as it stands (soft boundary conditions, Ghia's discontinuous lid), the setting of
PhysicsNeMo's and DeepXDE's cavity examples: a 4 x 50 tanh network for (u, v, p), Adam with a
decaying rate, residual-based resampling; training stops at ``--budget`` seconds.

    python benchmarks/pinn_cavity.py --budget 900    # table + benchmarks/results/pinn_cavity.json
    python benchmarks/pinn_cavity.py --hard          # hard walls: results/pinn_cavity_hard.json
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from pdekit import get_case, reference
from pdekit.atomic import write_json
from pdekit.pde_cases.cavity2d import ghia_deviation
from pdekit.solvers.pinn import PINN, OutputTransform

OUT = Path(__file__).parent / "results" / "pinn_cavity.json"
OUT_HARD = Path(__file__).parent / "results" / "pinn_cavity_hard.json"
SETTINGS = dict(width=50, depth=4, n_interior=2000, n_boundary=400, lr=1e-3, lr_decay=0.95, resample="rad",
                resample_every=1000, weight_boundary=10.0, eval_every=1000, progress=False)


def walls_transform(sharpness: int = 10) -> OutputTransform:
    """Hard walls: ``u = lid + b N_u``, ``v = b N_v``, ``p = N_p`` with ``b = 16 x (1 - x) y (1 - y)``
    and ``lid = (1 - (2x - 1)^(2 sharpness)) y^2``: no slip exactly, the lid speed 1 except within
    a few hundredths of the top corners, where it falls to zero (a regularised lid)."""
    def function(x, t, net, p):
        bubble = 16 * x[0] * (1 - x[0]) * x[1] * (1 - x[1])
        lid = (1 - (2 * x[0] - 1) ** (2 * sharpness)) * x[1] ** 2
        return [lid + bubble * net[0], bubble * net[1], net[2]]

    return OutputTransform(function, enforces=("dirichlet",))


def velocity_error(solution, truth, points) -> float:
    a, b = solution(points)[:, :2], truth(points)[:, :2]
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=900.0, help="training seconds")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--hard", action="store_true", help="hard no-slip walls and a regularised lid")
    args = parser.parse_args()
    problem = get_case("cavity2d")
    start = time.perf_counter()
    truth = reference.solve(problem, cells=64, cache=False)
    fenics_seconds = time.perf_counter() - start
    points = np.random.default_rng(0).uniform(0, 1, (10000, 2))
    settings = {**SETTINGS, "weight_boundary": 1.0} if args.hard else SETTINGS
    pinn = PINN(adam_steps=10**7, time_budget=args.budget, device=args.device, **settings,
                output_transform=walls_transform() if args.hard else None)
    solution = pinn.solve(problem, reference=truth)
    steps, seconds = solution.config["steps"], solution.wall_time
    row = {"fenics": {"cells": 64, "elements": truth.config["elements"], "seconds": fenics_seconds,
                      "ghia_deviation": ghia_deviation(truth, 100)},
           "pinn": {"settings": settings, "hard_constraints": args.hard, "steps": steps, "seconds": seconds, "steps_per_second": steps / seconds,
                    "parameters": solution.config["parameters"], "velocity_rel_l2_vs_fenics": velocity_error(
                        solution, truth, points), "ghia_deviation": ghia_deviation(solution, 100)}}
    print(f"FEniCS P2/P1, 64 cells: {fenics_seconds:.1f} s, Ghia deviation {row['fenics']['ghia_deviation']}")
    print(f"PINN: {steps} steps in {seconds:.0f} s ({steps / seconds:.1f}/s), velocity rel. L2 against FEniCS "
          f"{row['pinn']['velocity_rel_l2_vs_fenics']:.3e}, Ghia deviation {row['pinn']['ghia_deviation']}")
    device = torch.cuda.get_device_name(0) if "cuda" in str(next(solution.model.parameters()).device) else "cpu"
    out = OUT_HARD if args.hard else OUT
    write_json(out, {"machine": platform.processor() or platform.machine(), "device": device, "cores": os.cpu_count(),
                     "torch_threads": torch.get_num_threads(), "budget_s": args.budget, **row})
    print(f"-> {out}")


if __name__ == "__main__":
    main()
