"""The demo behind ``make demo``: burgers1d solved by each available solver, side by side.

The FEniCS reference (P2, 1024 cells, Crank-Nicolson; 1e-5 from DeepXDE's data) and a PINN with
the initial and boundary values built in (:func:`~pdekit.solvers.initial_dirichlet_transform`),
RAD resampling and L-BFGS after Adam, which converges to about 5.5e-3 from DeepXDE's data (3,000
Adam steps alone end near 9e-2; the earlier demo's soft constraints ended at 0.25). The benchmark
recipe (``benchmarks/pinn_vs_deepxde.py --recipe``) trains longer and reaches 1.6e-3.

Writes ``results/burgers1d_<solver>.nc`` and ``results/burgers1d.png`` and prints, per solver,
what it ran and how far it got: its error against DeepXDE's published Burgers solution (where
``../shared/anchors`` has it) and against the FEniCS reference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import anchors, compare  # noqa: E402
from .atomic import atomic_write  # noqa: E402
from .pde_cases import get_case  # noqa: E402

# PINN settings: the demo's, and ``--fast``'s (a smoke run of the pipeline, not a result; eager)
PINN_SETTINGS = dict(adam_steps=3000, lr=2e-3, lbfgs_steps=100, width=32, depth=4, n_interior=2000,
                     sampling="sobol", resample="rad", resample_every=1000)
FAST_PINN = dict(PINN_SETTINGS, adam_steps=30, lbfgs_steps=5, n_interior=256, resample_every=10)


def _reference(problem, fast):
    from . import reference

    settings = dict(degree=1, cells=64, dt=0.05) if fast else dict(degree=2, cells=1024, dt=2.5e-3, saves=99)
    solution = reference.solve(problem, progress=not fast, **settings)
    what = f"P{settings['degree']}, {settings['cells']} cells, {solution.config['dofs']} unknowns"
    return solution, what


def _pinn(problem, fast):
    from .solvers import PINN, initial_dirichlet_transform

    settings = FAST_PINN if fast else PINN_SETTINGS
    solution = PINN(**settings, compile=not fast, progress=not fast, log_every=500,
                    output_transform=initial_dirichlet_transform(problem)).solve(problem)
    what = (f"{settings['adam_steps']} Adam steps, then {settings['lbfgs_steps']} L-BFGS calls of up to 20 iterations, "
            f"{solution.config['parameters']} weights, " + ("compiled" if solution.config["compiled"] else "eager"))
    return solution, what


SOLVERS = {"fenics": _reference, "pinn": _pinn}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pdekit.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.add_argument("--fast", action="store_true", help="tiny settings: checks the pipeline in seconds")
    args = parser.parse_args(argv)
    out = Path(args.out)
    problem = get_case("burgers1d")
    try:
        anchor = anchors.burgers()
    except FileNotFoundError as missing:
        anchor = None
        print(f"(no DeepXDE anchor: {missing})")

    solutions, ran = {}, {}
    for name, solve in SOLVERS.items():
        try:
            solutions[name], ran[name] = solve(problem, args.fast)
        except ImportError as error:
            print(f"{name}: skipped ({error})", file=sys.stderr)
    if not solutions:
        print("no solver could run; install FEniCSx (see README)", file=sys.stderr)
        return 1

    reference = solutions.get("fenics")
    grid = dict(resolution=256, times=100)  # for the figure; the files keep each solver's own grid
    figure, axes = plt.subplots(1, len(solutions) + 1, figsize=(5 * (len(solutions) + 1), 3.8), constrained_layout=True)
    print(f"\n{'solver':<8} {'wall time':>10} {'rel L2 vs DeepXDE':>18} {'rel L2 vs FEniCS':>17}  file")
    for ax, (name, solution) in zip(axes, solutions.items()):
        path = solution.save(out / f"burgers1d_{name}.nc")
        against_anchor = float(compare(solution, anchor).metrics["u_rel_l2"]) if anchor is not None else float("nan")
        against_fenics = float(compare(solution, reference).metrics["u_rel_l2"]) \
            if reference is not None and name != "fenics" else float("nan")
        print(f"{name:<8} {solution.wall_time:>9.2f}s {against_anchor:>18.2e} {against_fenics:>17.2e}  {path}")
        solution.to_xarray(**grid).u.plot(ax=ax, x="x", y="t", cmap="RdBu_r")
        ax.set_title(f"burgers1d: {name}")
    print("\nwhat each solver ran:")
    for name in solutions:
        print(f"  {name:<7} {ran[name]}")
    for (name, solution), style in zip(solutions.items(), ("-", "--", ":")):
        data = solution.to_xarray(**grid).u
        for t, color in zip((0.0, 0.25, 0.5, 0.75), ("C0", "C1", "C2", "C3")):
            data.sel(t=t, method="nearest").plot(ax=axes[-1], color=color, linestyle=style,
                                                 label=f"{name}, t = {t}" if style == "-" or t == 0.0 else None)
    axes[-1].legend()
    axes[-1].set_title("slices (solid: " + ", dashed: ".join(solutions) + ")")
    figure_path = atomic_write(out / "burgers1d.png", lambda temporary: figure.savefig(temporary, dpi=110, format="png"))
    print(f"figure -> {figure_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
