"""Dataset generation speed and the cost and accuracy of one FEniCS solve per sample (darcy2d, 64 x 64).

    python benchmarks/data_generation.py [--n 100] [--rounds 2]   # table + benchmarks/results/data_generation.json

Generates the same ``n`` samples with 1 and with 2 worker processes, alternating (rounds of
1 then 2 workers) so that machine noise hits both alike; the load average is recorded before
and after.  The per-sample cost of the reference is the baseline every operator's inference
speed is held against.  The recipe's accuracy is measured at the grid nodes against finer
solves of the same (rasterised) inputs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from pdekit import data, get_case, reference
from pdekit.atomic import write_json
from pdekit.data.generation import _rasterized
from pdekit.results import grid_points

OUT = Path(__file__).parent / "results" / "data_generation.json"


def generation_rate(n: int, workers: int) -> float:
    """Samples per second of a fresh ``generate`` of ``n`` darcy2d samples."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        data.generate(get_case("darcy2d"), n, out=Path(folder) / "d.h5", workers=workers, progress=False)
        return n / (time.perf_counter() - started)


def solve_cost(samples: int = 5) -> dict:
    """Seconds per FEniCS solve of one rasterised darcy2d sample at the recipe's settings (warm and first)."""
    problem = get_case("darcy2d")
    coords = {"x": np.linspace(0, 1, 64), "y": np.linspace(0, 1, 64)}
    points = grid_points(coords)
    times = []
    for seed in range(samples + 1):
        sample = _rasterized(problem.sample_input(seed), coords)
        started = time.perf_counter()
        reference.solve(sample, degree=1, cells=126, cache=False)(points)
        times.append(time.perf_counter() - started)
    return {"first_s": times[0], "median_s": statistics.median(times[1:]), "samples": samples}


def recipe_accuracy(samples: int = 3) -> dict:
    """Relative L2 at the 64 x 64 nodes of the recipe (P1, 126 cells) and of P1 at 252 cells, against
    P2 at 252 cells (the best affordable here), on rasterised inputs."""
    problem = get_case("darcy2d")
    coords = {"x": np.linspace(0, 1, 64), "y": np.linspace(0, 1, 64)}
    points = grid_points(coords)
    errors = {"P1_126": [], "P1_252": []}
    for seed in range(samples):
        sample = _rasterized(problem.sample_input(seed), coords)
        best = reference.solve(sample, degree=2, cells=252, cache=False)(points)
        for name, cells in (("P1_126", 126), ("P1_252", 252)):
            values = reference.solve(sample, degree=1, cells=cells, cache=False)(points)
            errors[name].append(float(np.linalg.norm(values - best) / np.linalg.norm(best)))
    return {name: {"mean": float(np.mean(e)), "max": float(np.max(e))} for name, e in errors.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="samples per generation run")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of 1 and 2 workers")
    args = parser.parse_args()
    load_before = os.getloadavg()
    solve_cost(1)  # compile the forms once, outside the timings
    rates = {1: [], 2: []}
    for _ in range(args.rounds):
        for workers in (1, 2):
            rates[workers].append(generation_rate(args.n, workers))
    cost = solve_cost()
    accuracy = recipe_accuracy()
    load_after = os.getloadavg()
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    result = {
        "darcy2d_64": {
            "samples": args.n, "rounds": args.rounds,
            "samples_per_s": {"1_worker": one, "2_workers": two, "all_1": rates[1], "all_2": rates[2]},
            "speedup_2_workers": two / one,
            "fenics_solve_s_per_sample": cost,
            "recipe_rel_l2_vs_P2_252": accuracy,
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": load_before,
                    "load_after": load_after},
    }
    write_json(OUT, result)
    print(f"darcy2d 64x64, {args.n} samples, median of {args.rounds} alternating rounds "
          f"(load {load_before[0]:.2f} -> {load_after[0]:.2f}):")
    print(f"  1 worker  {one:7.2f} samples/s")
    print(f"  2 workers {two:7.2f} samples/s   speed-up {two / one:.2f}x (goal >= 1.8x)")
    print(f"  one FEniCS solve + grid evaluation: {1e3 * cost['median_s']:.0f} ms (first, with form compilation: "
          f"{1e3 * cost['first_s']:.0f} ms)")
    for name, errors in accuracy.items():
        print(f"  {name} vs P2 252 cells at the nodes: rel L2 mean {errors['mean']:.2e}, max {errors['max']:.2e}")
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
