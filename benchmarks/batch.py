"""Batch throughput: a sweep of 16 short PINN runs with 1 and 2 local workers, and dataset
generation with 1 and 2 MPI ranks.

    python benchmarks/batch.py [--rounds 2]        # table + benchmarks/results/batch.json

Contenders alternate (rounds of 1 then 2 workers, 1 then 2 ranks) so that machine noise hits
both alike; the load average is recorded before and after.  Every run is a fresh process, as in
a real sweep, so the per-run start-up (importing torch and pdekit) is part of the cost.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pdekit.atomic import write_json

OUT = Path(__file__).parent / "results" / "batch.json"

SWEEP = """
command = "solve"
case = "burgers1d"
solver = "pinn"
[options]
adam_steps = 200
log_every = 50
device = "cpu"
[output]
resolution = 64
times = 11
[sweep]
grid = {{ "options.lr" = [1e-3, 2e-3, 3e-3, 5e-3] }}
seeds = [0, 1, 2, 3]
dir = "{name}"
"""


def sweep_seconds(workers: int) -> float:
    """Wall time of a fresh 16-run sweep with ``workers`` local processes."""
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "s.toml"
        config.write_text(SWEEP.format(name="s"))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "pdekit", "sweep", str(config), "--workers", str(workers),
                               "--quiet"], capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(done.stderr)
        return elapsed


def generation_seconds(ranks: int, n: int) -> float:
    """Wall time of ``pdekit data generate darcy2d --n n`` under ``mpirun -n ranks`` (1: no mpirun)."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "pdekit", "data", "generate", "darcy2d", "--n", str(n), "--out",
                   str(Path(folder) / "d.h5"), "--quiet"]
        if ranks > 1:
            root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
            command = ["mpirun", *root, "--oversubscribe", "-n", str(ranks), *command]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ))
        elapsed = time.perf_counter() - started
        if done.returncode:
            raise RuntimeError(done.stderr[-2000:])
        return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--samples", type=int, default=100, help="darcy2d samples per generation run")
    args = parser.parse_args()
    load_before = os.getloadavg()
    sweeps, generations = {1: [], 2: []}, {1: [], 2: []}
    for _ in range(args.rounds):
        for workers in (1, 2):
            sweeps[workers].append(sweep_seconds(workers))
        if shutil.which("mpirun"):
            for ranks in (1, 2):
                generations[ranks].append(generation_seconds(ranks, args.samples))
    load_after = os.getloadavg()
    runs_per_s = {w: 16 / statistics.median(t) for w, t in sweeps.items()}
    result = {"sweep_16_pinn_runs": {"runs_per_s_1_worker": runs_per_s[1], "runs_per_s_2_workers": runs_per_s[2],
                                     "speedup": runs_per_s[2] / runs_per_s[1], "seconds": sweeps}}
    if generations[1]:
        rate = {r: args.samples / statistics.median(t) for r, t in generations.items()}
        result["data_generation_darcy2d"] = {"samples": args.samples, "samples_per_s_1_rank": rate[1],
                                             "samples_per_s_2_ranks": rate[2], "speedup": rate[2] / rate[1],
                                             "seconds": generations}
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": load_before,
                         "load_after": load_after, "rounds": args.rounds}
    write_json(OUT, result)
    print(f"median of {args.rounds} alternating rounds (load {load_before[0]:.2f} -> {load_after[0]:.2f}):")
    print(f"  sweep of 16 PINN runs: {runs_per_s[1]:.3f} runs/s with 1 worker, {runs_per_s[2]:.3f} with 2 "
          f"({runs_per_s[2] / runs_per_s[1]:.2f}x)")
    if generations[1]:
        generation = result["data_generation_darcy2d"]
        print(f"  darcy2d generation: {generation['samples_per_s_1_rank']:.2f} samples/s with 1 rank, "
              f"{generation['samples_per_s_2_ranks']:.2f} with 2 ({generation['speedup']:.2f}x)")
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
