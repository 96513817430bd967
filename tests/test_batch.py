"""Batch jobs: user problems everywhere, runs from configs, sweeps and their executors, preemption,
MPI dataset generation, data-parallel training under torchrun, collected tables."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from pdekit.batch import preemption
from pdekit.batch.collect import collect
from pdekit.batch.run import execute
from pdekit.cli import main
from pdekit.pde_cases import load_problem

PROBLEMS = textwrap.dedent('''
    import pdekit
    from pdekit import math as pm


    def heat(kappa=0.1):
        return pdekit.Problem(
            name="myheat", geometry=pdekit.Interval(0, 1), time=pdekit.TimeInterval(0, 0.5), params={"kappa": kappa},
            equation=pdekit.Equation(flux=lambda u, du, x, t, p: [-p.kappa * du[0]]),
            conditions=[pdekit.Dirichlet(0.0), pdekit.Initial(lambda x, t, p: pm.sin(pm.pi * x[0]))],
            exact=lambda x, t, p: pm.exp(-p.kappa * pm.pi**2 * t) * pm.sin(pm.pi * x[0]))


    def slope(scale=1.0):
        """u' = scale f, u(0) = 0: an operator-learning problem with an exact solution."""
        family = pdekit.GaussianRandomField("f", length_scale=0.3, periodic=False, points=200)
        geometry = pdekit.Interval(0, 1)
        return pdekit.Problem(
            name="myslope", geometry=geometry, params={"f": family.draw(geometry, 0)["f"], "scale": scale},
            equation=pdekit.Equation(flux=lambda u, du, x, t, p: [u], source=lambda u, du, x, t, p: p.scale * p.f(x)),
            conditions=[pdekit.Dirichlet(0.0, on="left")], input_family=family,
            exact=lambda x, t, p: p.scale * p.f.cumulative_integral(x[0]))
''')

PINN_OPTIONS = {"adam_steps": 40, "log_every": 10, "width": 8, "depth": 2, "n_interior": 200, "n_boundary": 40,
                "n_initial": 40, "device": "cpu"}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "problems.py").write_text(PROBLEMS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args) -> int:
    return main([str(a) for a in args])


def pdekit_command(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pdekit", *map(str, args)], capture_output=True, text=True,
                          timeout=600, **kwargs)


def toml(path: Path, config: dict, sweep: dict | None = None) -> Path:
    """A small TOML writer for the flat configs of these tests."""
    def value(v):
        return json.dumps(v) if not isinstance(v, bool) else str(v).lower()

    lines = [f"{k} = {value(v)}" for k, v in config.items() if not isinstance(v, dict)]
    for table, entries in config.items():
        if isinstance(entries, dict):
            lines += [f"[{table}]"] + [f"{k} = {value(v)}" for k, v in entries.items()]
    for table, entries in (sweep or {}).items():
        if table == "sweep":
            lines.append("[sweep]")
            for k, v in entries.items():
                if isinstance(v, dict):
                    lines.append(f"{k} = {{ " + ", ".join(f'"{a}" = {value(b)}' for a, b in v.items()) + " }")
                else:
                    lines.append(f"{k} = {value(v)}")
        else:
            lines += [f"[{table}]"] + [f"{k} = {value(v)}" for k, v in entries.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- user problems -----------------------------------------------------------------------------
def test_user_factories_load_from_files_and_modules(workdir, monkeypatch):
    assert load_problem("problems.py:heat", kappa=0.3).params["kappa"] == 0.3
    monkeypatch.syspath_prepend(str(workdir))
    assert load_problem("problems:slope").name == "myslope"
    with pytest.raises(ValueError, match="problem file missing.py not found"):
        load_problem("missing.py:heat")
    with pytest.raises(ValueError, match="has no factory 'cold'; its functions are: heat, slope"):
        load_problem("problems.py:cold")
    with pytest.raises(ValueError, match=r"does not take the parameters \['kap'\]; its signature is heat\(kappa=0.1\)"):
        load_problem("problems.py:heat", kap=1.0)
    with pytest.raises(ValueError, match="module 'nowhere' not found"):
        load_problem("nowhere:heat")
    with pytest.raises(ValueError, match="unknown case 'heat'"):
        load_problem("heat")


@pytest.mark.fenics
def test_a_user_problem_file_goes_through_every_command(workdir, capsys):
    assert cli("reference", "problems.py:heat", "--param", "kappa=0.2", "--option", "cells=16", "--option", "dt=0.05",
               "--out", "ref.nc", "--quiet") == 0
    options = [arg for k, v in PINN_OPTIONS.items() for arg in ("--option", f"{k}={v}")]
    assert cli("solve", "problems.py:heat", "--solver", "pinn", *options, "--out", "pinn.nc", "--quiet") == 0
    assert cli("compare", "pinn.nc", "ref.nc") == 0
    assert cli("data", "generate", "problems.py:slope", "--n", "8", "--out", "d.h5", "--resolution", "16",
               "--quiet") == 0
    assert cli("train", "myslope", "--model", "unet", "--data", "d.h5", "--out", "m.pt", "--option", "epochs=2",
               "--option", "width=4", "--option", "batch_size=4", "--quiet") == 0
    assert cli("predict", "m.pt", "--data", "d.h5") == 0
    text = capsys.readouterr().out
    assert "problems.py:heat: solved with fenics" in text and "problems.py:heat: solved with pinn" in text
    assert "myslope: trained unet" in text


# -- runs --------------------------------------------------------------------------------------
def test_a_run_from_a_config_records_settings_versions_host_and_metrics(workdir):
    config = toml(workdir / "run.toml", {"command": "solve", "case": "problems.py:heat", "solver": "pinn",
                                         "params": {"kappa": 0.2}, "options": PINN_OPTIONS,
                                         "output": {"resolution": 11, "times": 3}})
    assert cli("run", config, "--quiet") == 0
    folder = workdir / "run"
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "done" and record["resolved"]["config"]["adam_steps"] == 40
    assert record["resolved"]["config"]["lr"] == 1e-3  # the defaults the run resolved, not only what was given
    assert {"torch", "pdekit"} <= set(record["versions"]) and record["host"]["hostname"]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0 < metrics["u_rel_l2"] < 2 and metrics["final_loss"] > 0
    assert json.loads((folder / "config.json").read_text())["params"] == {"kappa": 0.2}
    before = (folder / "result.nc").stat().st_mtime_ns
    assert cli("run", config, "--quiet") == 0 and (folder / "result.nc").stat().st_mtime_ns == before  # done: skipped
    bad = toml(workdir / "bad.toml", {"command": "solve", "case": "problems.py:heat", "solvr": "pinn"})
    assert cli("run", bad) == 2


def test_a_preempted_run_checkpoints_exits_75_and_resumes_bit_for_bit(workdir):
    options = {**PINN_OPTIONS, "adam_steps": 3000, "checkpoint_every": 100000}
    config = {"command": "solve", "case": "problems.py:heat", "solver": "pinn", "options": options,
              "output": {"resolution": 11, "times": 3}}
    whole = toml(workdir / "whole.toml", config)
    assert pdekit_command("run", whole, "--quiet", cwd=workdir).returncode == 0
    run = toml(workdir / "cut.toml", config)
    process = subprocess.Popen([sys.executable, "-m", "pdekit", "run", str(run), "--quiet"], cwd=workdir,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (workdir / "cut" / "run.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3.0)  # into the training
    process.send_signal(signal.SIGUSR2)
    _, error = process.communicate(timeout=300)
    assert process.returncode == preemption.EXIT_CODE, error
    assert "preempted by SIGUSR2" in error
    record = json.loads((workdir / "cut" / "run.json").read_text())
    assert record["status"] == "preempted" and (workdir / "cut" / "checkpoint.pt").exists()
    stopped_at = torch.load(workdir / "cut" / "checkpoint.pt", weights_only=False)["step"]
    assert 0 < stopped_at < 3000
    assert pdekit_command("run", run, "--quiet", cwd=workdir).returncode == 0
    assert json.loads((workdir / "cut" / "run.json").read_text())["attempts"] == 2
    losses = [torch.load(workdir / name / "checkpoint.pt", weights_only=False)["history"] for name in ("whole", "cut")]
    assert [row["loss"] for row in losses[0]] == [row["loss"] for row in losses[1]]
    metrics = [json.loads((workdir / name / "metrics.json").read_text()) for name in ("whole", "cut")]
    assert metrics[0]["u_rel_l2"] == metrics[1]["u_rel_l2"]


@pytest.mark.fenics
def test_the_reference_and_data_generation_stop_at_safe_points(workdir, monkeypatch):
    from pdekit import data, reference

    problem = load_problem("problems.py:heat")
    whole = reference.solve(problem, degree=1, cells=32, dt=0.01, cache=False)
    calls = {"n": 0}
    original = preemption.check

    def signalled(where, save=None):
        calls["n"] += 1
        if calls["n"] == 7:
            preemption._state["signal"] = signal.SIGTERM
        return original(where, save)

    monkeypatch.setattr(preemption, "check", signalled)
    with preemption.watch(), pytest.raises(preemption.Preempted, match=r"stopped at t = 0.07 \(step 7 of 50\)"):
        reference.solve(problem, degree=1, cells=32, dt=0.01, cache=False, checkpoint=workdir / "ref.npz")
    calls["n"] = 0
    with preemption.watch(), pytest.raises(preemption.Preempted, match="after sample 6"):
        data.generate(load_problem("problems.py:slope"), 12, out=workdir / "d.h5", grid=9, progress=False)
    monkeypatch.setattr(preemption, "check", original)
    resumed = reference.solve(problem, degree=1, cells=32, dt=0.01, cache=False, checkpoint=workdir / "ref.npz",
                              resume=True)
    np.testing.assert_array_equal(resumed.snapshots, whole.snapshots)
    assert len(list((workdir / ".d.h5.parts").glob("*.npz"))) == 7
    data.generate(load_problem("problems.py:slope"), 12, out=workdir / "d.h5", grid=9, progress=False)
    assert data.open(workdir / "d.h5").sizes["sample"] == 12


def test_operator_training_stops_mid_epoch_and_resumes_bit_for_bit(workdir, monkeypatch):
    from pdekit import data
    from pdekit.operators import UNet

    path = data.generate(load_problem("problems.py:slope"), 24, out=workdir / "d.h5", grid=16, progress=False)

    def operator():
        return UNet(width=4, depth=2, epochs=3, batch_size=4, progress=False, device="cpu")

    whole = operator().fit(path, checkpoint=workdir / "whole.pt")
    calls = {"n": 0}
    original = preemption.check

    def signalled(where, save=None):
        calls["n"] += 1
        if calls["n"] == 9:  # the third step of the second epoch
            preemption._state["signal"] = signal.SIGUSR2
        return original(where, save)

    monkeypatch.setattr(preemption, "check", signalled)
    with preemption.watch(), pytest.raises(preemption.Preempted, match="in epoch 2 after 3 steps"):
        operator().fit(path, checkpoint=workdir / "cut.pt")
    monkeypatch.setattr(preemption, "check", original)
    resumed = operator().fit(path, checkpoint=workdir / "cut.pt", resume=True)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


# -- sweeps ------------------------------------------------------------------------------------
def sweep_config(workdir: Path, name: str, executor: str = "local", slurm: dict | None = None) -> Path:
    sweep = {"grid": {"params.kappa": [0.1, 0.2]}, "zip": {"options.lr": [1e-3, 3e-3], "options.width": [6, 8]},
             "seeds": [0, 1], "executor": executor, "dir": name}
    tables = {"sweep": sweep, **({"sweep.slurm": slurm} if slurm else {})}
    return toml(workdir / f"{name}.toml", {"command": "solve", "case": "problems.py:heat", "solver": "pinn",
                                           "options": {**PINN_OPTIONS, "adam_steps": 60},
                                           "output": {"resolution": 11, "times": 3}}, tables)


def comparable(table):
    """The collected table without the timings (which differ between runs)."""
    return table.drop_vars([v for v in table.data_vars if "time" in v])


def test_a_killed_sweep_reruns_only_what_is_unfinished_and_collects_the_same_table(workdir):
    whole = sweep_config(workdir, "whole")
    assert pdekit_command("sweep", whole, "--workers", "2", cwd=workdir).returncode == 0
    killed = sweep_config(workdir, "killed")
    process = subprocess.Popen([sys.executable, "-m", "pdekit", "sweep", str(killed), "--workers", "2"], cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = workdir / "killed" / "runs"
    deadline = time.time() + 300
    while len(list(runs.glob("*/metrics.json"))) < 2 and time.time() < deadline:
        time.sleep(0.2)
    process.kill()
    process.wait()
    time.sleep(2.0)  # its runs got SIGTERM with it: they checkpoint and stop
    finished = {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/metrics.json")}
    assert 2 <= len(finished) < 8
    assert pdekit_command("sweep", killed, "--workers", "2", cwd=workdir).returncode == 0
    assert {p.parent.name: p.stat().st_mtime_ns for p in runs.glob("*/metrics.json") if p.parent.name in finished} \
        == finished  # the finished runs were skipped
    table, reference = collect(workdir / "killed"), collect(workdir / "whole")
    assert dict(table.sizes) == {"params.kappa": 2, "options.seed": 2, "zip": 2}
    assert (table["status"] == "done").all()
    assert comparable(table).equals(comparable(reference))
    assert cli("collect", workdir / "killed", "--metric", "u_rel_l2", "--axis", "params.kappa", "--figure",
               workdir / "f.png", "--out", workdir / "t.nc") == 0
    assert (workdir / "f.png").exists() and (workdir / "killed" / "metrics.csv").read_text().count("\n") == 9


def test_a_failed_run_is_recorded_and_the_sweep_goes_on(workdir):
    config = toml(workdir / "f.toml", {"command": "solve", "case": "problems.py:heat", "solver": "pinn",
                                       "options": {**PINN_OPTIONS, "adam_steps": 20},
                                       "output": {"resolution": 11, "times": 3}},
                  {"sweep": {"grid": {"options.width": [8, -1]}, "dir": "f"}})
    assert cli("sweep", config) == 0
    table = collect(workdir / "f")
    assert list(table["status"].values) == ["done", "failed"]
    record = json.loads((workdir / "f" / "runs" / "0001" / "run.json").read_text())
    assert "width and depth must be >= 1" in record["error"]


def test_the_slurm_dry_run_prints_the_array_and_resources(workdir, capsys):
    config = sweep_config(workdir, "s", executor="slurm")
    assert cli("sweep", config, "--dry-run", "--partition", "gpu", "--time", "30", "--gpus", "1", "--cpus", "4",
               "--array-parallelism", "3") == 0
    script = capsys.readouterr().out
    for line in ("#SBATCH --array=0-7%3", "#SBATCH --partition=gpu", "#SBATCH --time=30", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --signal=USR2@90", "-m submitit.core._submit"):
        assert line in script, line
    assert cli("sweep", config, "--dry-run", "--executor", "local") == 2
    assert cli("sweep", sweep_config(workdir, "t", "slurm", slurm={"partitoin": "gpu"}), "--dry-run") == 2
    assert "unknown slurm options ['partitoin']" in capsys.readouterr().err


@pytest.mark.slow  # its 3,000 steps must outlast a 12 s signal: true under load, not on an idle machine
def test_submitit_requeues_a_preempted_run_which_resumes_bit_for_bit(workdir):
    """submitit's local executor for real: a short time limit, USR2 before it, requeue, resume."""
    config = toml(workdir / "q.toml", {"command": "solve", "case": "problems.py:heat", "solver": "pinn",
                                       "options": {**PINN_OPTIONS, "adam_steps": 3000, "width": 24,
                                                   "checkpoint_every": 100000},
                                       "output": {"resolution": 11, "times": 3}},
                  {"sweep": {"grid": {"params.kappa": [0.1]}, "dir": "q", "executor": "slurm"},
                   "sweep.slurm": {"cluster": "local", "time": 0.5, "signal_delay_s": 18, "requeues": 40}})
    assert cli("sweep", config, "--wait") == 0
    folder = workdir / "q" / "runs" / "0000"
    record = json.loads((folder / "run.json").read_text())
    assert record["status"] == "done" and record["attempts"] >= 2, record
    alone = execute(json.loads((folder / "config.json").read_text()), workdir / "alone", base=workdir)
    assert alone["u_rel_l2"] == json.loads((folder / "metrics.json").read_text())["u_rel_l2"]


# -- MPI and torchrun --------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun is not installed (apt-get install openmpi-bin)")
def test_mpirun_generates_the_file_a_serial_run_writes(workdir):
    mpirun = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2"] if os.geteuid() == 0 else \
        ["mpirun", "--oversubscribe", "-n", "2"]
    arguments = ["data", "generate", "problems.py:slope", "--n", "10", "--resolution", "12", "--quiet"]
    # env: not the variables of this process's MPI singleton (DOLFINx's import): mpirun fails under them
    done = subprocess.run([*mpirun, sys.executable, "-m", "pdekit", *arguments, "--out", "mpi.h5"], cwd=workdir,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    assert pdekit_command(*arguments, "--out", "serial.h5", cwd=workdir).returncode == 0
    with h5py.File(workdir / "mpi.h5") as a, h5py.File(workdir / "serial.h5") as b:
        for name in ("u", "f", "seed"):
            np.testing.assert_array_equal(a[name][()], b[name][()])


def test_torchrun_trains_with_the_loss_history_of_one_process(workdir):
    from pdekit import data

    data.generate(load_problem("problems.py:slope"), 16, out=workdir / "d.h5", grid=16, progress=False)
    arguments = ["train", "myslope", "--model", "unet", "--data", "d.h5", "--option", "epochs=3", "--option",
                 "batch_size=8", "--option", "width=4", "--option", "device=cpu", "--quiet"]
    torchrun = [str(Path(sys.executable).with_name("torchrun")), "--nproc-per-node=2", "--rdzv-backend=c10d",
                "--rdzv-endpoint=localhost:0"]
    done = subprocess.run([*torchrun, "-m", "pdekit", *arguments, "--out", "two.pt"], cwd=workdir,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert pdekit_command(*arguments, "--out", "one.pt", cwd=workdir).returncode == 0
    one, two = (torch.load(workdir / f"{n}.pt", weights_only=False) for n in ("one", "two"))
    np.testing.assert_allclose([r["train_loss"] for r in two["history"]], [r["train_loss"] for r in one["history"]],
                               rtol=1e-5)
    for name, value in one["state"].items():
        np.testing.assert_allclose(two["state"][name].numpy(), value.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
