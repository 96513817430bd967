"""SineNet-K (K = 1, 2, 4, 8) at equal parameters against neuraloperator's FNO on ns2d_vorticity.

    python benchmarks/sinenet.py [--scale cpu|full] [--epochs E]
        # table + benchmarks/results/sinenet.json + benchmarks/results/sinenet_rollout.png

The FNO protocol: vorticity trajectories saved every time unit (the spectral reference at the
case's recipe: 64^2, ETDRK4, dt 0.05), the frames at t = 1..10 in, the next 40 predicted
autoregressively.  Every contender learns one step from 10 frames (vorticity only) with the
per-field relative L2 loss, AdamW with cosine decay after a warm-up, the same epochs and batch;
they train in turns (one epoch each, the least-trained next), so the machine's load falls on
all alike.  SineNet-2/4/1 are matched to SineNet-8's parameter count through the channel
multiplier (SineNet-1 is the paper's equal-parameter U-Net), the FNO through its hidden width;
``sinenet8_zero_padding`` is SineNet-8 padded with zeros instead of circularly (the ablation).
The model kept is that of the best validation one-step error (the loop's rule); the rollout is
scored on the test trajectories.

Scales:
  ``full``  1,000 / 100 / 200 trajectories (train / validation / test) at 64^2, width 32, 4
            levels, 50 epochs: the paper-sized setting, for a GPU.
  ``cpu``   what 2 CPU cores allow (measured: SineNet-8 of width 16 at 64^2 costs 0.23 s per
            sample and step on one core, so one epoch of 1,000 trajectories x 40 windows would take
            2.6 hours): 40 / 10 / 20 trajectories stored at 32^2 (solved at 64^2), width 8, 3
            levels, 8 epochs.  Far from the paper's budget: the ranking is what it measures.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from operator_runs import TakeTurns, inference_ms, zero_padded

from pdekit import data, get_case
from pdekit.atomic import atomic_write, write_json
from pdekit.operators import FNO, SineNet
from pdekit.operators.sinenet import SineNetNetwork, matched_multiplier
from pdekit.solvers.models import parameter_count

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "sinenet.json"
FIGURE = OUT.with_name("sinenet_rollout.png")
DATA = ROOT / "data"
HISTORY, STEPS = 10, 40  # the FNO protocol
# the frames, and SineNet's position channels: cos and sin of the phase along each periodic axis
CHANNELS_IN = HISTORY + 2 * len(get_case("ns2d_vorticity").periodic_axes)
SCALES = {
    "full": {"train": 1000, "validation": 100, "test": 200, "grid": 64, "width": 32, "levels": 4, "epochs": 50,
             "batch_size": 32, "fno_modes": 16},
    "cpu": {"train": 40, "validation": 10, "test": 20, "grid": 32, "width": 8, "levels": 3, "epochs": 8,
            "batch_size": 16, "fno_modes": 12},
}
COMMON = {"history": HISTORY, "fields": "w", "loss": "l2", "schedule": "cosine", "lr": 1e-3, "weight_decay": 1e-5,
          "device": "auto", "progress": False}
PUBLISHED = {"fno2d": 1.28e-2, "fno3d": 8.6e-3, "unet": 2.45e-2}  # FNO paper, nu = 1e-3, 1,000 trajectories


def trajectories(split: str, n: int, grid: int) -> "data.xarray.Dataset":
    """``n`` ns2d_vorticity trajectories of ``split`` (solved once into data/), the frames t = 1..50."""
    path = DATA / f"ns2d_{split}_{n}_{grid}.h5"
    if not path.exists():
        print(f"generating {path} ({n} trajectories, spectral)", flush=True)
    data.generate(get_case("ns2d_vorticity"), n, out=path, split=split, grid=grid, solver="spectral", progress=False)
    return data.open(path).isel(t=slice(1, None)).load()


def fno_width(target: int, modes: int) -> int:
    """The FNO hidden width whose parameter count (as pdekit builds it) is nearest to ``target``."""
    meta = {"structure": {"dim": 2, "lower": [0.0, 0.0], "upper": [1.0, 1.0]}, "in_channels": HISTORY,
            "out_channels": 1}

    def count(width):
        return parameter_count(FNO(modes=modes, hidden_channels=width)._network(meta))

    return min(range(4, 129), key=lambda w: abs(count(w) - target))


def contenders(scale: dict, epochs: int) -> dict:
    common = dict(COMMON, epochs=epochs, batch_size=scale["batch_size"])
    width, levels = scale["width"], scale["levels"]
    modes = (("circular", "circular"),) * 2
    target = parameter_count(SineNetNetwork(CHANNELS_IN, 1, 2, modes, 8, width, 1.425, levels))
    operators = {f"sinenet{k}": SineNet(waves=k, width=width, levels=levels,
                                        mult=1.425 if k == 8 else matched_multiplier(target, k, width, CHANNELS_IN, 1,
                                                                                      levels=levels), **common)
                 for k in (1, 2, 4, 8)}
    operators["sinenet8_zero_padding"] = zero_padded(SineNet)(waves=8, width=width, levels=levels, **common)
    operators["fno"] = FNO(modes=scale["fno_modes"], hidden_channels=fno_width(target, scale["fno_modes"]),
                           **dict(common, weight_decay=1e-4))
    return operators


def report(operator, test) -> dict:
    metrics = operator.evaluate(test)
    errors = operator.rollout_errors(test)
    frames = np.moveaxis(data.OperatorData(test, outputs=["w"], inputs=[]).output_channels(), 2, 1)[:, :HISTORY]
    history = operator.history
    return {"rollout_rel_l2": metrics["rollout_rel_l2"], "rollout_rel_l2_last": metrics["rollout_rel_l2_last"],
            "one_step_rel_l2": metrics["rel_l2"], "params": operator.n_parameters, "epochs": len(history),
            "s_per_epoch": history[-1]["wall_time"] / len(history), "train_seconds": history[-1]["wall_time"],
            "infer_ms_per_step": inference_ms(operator, frames.reshape(len(frames), -1, *frames.shape[3:])),
            "rollout_rel_l2_per_step": errors.tolist(), "config": dataclasses.asdict(operator.config),
            "history": [{k: row[k] for k in ("epoch", "train_loss", "val_rel_l2", "wall_time")} for row in history]}


def figure(rows: dict):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, row in rows.items():
        errors = row["rollout_rel_l2_per_step"]
        ax.semilogy(range(1, len(errors) + 1), errors, label=f"{name} ({row['params'] / 1e3:.0f}k)")
    ax.set(xlabel="rollout step (time units after t = 10)", ylabel="relative L2 of w", title="ns2d_vorticity")
    ax.legend(fontsize=8)
    atomic_write(FIGURE, lambda temporary: fig.savefig(temporary, format="png", dpi=120))
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="cpu")
    parser.add_argument("--epochs", type=int, default=None, help="override the scale's epochs")
    args = parser.parse_args()
    scale = SCALES[args.scale]
    epochs = args.epochs or scale["epochs"]
    torch.manual_seed(0)
    train, validation, test = (trajectories(split, scale[split], scale["grid"])
                               for split in ("train", "validation", "test"))
    operators = contenders(scale, epochs)
    load_before, started = os.getloadavg(), time.perf_counter()
    turns = TakeTurns()
    turns.run({name: (lambda on_epoch, op=op: op.fit(train, validation=validation, on_epoch=on_epoch))
               for name, op in operators.items()})
    rows = {name: report(op, test) for name, op in operators.items()}
    result = {"ns2d_vorticity": rows,
              "setting": {"scale": args.scale, **scale, "epochs": epochs, "nu": 1e-3, "history": HISTORY,
                          "rollout_steps": STEPS, "times": "t = 1..50 (every time unit)", **COMMON},
              "published_rollout_rel_l2": PUBLISHED,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch_threads":
                          torch.get_num_threads(), "device": str(next(iter(operators.values())).device),
                          "load_before": load_before, "load_during": turns.load, "load_after": os.getloadavg(),
                          "wall_s": time.perf_counter() - started}}
    write_json(OUT, result)
    figure(rows)
    print(f"ns2d_vorticity, {args.scale} scale: {scale['train']} training trajectories at {scale['grid']}^2, "
          f"{epochs} epochs each (load {load_before[0]:.2f} before)")
    print(f"{'contender':<24}{'params':>9}{'one-step':>11}{'rollout':>11}{'last':>11}{'s/epoch':>9}{'ms/step':>9}")
    for name, row in rows.items():
        print(f"{name:<24}{row['params']:>9}{row['one_step_rel_l2']:>11.3e}{row['rollout_rel_l2']:>11.3e}"
              f"{row['rollout_rel_l2_last']:>11.3e}{row['s_per_epoch']:>9.1f}{row['infer_ms_per_step']:>9.2f}")
    print(f"-> {OUT}, {FIGURE}")


if __name__ == "__main__":
    main()
