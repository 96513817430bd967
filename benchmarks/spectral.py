"""The spectral reference: cost and accuracy of the FNO Navier-Stokes data, and FEniCS beside it.

(a) cost: ns2d_vorticity in the FNO setting (64 x 64, t to 50, saved every time unit) with the
    case's spectral recipe, batches of 1, 10 and 100 samples (and 1000 on a GPU): wall-clock per
    trajectory.
(b) accuracy of the recipe: the same samples solved finer (twice the grid, a quarter of the time
    step, float64): relative L2 error of w on the stored 64^2 grid at every save; the recipe in
    float64 too, to separate precision from resolution.
(c) generation: ``pdekit.data.generate(ns2d_vorticity, 1000, solver="spectral")`` end to end,
    HDF5 file included.  Goal: under 30 minutes on a 2-core CPU.
(d) FEniCS against spectral at matched accuracy on a problem both solve: periodic viscous Burgers
    (nu = 0.01) from Whittle-Matern initial values, against a very fine spectral solve; per method
    a ladder of resolutions, and for each target error the cheapest time per sample that meets it
    (FEniCS one sample at a time, P2 Crank-Nicolson; spectral a batch of 16).

    python benchmarks/spectral.py                       # everything (an hour or more on 2 CPU cores)
    python benchmarks/spectral.py --only cost --device cuda --out benchmarks/results/spectral_gpu.json
    python benchmarks/spectral.py --quick               # a smoke run (t to 2, few samples; numbers not meaningful)
Prints tables and writes benchmarks/results/spectral.json (--quick: only with --out); with --only,
the other parts are kept from the existing file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from pdekit import Equation, Initial, Interval, Periodic, Problem, TimeInterval, WhittleMaternField, get_case
from pdekit.atomic import write_json
from pdekit.pde_cases import recipe
from pdekit.reference import spectral
from pdekit.reference.spectral import SpectralSettings

RESULTS = Path(__file__).parent / "results"
PARTS = ("cost", "accuracy", "generate", "fenics")
BATCHES = (1, 10, 100)
TARGETS = (1e-2, 1e-3, 1e-4, 1e-5)
FENICS_LADDER = ((16, 1e-2), (32, 5e-3), (64, 2.5e-3), (128, 1.25e-3), (256, 6.25e-4), (512, 3.125e-4))  # P2 cells, dt
SPECTRAL_LADDER = ((16, 1e-2), (24, 1e-2), (32, 1e-2), (48, 5e-3), (64, 5e-3), (96, 2.5e-3), (128, 2.5e-3),
                   (192, 1.25e-3), (256, 1.25e-3))  # n, dt


def machine(device: str) -> dict:
    load = os.getloadavg()
    return {"cpu": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
            "device": str(SpectralSettings(device=device).torch_device()),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load_average_at_start": [round(x, 2) for x in load],
            "note": "a load average above the core count means other jobs shared the CPU: compare only "
                    "numbers from one idle run"}


def fno(quick: bool) -> tuple[Problem, SpectralSettings]:
    problem = get_case("ns2d_vorticity")
    if quick:
        problem = dataclasses.replace(problem, time=TimeInterval(0.0, 2.0))
    settings = SpectralSettings.from_options(**recipe(problem, "spectral"))
    return problem, dataclasses.replace(settings, saves=int(problem.time.t1))


def data_grid(problem, t) -> np.ndarray:
    axis = np.arange(64) / 64
    space = np.stack([a.ravel() for a in np.meshgrid(axis, axis, indexing="ij")], axis=1)
    return np.concatenate([space, np.full((len(space), 1), t)], axis=1)


def errors_over_time(solutions, references, problem) -> np.ndarray:
    """``(samples, saves)`` relative L2 errors of w on the 64^2 data grid."""
    out = np.zeros((len(solutions), len(references[0].times)))
    for i, (a, b) in enumerate(zip(solutions, references)):
        for k, t in enumerate(b.times):
            points = data_grid(problem, t)
            va, vb = a(points)[:, 0], b(points)[:, 0]
            out[i, k] = np.linalg.norm(va - vb) / np.linalg.norm(vb)
    return out


def cost(args) -> dict:
    problem, settings = fno(args.quick)
    settings = dataclasses.replace(settings, device=args.device)
    rows = []
    on_gpu = settings.torch_device().type == "cuda"
    for batch in (1, 4) if args.quick else BATCHES + ((1000,) if on_gpu else ()):
        samples = problem.sample_inputs(batch, seed=0)
        started = time.perf_counter()
        solutions = spectral.solve_batch(samples, dataclasses.replace(settings, batch=batch))
        wall = time.perf_counter() - started
        rows.append({"batch": batch, "wall_s": wall, "per_trajectory_s": wall / batch,
                     "steps": solutions[0].config["steps"], "time_step": solutions[0].config["time_step"],
                     "load_average_after": round(os.getloadavg()[0], 2)})
        print(f"cost: batch {batch:>4}: {wall:8.1f} s, {wall / batch:7.2f} s per trajectory", flush=True)
    return {"problem": problem.name, "t1": problem.time.t1, "settings": dataclasses.asdict(settings), "rows": rows}


def accuracy(args) -> dict:
    problem, settings = fno(args.quick)
    settings = dataclasses.replace(settings, device=args.device)
    samples = problem.sample_inputs(2 if args.quick else 4, seed=0)
    recipe_solutions = spectral.solve_batch(samples, settings)
    double = spectral.solve_batch(samples, dataclasses.replace(settings, dtype="float64"))
    finer = dataclasses.replace(settings, n=2 * settings.n, dt=settings.dt / 4, dtype="float64")
    started = time.perf_counter()
    fine = spectral.solve_batch(samples, finer)
    result = {"samples": len(samples), "recipe": dataclasses.asdict(settings), "finer": dataclasses.asdict(finer),
              "finer_wall_s": time.perf_counter() - started, "times": fine[0].times.tolist()}
    for name, solutions, reference in (("recipe_vs_finer", recipe_solutions, fine),
                                       ("recipe_in_float64_vs_finer", double, fine),
                                       ("recipe_vs_recipe_in_float64", recipe_solutions, double)):
        errors = errors_over_time(solutions, reference, problem)
        result[name] = {"max_over_samples": errors.max(axis=0).tolist(), "mean_over_samples": errors.mean(axis=0).tolist(),
                        "max_at_t1": float(errors[:, -1].max()), "max_overall": float(errors.max())}
        print(f"accuracy: {name}: max rel L2 of w over samples and saves {errors.max():.2e} (at t1 {errors[:, -1].max():.2e})",
              flush=True)
    return result


def generate(args) -> dict:
    from pdekit import data

    problem, settings = fno(args.quick)
    count = 8 if args.quick else args.trajectories
    folder = Path(tempfile.mkdtemp(prefix="pdekit-spectral-bench-"))
    try:
        started = time.perf_counter()
        out = data.generate(problem, count, out=folder / "ns.h5", solver="spectral", options={"device": args.device},
                            progress=True)
        wall = time.perf_counter() - started
        size = out.stat().st_size
        attributes = data.read_attributes(out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"generate: {count} trajectories in {wall:.0f} s ({wall / 60:.1f} min), {size / 2**20:.0f} MiB", flush=True)
    return {"trajectories": count, "wall_s": wall, "minutes": wall / 60, "file_mib": size / 2**20,
            "failed": len(attributes.get("failed", [])), "solver_options": attributes["solver_options"],
            "goal_minutes": 30, "load_average_after": round(os.getloadavg()[0], 2)}


def burgers_family() -> Problem:
    """Periodic viscous Burgers (nu = 0.01) on [0, 1], t to 0.5, from Whittle-Matern initial values."""
    family = WhittleMaternField("u0", alpha=2.5, tau=7.0, boundary="periodic", modes=32)
    geometry = Interval(0.0, 1.0)
    return Problem(name="burgers_periodic", geometry=geometry, time=TimeInterval(0.0, 0.5),
                   params={"nu": 0.01, "u0": family.draw(geometry, 0)["u0"]},
                   equation=Equation(flux=lambda u, du, x, t, p: [0.5 * u**2 - p.nu * du[0]]),
                   conditions=[Periodic(0), Initial(lambda x, t, p: p.u0(x))], input_family=family)


def final_errors(solutions, truths, problem) -> np.ndarray:
    x = np.linspace(0, 1, 1024, endpoint=False)
    points = np.column_stack([x, np.full_like(x, problem.time.t1)])
    return np.array([np.linalg.norm(a(points)[:, 0] - b(points)[:, 0]) / np.linalg.norm(b(points)[:, 0])
                     for a, b in zip(solutions, truths)])


def fenics_vs_spectral(args) -> dict:
    problem = burgers_family()
    samples = problem.sample_inputs(2 if args.quick else 8, seed=0)
    truth = spectral.solve_batch(samples, n=1024, dt=1e-4, saves=1, device=args.device)
    rows = {"spectral": [], "fenics": []}
    for n, dt in SPECTRAL_LADDER[:2] if args.quick else SPECTRAL_LADDER:
        batch = spectral.solve_batch(problem.sample_inputs(16, seed=0), n=n, dt=dt, saves=1, device=args.device)
        per_sample = batch[0].wall_time  # one batch of 16: its wall time over 16
        errors = final_errors(batch[: len(samples)], truth, problem)
        rows["spectral"].append({"n": n, "dt": dt, "per_sample_s": per_sample, "max_rel_l2": float(errors.max())})
        print(f"fenics: spectral n={n:<4} dt={dt:<8} {per_sample:8.3f} s/sample, max rel L2 {errors.max():.2e}", flush=True)
    from pdekit.reference import fenics

    for cells, dt in FENICS_LADDER[:2] if args.quick else FENICS_LADDER:
        started = time.perf_counter()
        solutions = [fenics.solve(s, degree=2, cells=cells, dt=dt, saves=1, cache=False) for s in samples]
        per_sample = (time.perf_counter() - started) / len(samples)
        errors = final_errors(solutions, truth, problem)
        rows["fenics"].append({"cells": cells, "degree": 2, "dt": dt, "per_sample_s": per_sample,
                               "max_rel_l2": float(errors.max())})
        print(f"fenics: FEniCS P2 cells={cells:<4} dt={dt:<8} {per_sample:8.3f} s/sample, max rel L2 {errors.max():.2e}",
              flush=True)
    matched = []
    for target in TARGETS:
        best = {name: min((r["per_sample_s"] for r in ladder if r["max_rel_l2"] <= target), default=None)
                for name, ladder in rows.items()}
        matched.append({"target_rel_l2": target, **{f"{k}_s": v for k, v in best.items()},
                        "fenics_over_spectral": best["fenics"] / best["spectral"] if None not in best.values() else None})
    return {"problem": "periodic viscous Burgers, nu 0.01, t to 0.5, Whittle-Matern u0 (alpha 2.5, tau 7)",
            "samples": len(samples), "truth": {"n": 1024, "dt": 1e-4}, "ladders": rows, "matched": matched}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small settings, a smoke run")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; on a busy machine 1 is "
                                                     "much faster, as threaded FFTs wait for cores)")
    parser.add_argument("--trajectories", type=int, default=1000, help="trajectories generated in part (c)")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--out", type=Path, help=f"JSON file (default {RESULTS / 'spectral.json'}; none with --quick)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or (None if args.quick else RESULTS / "spectral.json")
    parts = args.only or PARTS
    result = json.loads(out.read_text()) if args.only and out is not None and out.exists() else {}
    result[f"machine{'_' + '_'.join(parts) if args.only else ''}"] = machine(args.device)
    runs = {"cost": cost, "accuracy": accuracy, "generate": generate, "fenics": fenics_vs_spectral}
    for part in parts:
        started = time.perf_counter()
        result[part] = runs[part](args)
        result[part]["part_wall_s"] = time.perf_counter() - started
        if out is not None:
            write_json(out, result)
    goals = result.setdefault("goals", {})
    if "generate" in result and not args.quick:
        goals[f"{result['generate']['trajectories']} FNO trajectories generated in under 30 minutes"] = \
            result["generate"]["minutes"] < 30
    for goal, met in goals.items():
        print(f"goal {'met' if met else 'NOT met'}: {goal}")
    if out is not None:
        write_json(out, result)
        print(f"-> {out}")


if __name__ == "__main__":
    main()
