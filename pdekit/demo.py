"""The demo behind ``make demo``: burgers1d solved by each available solver, side by side.

Writes ``results/burgers1d_<solver>.nc`` and ``results/burgers1d.png`` and prints a summary;
where DeepXDE's published Burgers solution is found (``../shared/anchors``), the error
against it is printed too.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import anchors, compare  # noqa: E402
from .pde_cases import get_case  # noqa: E402


def _reference(problem):
    from . import reference

    return reference.solve(problem, degree=2, cells=1024, dt=2.5e-3, saves=99, progress=True)


SOLVERS = {"fenics": _reference}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pdekit.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    problem = get_case("burgers1d")
    try:
        anchor = anchors.burgers()
    except FileNotFoundError as missing:
        anchor = None
        print(f"(no DeepXDE anchor: {missing})")

    solutions = {}
    for name, solve in SOLVERS.items():
        try:
            solutions[name] = solve(problem)
        except ImportError as error:
            print(f"{name}: skipped ({error})", file=sys.stderr)
    if not solutions:
        print("no solver could run; install FEniCSx (see README)", file=sys.stderr)
        return 1

    grid = dict(resolution=256, times=100)
    figure, axes = plt.subplots(1, len(solutions) + 1, figsize=(5 * (len(solutions) + 1), 3.8), constrained_layout=True)
    print(f"{'solver':<10} {'wall time':>10} {'rel L2 vs DeepXDE':>18}  file")
    for ax, (name, solution) in zip(axes, solutions.items()):
        path = solution.save(out / f"burgers1d_{name}.nc", **grid)
        error = float(compare(solution, anchor).metrics["u_rel_l2"]) if anchor is not None else float("nan")
        print(f"{name:<10} {solution.wall_time:>9.2f}s {error:>18.2e}  {path}")
        solution.to_xarray(**grid).u.plot(ax=ax, x="x", y="t", cmap="RdBu_r")
        ax.set_title(f"burgers1d: {name}")
    last = next(iter(solutions.values())).to_xarray(**grid).u
    for t in (0.0, 0.25, 0.5, 0.75):
        last.sel(t=t, method="nearest").plot(ax=axes[-1], label=f"t = {t}")
    axes[-1].legend()
    axes[-1].set_title("slices")
    figure_path = out / "burgers1d.png"
    figure.savefig(figure_path, dpi=110)
    print(f"figure -> {figure_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
