"""Forward jets with only the second derivatives the flux needs, against every spatial pair.

``required_pairs`` keeps ``(k, j)`` only where the flux depends on ``du/dx_k``, so a Laplacian
carries no mixed derivative.  This measures what that saves: one loss + backward evaluation of
PIG and the PINN on helmholtz2d and klein_gordon, with every spatial pair and with the flux's
pairs, interleaved in one single-threaded process (eager), median of the repeats.

    python benchmarks/jet_pairs.py
    python benchmarks/jet_pairs.py --points 2000 --repeats 3   # quicker

Prints a table and writes benchmarks/results/jet_pairs.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from pdekit import get_case
from pdekit.atomic import write_json
from pdekit.solvers import PIG, PINN

OUT = Path(__file__).parent / "results" / "jet_pairs.json"
CASES = ("helmholtz2d", "klein_gordon")


def every_pair(problem) -> tuple[tuple[int, int], ...]:
    """What the residual used before: all spatial pairs (and ``(d, d)`` for a second time derivative)."""
    d = problem.dim
    pairs = tuple((k, j) for k in range(d) for j in range(k, d))
    return pairs + (((d, d),) if problem.is_evolution and problem.equation.second_time_coefficient else ())


def seconds_per_step(losses, batch, pairs) -> float:
    losses.pairs = pairs
    start = time.perf_counter()
    sum(losses(batch).values()).backward()
    return time.perf_counter() - start


def run(points: int, repeats: int) -> list[dict]:
    torch.set_num_threads(1)
    rows = []
    for case in CASES:
        problem = get_case(case)
        solvers = {"pig": PIG(n_gaussians=1000, sigma=0.1, n_interior=points),
                   "pinn": PINN(width=50, depth=4, n_interior=points)}
        for name, solver in solvers.items():
            _, losses, batches = solver.build(problem)
            batch = batches(0)
            variants = {"every_pair": every_pair(problem), "flux_pairs": losses.pairs}
            for pairs in variants.values():  # warm-up, untimed
                seconds_per_step(losses, batch, pairs)
            times = {label: [] for label in variants}
            for _ in range(repeats):  # interleaved, so drifts in machine speed hit both
                for label, pairs in variants.items():
                    times[label].append(seconds_per_step(losses, batch, pairs))
            median = {label: statistics.median(values) for label, values in times.items()}
            rows.append({"case": case, "solver": name, "pairs": {k: list(v) for k, v in variants.items()},
                         "s_per_step": median, "speedup": median["every_pair"] / median["flux_pairs"]})
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10000, help="interior points per evaluation")
    parser.add_argument("--repeats", type=int, default=8, help="evaluations per variant (median)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    rows = run(args.points, args.repeats)
    print(f"{'case':14s} {'solver':6s} {'pairs':>7s} {'every pair s':>13s} {'flux pairs s':>13s} {'speed-up':>9s}")
    for r in rows:
        counts = f"{len(r['pairs']['every_pair'])}->{len(r['pairs']['flux_pairs'])}"
        print(f"{r['case']:14s} {r['solver']:6s} {counts:>7s} {r['s_per_step']['every_pair']:13.4f} "
              f"{r['s_per_step']['flux_pairs']:13.4f} {r['speedup']:8.2f}x")
    device = f"cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()}), torch threads 1"
    write_json(args.out, {"device": device, "points": args.points, "repeats": args.repeats, "rows": rows})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
