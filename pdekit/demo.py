"""The demo behind ``make demo``: burgers1d solved by each available solver, side by side.

The FEniCS reference and a short PINN run (a few thousand steps: a demonstration of the
pipeline, not of the PINN's best accuracy, which ``benchmarks/pinn_vs_deepxde.py --recipe``
measures).

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


def _pinn(problem):
    from .solvers import PINN

    return PINN(adam_steps=3000, lr=2e-3, lbfgs_steps=20, width=24, depth=4, compile=True, progress=True,
                log_every=500).solve(problem)


# the PINN trains first, then the reference
SOLVERS = {"pinn": _pinn, "fenics": _reference}


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

    solutions = dict(sorted(solutions.items(), key=lambda item: item[0] != "fenics"))  # reference first
    grid = dict(resolution=256, times=100)
    reference = solutions.get("fenics")
    figure, axes = plt.subplots(1, len(solutions) + 1, figsize=(5 * (len(solutions) + 1), 3.8), constrained_layout=True)
    print(f"{'solver':<8} {'wall time':>10} {'rel L2 vs DeepXDE':>18} {'rel L2 vs FEniCS':>17}  file")
    for ax, (name, solution) in zip(axes, solutions.items()):
        path = solution.save(out / f"burgers1d_{name}.nc", **grid)
        against_anchor = float(compare(solution, anchor).metrics["u_rel_l2"]) if anchor is not None else float("nan")
        against_fenics = float(compare(solution, reference).metrics["u_rel_l2"]) \
            if reference is not None and name != "fenics" else float("nan")
        print(f"{name:<8} {solution.wall_time:>9.2f}s {against_anchor:>18.2e} {against_fenics:>17.2e}  {path}")
        solution.to_xarray(**grid).u.plot(ax=ax, x="x", y="t", cmap="RdBu_r")
        ax.set_title(f"burgers1d: {name}")
    for (name, solution), style in zip(solutions.items(), ("-", "--", ":")):
        data = solution.to_xarray(**grid).u
        for t, color in zip((0.0, 0.25, 0.5, 0.75), ("C0", "C1", "C2", "C3")):
            data.sel(t=t, method="nearest").plot(ax=axes[-1], color=color, linestyle=style,
                                                 label=f"{name}, t = {t}" if style == "-" or t == 0.0 else None)
    axes[-1].legend()
    axes[-1].set_title("slices (solid: " + ", dashed: ".join(solutions) + ")")
    figure_path = out / "burgers1d.png"
    figure.savefig(figure_path, dpi=110)
    print(f"figure -> {figure_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
