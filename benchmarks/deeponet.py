"""DeepONet and the physics-informed DeepONet against the papers' figures, and against DeepXDE.

Sections:

* ``antiderivative``: the DeepONet repository's recipe on unaligned data (GRF length scale 0.2,
  m = 100 sensors, 10,000 training triplets, one query per function; branch [100, 40, 40], trunk
  [1, 40, 40], ReLU, Adam from 1e-3, full batch, 50,000 iterations, the best model by training
  loss), with one change: the learning rate decays to 0 on a cosine (the repository keeps 1e-3).
  Its README run ends at test MSE 9.27e-7 (100,000 test triplets); here the test set is 1,000
  functions at all 991 points of their grid.  pdekit only.
* ``peer``: the same network and optimiser on aligned data in DeepXDE's own antiderivative
  example setting (150 functions x 100 points, full batch, 10,000 iterations): pdekit's DeepONet
  against DeepXDE's ``DeepONetCartesianProd`` / ``TripleCartesianProd``.  Iterations per second
  from alternating rounds (fresh models, every contender once per round, the order flipped each
  round; the median per contender), then each contender's test MSE after the full run.
* ``dr_deeponet``, ``dr_pi_deeponet``: diffusion_reaction1d (D = k = 0.01, f from the GRF, 100
  sensors): a DeepONet trained on FEniCS data (each step: 100 functions at 1,000 shared grid
  points) and a physics-informed DeepONet trained without solved data (each step: 100 functions
  at 500 interior, 250 boundary and 250 initial collocation points, shared; the residual and the
  conditions weighted 1), both [., 50 x 5] tanh, Adam from 1e-3 decaying by 0.9 every 2,000
  iterations as in the paper (cut short on the CPU), scored by the mean relative L2 error over
  100 test functions on the 100 x 100 grid (the PI-DeepONet code reports 9.71e-3 and 5.33e-3
  after 120,000 iterations on 5,000 functions).

    python benchmarks/deeponet.py                        # every section, CPU-scaled (see SCALES)
    python benchmarks/deeponet.py --scale full           # the papers' sizes (a GPU run)
    python benchmarks/deeponet.py --sections peer        # one section; the others are kept
    (sections: antiderivative, peer, dr_deeponet, dr_pi_deeponet; separate processes may run
    sections at once: each merges its result into the file when it is done)

Data are generated into data/ when missing (``pdekit data generate``; FEniCS in a subprocess, so
that this process may compile).  Prints a table and writes benchmarks/results/deeponet.json, with
the machine's load average and the torch threads used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from timing import alternating_rounds, load_now

os.environ.setdefault("DDE_BACKEND", "pytorch")

from pdekit import data  # noqa: E402
from pdekit.atomic import write_json  # noqa: E402
from pdekit.operators import DeepONet, PIDeepONet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "deeponet.json"
DATA = ROOT / "data"
PUBLISHED = {"antiderivative_test_mse": 9.27e-7, "dr_deeponet_rel_l2": 9.71e-3, "dr_pi_deeponet_rel_l2": 5.33e-3}

# sizes: "cpu" fits minutes on two shared cores, "full" is the papers' (the antiderivative recipe is the same)
SCALES = {
    "cpu": {"anti_iterations": 50000, "peer_iterations": 10000, "rounds": 5, "round_iterations": 1000,
            "dr_functions": 1000, "dr_iterations": 30000, "pi_functions": 1000, "pi_iterations": 30000},
    "full": {"anti_iterations": 50000, "peer_iterations": 10000, "rounds": 5, "round_iterations": 1000,
             "dr_functions": 5000, "dr_iterations": 120000, "pi_functions": 5000, "pi_iterations": 120000},
}
ANTI = dict(sensors=100, basis=40, branch_width=40, branch_depth=1, trunk_width=40, trunk_depth=1, activation="relu",
            lr=1e-3, schedule="constant", weight_decay=0.0, loss="mse")
DR = dict(sensors=100, basis=50, branch_width=50, branch_depth=4, trunk_width=50, trunk_depth=4, activation="tanh",
          trunk_output_activation=False, lr=1e-3, schedule="step", gamma=0.9, weight_decay=0.0, loss="mse")


def generate(case: str, n: int, name: str, resolution: int, split: str = "train", workers: int = 1) -> Path:
    """A dataset in data/, made by ``pdekit data generate`` when missing (a subprocess: FEniCS stays out)."""
    path = DATA / name
    command = [sys.executable, "-m", "pdekit.cli", "data", "generate", case, "--n", str(n), "--out", str(path),
               "--resolution", str(resolution), "--split", split, "--workers", str(workers), "--quiet"]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return path


def per_second(history, skip: int, steps_per_epoch: int = 1) -> float:
    """Iterations per second from an operator's history, after ``skip`` warm-up epochs."""
    first, last = history[skip - 1], history[-1]
    return (last["epoch"] - first["epoch"]) * steps_per_epoch / (last["wall_time"] - first["wall_time"])


# -- antiderivative ------------------------------------------------------------------------------
def antiderivative(scale: dict, device: str) -> dict:
    train = generate("antiderivative", 10000, "anti_train.h5", 991)
    test = generate("antiderivative", 1000, "anti_test.h5", 991, split="test")
    iterations = scale["anti_iterations"]
    started, load = time.perf_counter(), load_now()
    settings = {**ANTI, "schedule": "cosine", "warmup": 0.0}
    operator = DeepONet(**settings, points_per_sample=1, epochs=iterations, batch_size=10000, keep="best",
                        compile=True, device=device, progress=False).fit(train)
    metrics = operator.evaluate(test)
    return {"train": "10,000 functions, one query point each (grid of 991 nodes, sensors every 10th)",
            "schedule": "Adam (AdamW, weight decay 0), lr 1e-3 decaying to 0 on a cosine",
            "test": "1,000 functions x 991 points", "iterations": iterations, "test_mse": metrics["mse"],
            "rel_l2": metrics["rel_l2"], "best_epoch": int(np.argmin([r["train_loss"] for r in operator.history])) + 1,
            "iters_per_s": per_second(operator.history, 100), "seconds": time.perf_counter() - started,
            "load_before": load, "load_after": load_now(), "published_test_mse": PUBLISHED["antiderivative_test_mse"],
            "goal_met": metrics["mse"] <= PUBLISHED["antiderivative_test_mse"]}


def peer(scale: dict, device: str) -> dict:
    from pdekit.interop.deepxde import deepxde

    dde = deepxde()
    train = data.OperatorData(generate("antiderivative", 150, "anti_aligned150.h5", 100))
    test = data.OperatorData(generate("antiderivative", 1000, "anti_test.h5", 991, split="test"))
    branch = lambda d: d.input_channels()[:, 0, :: max(1, (len(d.coords["x"]) - 1) // 99)]  # noqa: E731 - 100 sensors
    x_train = (branch(train).astype(np.float32), train.coords["x"][:, None].astype(np.float32))
    y_train = train.outputs["u"][..., 0].astype(np.float32)
    x_test = (branch(test).astype(np.float32), test.coords["x"][:, None].astype(np.float32))
    y_test = test.outputs["u"][..., 0]
    n = len(train)

    def run_pdekit(iterations, compiled, seed):
        operator = DeepONet(**ANTI, epochs=iterations, batch_size=n, keep="last", compile=compiled, seed=seed,
                            device=device, progress=False).fit(train)
        return per_second(operator.history, 100), operator.evaluate(test)["mse"]

    def run_deepxde(iterations, seed):
        dde.config.set_random_seed(seed)
        few = (x_train[0][:10], x_train[1])  # DeepXDE tests at every display: keep that out of the timing
        model = dde.Model(dde.data.TripleCartesianProd(x_train, y_train, few, y_train[:10]),
                          dde.nn.DeepONetCartesianProd([100, 40, 40], [1, 40, 40], "relu", "Glorot normal"))
        model.compile("adam", lr=ANTI["lr"])
        model.train(iterations=100, display_every=10**9, verbose=0)
        start = time.perf_counter()
        model.train(iterations=iterations - 100, display_every=10**9, verbose=0)
        rate = (iterations - 100) / (time.perf_counter() - start)
        return rate, float(np.mean((model.predict(x_test) - y_test) ** 2))

    contenders = {"pdekit": lambda it, s: run_pdekit(it, True, s), "pdekit_eager": lambda it, s: run_pdekit(it, False, s),
                  "deepxde": run_deepxde}
    run_pdekit(200, True, 0)  # compile once (cached for every later model)
    load = load_now()
    rounds = alternating_rounds({name: lambda r, run=run: run(scale["round_iterations"], r)[0]
                                 for name, run in contenders.items()}, scale["rounds"])
    result = {"data": f"aligned: {n} functions x 100 points (DeepXDE's example setting); test: 1,000 functions x 991 "
                      "points", "iterations": scale["peer_iterations"], "rounds": scale["rounds"],
              "round_iterations": scale["round_iterations"], "threads": torch.get_num_threads(), "load_before": load,
              "load_rounds": rounds["load"]}
    for name in contenders:  # the full runs, for the test error (and their own rate)
        rate, mse = contenders[name](scale["peer_iterations"], 0)
        result[name] = {"iters_per_s": rounds[name]["median"], "rounds_iters_per_s": rounds[name]["rounds"],
                        "test_mse": mse, "full_run_iters_per_s": rate}
    result["load_after"] = load_now()
    result["speedup"] = result["pdekit"]["iters_per_s"] / result["deepxde"]["iters_per_s"]
    return result


# -- diffusion-reaction --------------------------------------------------------------------------
def dr_data(scale: dict, training: bool = True):
    """The diffusion-reaction datasets: training (FEniCS, two workers; ``None`` unless ``training``),
    validation and test."""
    functions = scale["dr_functions"]
    name = "dr_train.h5" if functions == 1000 else f"dr_train{functions}.h5"
    return (generate("diffusion_reaction1d", functions, name, 100, workers=2) if training else None,
            generate("diffusion_reaction1d", 100, "dr_validation.h5", 100, split="validation"),
            generate("diffusion_reaction1d", 100, "dr_test.h5", 100, split="test"))


BATCH = 100  # functions per step


def decay(functions: int) -> int:
    """Epochs between decays of the learning rate by 0.9: the paper's every 2,000 iterations."""
    return max(1, round(2000 / (functions // BATCH)))


def dr_deeponet(scale: dict, device: str) -> dict:
    train, validation, test = dr_data(scale)
    functions, iterations = scale["dr_functions"], scale["dr_iterations"]
    started, load = time.perf_counter(), load_now()
    operator = DeepONet(**DR, points_per_sample=1000, shared_points=True, batch_size=BATCH,
                        epochs=iterations * BATCH // functions, step_size=decay(functions), compile=True,
                        device=device, progress=False).fit(train, validation=validation)
    metrics = operator.evaluate(test)
    return {"rel_l2": metrics["rel_l2"], "mse": metrics["mse"], "functions": functions, "iterations": iterations,
            "batch": f"{BATCH} functions x 1,000 shared points", "test": "100 functions x 100 x 100",
            "reference": REFERENCE, "iters_per_s": per_second(operator.history, 2, functions // BATCH),
            "seconds": time.perf_counter() - started, "load_before": load, "load_after": load_now(),
            "published_rel_l2": PUBLISHED["dr_deeponet_rel_l2"],
            "goal_met": metrics["rel_l2"] <= PUBLISHED["dr_deeponet_rel_l2"]}


def dr_pi_deeponet(scale: dict, device: str) -> dict:
    from pdekit import get_case

    _, validation, test = dr_data(scale, training=False)  # the physics-informed one trains without solved data
    functions, iterations = scale["pi_functions"], scale["pi_iterations"]
    started, load = time.perf_counter(), load_now()
    operator = PIDeepONet(**DR, n_functions=functions, n_interior=500, n_boundary=250, n_initial=250,
                          shared_points=True, batch_size=BATCH, epochs=iterations * BATCH // functions,
                          step_size=decay(functions), device=device, progress=False)
    operator.fit(problem=get_case("diffusion_reaction1d"), validation=validation)
    metrics = operator.evaluate(test)
    return {"rel_l2": metrics["rel_l2"], "mse": metrics["mse"], "functions": functions, "iterations": iterations,
            "batch": f"{BATCH} functions x (500 interior + 250 boundary + 250 initial) shared collocation points",
            "solved_data_used": "none for training; the validation set (100 functions) picks the best epoch",
            "test": "100 functions x 100 x 100", "reference": REFERENCE,
            "iters_per_s": per_second(operator.history, 2, functions // BATCH),
            "seconds": time.perf_counter() - started, "load_before": load, "load_after": load_now(),
            "published_rel_l2": PUBLISHED["dr_pi_deeponet_rel_l2"],
            "goal_met": metrics["rel_l2"] <= PUBLISHED["dr_pi_deeponet_rel_l2"]}


REFERENCE = ("FEniCS P2, 64 cells, Crank-Nicolson dt ~5e-3, saved on 100 x 100; relative difference to P2, 256 cells, "
             "dt 1e-3: 4.4e-5 (seed 0)")
SECTIONS = {"antiderivative": antiderivative, "peer": peer, "dr_deeponet": dr_deeponet, "dr_pi_deeponet": dr_pi_deeponet}


def table(result: dict) -> str:
    lines = [f"{'measure':<52} {'pdekit':>11} {'other':>11} {'published':>10}"]
    a = result.get("antiderivative", {})
    if "unaligned" in a:
        u = a["unaligned"]
        lines.append(f"{'antiderivative unaligned test MSE (' + str(u['iterations']) + ' it)':<52} "
                     f"{u['test_mse']:>11.3e} {'':>11} {u['published_test_mse']:>10.2e}")
    if "deepxde" in a:
        lines.append(f"{'antiderivative aligned it/s (median of rounds)':<52} {a['pdekit']['iters_per_s']:>11.1f} "
                     f"{a['deepxde']['iters_per_s']:>11.1f} {'(deepxde)':>10}")
        lines.append(f"{'antiderivative aligned test MSE':<52} {a['pdekit']['test_mse']:>11.3e} "
                     f"{a['deepxde']['test_mse']:>11.3e} {'(deepxde)':>10}")
    d = result.get("diffusion_reaction1d", {})
    for name in ("deeponet", "pi_deeponet"):
        if name in d:
            lines.append(f"{'diffusion_reaction1d ' + name + ' rel L2 (' + str(d[name]['iterations']) + ' it)':<52} "
                         f"{d[name]['rel_l2']:>11.3e} {'':>11} {d[name]['published_rel_l2']:>10.2e}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=list(SCALES), default="cpu")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--iterations", type=int,
                        help="iterations of the diffusion-reaction sections (default: the scale's)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady timings on shared cores)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else \
        ("cpu" if args.device == "auto" else args.device)
    run = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "device": device,
           "threads": args.threads, "scale": args.scale}
    scale = dict(SCALES[args.scale], **({"dr_iterations": args.iterations, "pi_iterations": args.iterations}
                                         if args.iterations else {}))
    for name in args.sections.split(","):
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {name!r}; valid: {', '.join(SECTIONS)}")
        found = {**SECTIONS[name](scale, device), "scale": args.scale}
        # read again right before writing: sections run by other processes meanwhile are kept
        result = json.loads(args.out.read_text()) if args.out.exists() else {}
        result.update(run)
        if name in ("antiderivative", "peer"):
            result.setdefault("antiderivative", {}).update({"unaligned": found} if name == "antiderivative" else found)
        else:
            result.setdefault("diffusion_reaction1d", {})[name.removeprefix("dr_")] = found
        write_json(args.out, result)  # after every section: a long run keeps what it measured
        print(f"{name}: done (load {load_now()})", flush=True)
    print(table(result))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
