"""The U-Net baseline on darcy2d (64 x 64): the first row of the operator table.

    python benchmarks/unet_darcy.py [--budget 900] [--width 16] [--depth 3] [--threads 1]
        # table + benchmarks/results/unet_darcy.json

Datasets (generated once into data/, reused while their settings are unchanged): 1,000
training, 100 validation and 100 test samples of the FNO Darcy family, FEniCS-solved.  The
U-Net trains on relative H1 with OneCycle until the time budget is spent (the schedule is laid
out for ``--epochs``); the model of the best validation epoch is kept.  Reported: test relative
L2 and H1, the train-test gap, parameters, seconds per epoch, inference milliseconds per sample
(batch 100) against the FEniCS solve of the same samples, and the machine load.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from pdekit import data, get_case
from pdekit.atomic import write_json
from pdekit.operators import UNet

OUT = Path(__file__).parent / "results" / "unet_darcy.json"
DATA = Path(__file__).resolve().parents[1] / "data"


def datasets(workers: int) -> dict[str, Path]:
    """The darcy2d splits at 64^2 (the same files as benchmarks/mgno.py: made once, reused)."""
    problem = get_case("darcy2d")
    files = {"train": ("darcy_train", 1000), "validation": ("darcy_valid", 100), "test": ("darcy_test", 100)}
    return {split: data.generate(problem, n, out=DATA / f"{name}.h5", split=split, grid=64, workers=workers,
                                 progress=False)
            for split, (name, n) in files.items()}


def inference_ms(operator, path: Path, repeats: int = 5) -> float:
    inputs = data.OperatorData(path).input_channels()[:100]
    operator.predict(inputs)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        operator.predict(inputs)
        times.append(time.perf_counter() - started)
    return 1e3 * float(np.median(times)) / len(inputs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=900.0, help="training seconds")
    parser.add_argument("--epochs", type=int, default=60, help="epochs the schedule is laid out for")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="processes generating the data")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady timings on shared cores)")
    args = parser.parse_args()
    paths = datasets(args.workers)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    operator = UNet(width=args.width, depth=args.depth, epochs=args.epochs, batch_size=20, lr=3e-3, loss="h1",
                    schedule="onecycle", time_budget=args.budget, device="cpu")
    operator.fit(paths["train"], validation=paths["validation"])
    test, train = operator.evaluate(paths["test"]), operator.evaluate(paths["train"])
    epochs = operator.history[-1]["epoch"]
    fenics = float(np.median(data.open(paths["test"])["solve_seconds"].values))
    row = {"rel_l2": test["rel_l2"], "rel_h1": test["rel_h1"], "train_rel_l2": train["rel_l2"],
           "train_test_gap": test["rel_l2"] - train["rel_l2"], "params": operator.n_parameters,
           "epochs": epochs, "s_per_epoch": operator.history[-1]["wall_time"] / epochs,
           "wall_time_s": operator.wall_time, "infer_ms_per_sample": inference_ms(operator, paths["test"]),
           "config": {"width": args.width, "depth": args.depth, "epochs_planned": args.epochs, "budget_s": args.budget,
                      "loss": "h1", "schedule": "onecycle", "lr": 3e-3, "batch_size": 20},
           "best_epoch": int(np.argmin([r["val_rel_l2"] for r in operator.history])) + 1}
    result = {"darcy2d": {"unet": row, "fenics_ms_per_sample": 1e3 * fenics},
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads":
                          torch.get_num_threads(), "load_before": load_before, "load_after": os.getloadavg()}}
    write_json(OUT, result)
    print(f"U-Net (width {args.width}, depth {args.depth}, {row['params']} parameters) on darcy2d 64x64, "
          f"{epochs} epochs in {row['wall_time_s']:.0f} s (load {load_before[0]:.2f}):")
    print(f"  test rel L2 {row['rel_l2']:.3e}, rel H1 {row['rel_h1']:.3e}; train rel L2 {row['train_rel_l2']:.3e}")
    print(f"  {row['s_per_epoch']:.1f} s/epoch; inference {row['infer_ms_per_sample']:.2f} ms/sample vs "
          f"FEniCS {1e3 * fenics:.0f} ms/sample")
    print(f"-> {OUT}")


if __name__ == "__main__":
    main()
