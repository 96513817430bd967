"""One run from a config: a reference or neural solve, a dataset, or a trained operator, in its own folder.

A run config (TOML or a dict) names the ``command`` (``reference``, ``solve``, ``generate``,
``train``), the ``case`` (a ready-made case or ``file.py:factory`` / ``package.module:factory``),
``[params]`` for the problem, the ``solver`` or ``operator`` and its ``[options]``, ``[data]``
(generate: ``n``, ``split``, ``seed``, ``resolution``, ``times``, ``workers``, ``solver``; train:
``train``, ``validation``, ``test`` files) and ``[output]`` (``resolution``, ``times``, and a
``reference`` result to compare with).  The run folder receives::

    config.json    the config as given
    run.json       status, resolved settings, versions, host, times (and the error of a failed run)
    metrics.json   the run's scalar results
    result.nc | data.h5 | model.pt
    checkpoint.*   what a preempted run resumes from

A run whose ``run.json`` says ``done`` is not run again.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import socket
import time
import traceback
from pathlib import Path

from ..atomic import write_json
from ..pde_cases import load_problem
from ..results import versions
from . import preemption

__all__ = ["COMMANDS", "KEYS", "execute", "solve", "read_config", "status_of"]

COMMANDS = ("reference", "solve", "generate", "train")
KEYS = ("command", "case", "solver", "operator", "params", "options", "data", "output")


def read_config(path) -> dict:
    """A run (or sweep) config from a TOML file."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file {path}")
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def check(config: dict) -> dict:
    """The config with its command filled in; unknown keys and commands raise a ValueError naming them."""
    unknown = sorted(set(config) - set(KEYS) - {"sweep"})
    if unknown:
        raise ValueError(f"unknown config keys {unknown}; valid keys: {', '.join(KEYS)} (and [sweep] in a sweep)")
    command = config.get("command") or ("train" if "operator" in config else "solve" if "solver" in config
                                        else "generate" if "n" in config.get("data", {}) else None)
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; valid commands: {', '.join(COMMANDS)} "
                         "(or give solver, operator, or data.n to imply one)")
    if "case" not in config:
        raise ValueError("the config names no case (a ready-made case, or file.py:factory)")
    if command == "solve" and "solver" not in config:
        raise ValueError("a solve needs a solver (fenics, pinn, lpinn, pig, insr)")
    if command == "train" and "operator" not in config:
        raise ValueError("a train run needs an operator")
    return {**config, "command": command}


def solve(problem, solver: str, options: dict, *, checkpoint=None, resume: bool = False, progress=None):
    """Solve ``problem`` with the FEniCS reference (``"fenics"``) or a neural solver by name (the
    options over the case's recipe, as ``pdekit solve``)."""
    if solver == "fenics":
        from ..reference import solve as reference

        return reference(problem, progress=progress, checkpoint=checkpoint, resume=resume, **options)
    from ..solvers import get_solver

    return get_solver(solver, problem, **{"progress": progress, **options}).solve(problem, checkpoint=checkpoint,
                                                                                   resume=resume)


def status_of(folder) -> str | None:
    """``done``, ``failed``, ``preempted``, ``running`` or ``None`` (never started) for a run folder."""
    record = Path(folder) / "run.json"
    return json.loads(record.read_text())["status"] if record.exists() else None


def execute(config: dict, folder, base=None, progress=None) -> dict:
    """Run ``config`` in ``folder`` (created); returns its metrics.

    Relative paths in the config (problem files, datasets) are taken from ``base`` (default:
    the working directory).  A run already ``done`` returns its stored metrics.  A failed run
    records its error and re-raises; a preempted one records that and re-raises
    :class:`~pdekit.batch.preemption.Preempted` (its checkpoint is written).
    """
    folder, base = Path(folder), Path(base or ".")
    config = check(config)
    if status_of(folder) == "done":
        return json.loads((folder / "metrics.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "config.json", config)
    record = {"status": "running", "command": config["command"], "host": _host(), "versions": versions(),
              "started": _now(), "attempts": _attempts(folder) + 1}
    write_json(folder / "run.json", record)
    started = time.perf_counter()
    try:
        metrics, resolved = TASKS[config["command"]](config, folder, base, progress)
    except preemption.Preempted as stop:
        write_json(folder / "run.json", {**record, "status": "preempted", "stopped": _now(), "reason": str(stop)})
        raise
    except Exception as error:
        write_json(folder / "run.json", {**record, "status": "failed", "stopped": _now(),
                                         "error": f"{type(error).__name__}: {error}",
                                         "traceback": traceback.format_exc()})
        raise
    metrics = {"wall_time_s": time.perf_counter() - started, **metrics}
    write_json(folder / "metrics.json", metrics)
    write_json(folder / "run.json", {**record, "status": "done", "finished": _now(), "resolved": resolved})
    return metrics


def _problem(config, base):
    return load_problem(config["case"], base, **config.get("params", {}))


def _solve(config, folder, base, progress):
    problem = _problem(config, base)
    solver = "fenics" if config["command"] == "reference" else config["solver"]
    output = config.get("output", {})
    checkpoint = folder / ("checkpoint.npz" if solver == "fenics" else "checkpoint.pt")
    solution = solve(problem, solver, dict(config.get("options", {})), checkpoint=checkpoint, resume=True,
                     progress=progress)
    path = solution.save(folder / "result.nc", resolution=output.get("resolution"), times=output.get("times"))
    metrics = {}
    reference = _comparison_target(problem, output, base)
    if reference is not None:
        from ..compare import compare
        from ..results import load

        result = compare(load(path), reference)
        metrics.update({name: float(value) for name, value in result.metrics.items() if value.ndim == 0})
    history = getattr(solution, "history", None)
    if history is not None and history.rows:
        metrics["final_loss"] = float(history.rows[-1]["loss"])
    return metrics, {"problem": problem.name, "solver": solution.solver, "config": solution.config}


def _comparison_target(problem, output, base):
    if output.get("reference"):
        from ..results import load

        return load(Path(base) / output["reference"])
    if problem.exact is not None:
        from ..results import FunctionSolution

        return FunctionSolution(problem, problem.exact_solution, "exact")
    return None


def _generate(config, folder, base, progress):
    from .. import data

    settings = dict(config.get("data", {}))
    n = settings.pop("n", None)
    if n is None:
        raise ValueError("a generate run needs data.n (the number of samples)")
    unknown = sorted(set(settings) - {"split", "seed", "resolution", "times", "workers", "solver", "rasterize"})
    if unknown:
        raise ValueError(f"unknown data settings {unknown}; valid: n, split, seed, resolution, times, workers, "
                         "solver, rasterize")
    problem = _problem(config, base)
    path = data.generate(problem, int(n), out=folder / "data.h5", grid=settings.get("resolution"),
                         times=settings.get("times"), solver=settings.get("solver", "auto"),
                         options=config.get("options", {}), split=settings.get("split", "train"),
                         seed=settings.get("seed"), rasterize=settings.get("rasterize"),
                         workers=int(settings.get("workers", 1)), progress=progress)
    attributes = data.read_attributes(path)
    samples = data.open(path).sizes["sample"]
    return {"samples": samples, "failed": len(attributes["failed"])}, attributes["generation"]


def _train(config, folder, base, progress):
    from ..operators import get_operator

    settings = config.get("data", {})
    if "train" not in settings:
        raise ValueError("a train run needs data.train (the training dataset)")
    paths = {k: Path(base) / v for k, v in settings.items() if k in ("train", "validation", "test")}
    operator = get_operator(config["operator"], **{"progress": progress, **config.get("options", {})})
    operator.fit(paths["train"], validation=paths.get("validation"), checkpoint=folder / "checkpoint.pt", resume=True,
                 distribution=_distribution())
    operator.save(folder / "model.pt")
    last = operator.history[-1]
    metrics = {"params": operator.n_parameters, "epochs": last["epoch"], "train_loss": last["train_loss"],
               **{k: v for k, v in last.items() if k.startswith("val_")}}
    if "test" in paths:
        metrics.update({f"test_{k}": v for k, v in operator.evaluate(paths["test"]).items()})
    return metrics, {"operator": operator.name, "config": dataclasses.asdict(operator.config)}


def _distribution():
    """Data-parallel training when launched by torchrun (several processes), else one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from .distributed import TorchDistributed

        return TorchDistributed()
    return None


TASKS = {"reference": _solve, "solve": _solve, "generate": _generate, "train": _train}


def _host() -> dict:
    slurm = {k: v for k, v in os.environ.items() if k in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID",
                                                         "SLURM_RESTART_COUNT", "SLURM_JOB_PARTITION")}
    return {"hostname": socket.gethostname(), "platform": platform.platform(), "cpus": os.cpu_count(), **slurm}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _attempts(folder: Path) -> int:
    record = folder / "run.json"
    return json.loads(record.read_text()).get("attempts", 0) if record.exists() else 0
