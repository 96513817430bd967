"""Sweeps: a run config with a ``[sweep]`` table, expanded into numbered runs and handed to an executor.

``[sweep]`` holds ``grid`` (every combination of its axes), ``zip`` (axes that vary together,
one value of each per run), ``seeds`` (a grid axis over ``options.seed``) and ``dir``; an axis is a
dotted key into the run config (``params.nu``, ``options.lr``, ``data.n``, ``solver``).  The
runs land in ``<dir>/runs/0000``, ``0001``, ... (row-major over the grid axes, then the zip), each a
run folder of :mod:`pdekit.batch.run`; ``<dir>/sweep.json`` records the expansion.  A rerun
skips finished runs and retries the others (a preempted one resumes from its checkpoint); a
failed run is recorded with its error and the sweep goes on.

Executors (none of them a scheduler of pdekit's own):
    ``local``: up to ``workers`` runs at a time, each in its own process (output in its ``log.txt``);
    ``slurm``: one SLURM job array through submitit (``partition``, ``time``, ``gpus``, ``cpus``,
        ``array_parallelism``, ``requeues``; ``cluster="local"`` runs it with submitit's local executor);
    ``mpi``: under ``mpirun -n N``, rank ``r`` runs every ``N``-th run from ``r``.
"""

from __future__ import annotations

import copy
import ctypes
import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_json
from . import preemption
from .mpi import mpi_world
from .run import check, execute, read_config, status_of

__all__ = ["Sweep", "expand", "run_local", "run_mpi", "run_slurm", "sbatch_script", "EXECUTORS"]

EXECUTORS = ("local", "slurm", "mpi")
SWEEP_KEYS = ("grid", "zip", "seeds", "dir", "executor", "workers", "slurm")
SLURM_KEYS = ("partition", "time", "gpus", "cpus", "array_parallelism", "cluster", "signal_delay_s", "mem",
              "account", "qos", "setup", "requeues")


@dataclass
class Sweep:
    """An expanded sweep: its folder, the base config, the axes and the runs' configs."""

    folder: Path
    base: Path
    table: dict
    axes: dict  # grid axes: name -> values (zipped axes under "zip": {key: values})
    runs: list  # {"index", "folder", "values": {key: value}, "config"}

    @property
    def folders(self) -> list[Path]:
        return [Path(run["folder"]) for run in self.runs]


def _set(config: dict, key: str, value):
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"sweep axis {key!r} goes through {part!r}, which is not a table")
    node[parts[-1]] = value


def expand(path, folder=None) -> Sweep:
    """Read a sweep config and expand it (``folder`` overrides ``[sweep] dir``)."""
    path = Path(path)
    config = read_config(path)
    table = dict(config.pop("sweep", {}))
    unknown = sorted(set(table) - set(SWEEP_KEYS))
    if unknown:
        raise ValueError(f"unknown [sweep] keys {unknown}; valid keys: {', '.join(SWEEP_KEYS)}")
    check(config)
    grid = dict(table.get("grid", {}))
    if "seeds" in table:
        grid["options.seed"] = list(table["seeds"])
    zipped = dict(table.get("zip", {}))
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise ValueError(f"the zipped axes must have equal lengths, got {sorted(lengths)}")
    for key, values in {**grid, **zipped}.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"sweep axis {key!r} needs a non-empty list of values")
    base = path.parent.resolve()
    root = (Path(folder) if folder else base / table.get("dir", path.stem)).resolve()
    combinations = list(itertools.product(*grid.values())) or [()]
    picks = range(lengths.pop()) if zipped else [None]
    runs = []
    for index, (combination, pick) in enumerate(itertools.product(combinations, picks)):
        values = dict(zip(grid, combination))
        if pick is not None:
            values.update({key: zipped[key][pick] for key in zipped})
        run = copy.deepcopy(config)
        for key, value in values.items():
            _set(run, key, value)
        runs.append({"index": index, "folder": str(root / "runs" / f"{index:04d}"), "values": values, "config": run})
    sweep = Sweep(root, base, table, {**grid, **({"zip": zipped} if zipped else {})}, runs)
    _record(sweep)
    return sweep


def _record(sweep: Sweep):
    """Write ``sweep.json``, or check that an earlier expansion in the folder is the same."""
    record = {"base": str(sweep.base), "axes": sweep.axes,
              "runs": [{k: run[k] for k in ("index", "folder", "values")} for run in sweep.runs],
              "configs": [run["config"] for run in sweep.runs]}
    path = sweep.folder / "sweep.json"
    if path.exists():
        found = json.loads(path.read_text())
        if found["configs"] != json.loads(json.dumps(record["configs"])):
            raise ValueError(f"{sweep.folder} holds a sweep with other runs; remove it or choose another [sweep] dir")
        return
    write_json(path, record)


def _pending(sweep: Sweep) -> list[dict]:
    return [run for run in sweep.runs if status_of(run["folder"]) != "done"]


def summary(sweep: Sweep) -> dict:
    """How many runs are done, failed, preempted or not run."""
    counts = {}
    for run in sweep.runs:
        status = status_of(run["folder"]) or "not run"
        counts[status] = counts.get(status, 0) + 1
    return counts


# -- executors ---------------------------------------------------------------------------------
def run_local(sweep: Sweep, workers: int = 1, progress: bool = False) -> dict:
    """Run the pending runs, ``workers`` at a time, each as ``python -m pdekit run`` in its own process
    with ``cores / workers`` threads (``OMP_NUM_THREADS`` unless set)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    queue, active = list(_pending(sweep)), []
    # the environment Python started with, without the variables an MPI singleton (as DOLFINx's import
    # starts) adds to the process's own: they would make a child an MPI rank; and a share of the cores
    # per run (as a scheduler's cpus-per-task), unless the user set the threads
    environment = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers)), **os.environ}
    while queue or active:
        while queue and len(active) < workers:
            run = queue.pop(0)
            folder = Path(run["folder"])
            folder.mkdir(parents=True, exist_ok=True)
            write_json(folder / "config.json", run["config"])
            log = open(folder / "log.txt", "ab")
            command = [sys.executable, "-m", "pdekit", "run", str(folder / "config.json"), "--folder", str(folder),
                       "--base", str(sweep.base), "--quiet"]
            active.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_end_with_parent,
                                            env=environment), log, folder))
        time.sleep(0.05)
        for item in list(active):
            process, log, folder = item
            if process.poll() is None:
                continue
            log.close()
            active.remove(item)
            if process.returncode and status_of(folder) in (None, "running"):  # died before recording why
                write_json(folder / "run.json", {"status": "failed", "error": f"exit status {process.returncode}"})
            if progress:
                print(f"{folder.name}: {status_of(folder)}", flush=True)
    return summary(sweep)


def _end_with_parent():
    """In a run's process (Linux): SIGTERM when the sweep that started it dies, so that a killed sweep's
    runs stop at a safe point with a checkpoint (preempted) instead of running on unwatched."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_mpi(sweep: Sweep) -> dict:
    """Under ``mpirun -n N``: this rank's share of the runs, in this process; returns the summary on rank 0."""
    rank, size, comm = mpi_world() or (0, 1, None)
    for run in sweep.runs[rank::size]:
        if status_of(run["folder"]) != "done":
            _run_here(run, sweep.base)
    if comm is not None:
        comm.Barrier()
    return summary(sweep) if rank == 0 else {}


def _run_here(run: dict, base) -> None:
    """One run in this process: a failure is recorded in its folder, and the caller goes on."""
    with preemption.watch():
        try:
            execute(run["config"], run["folder"], base)
        except preemption.Preempted:
            raise
        except Exception:  # noqa: BLE001 - recorded in run.json by execute; the sweep goes on
            pass


class RunJob:
    """One sweep run as a submitit job: checkpointable, so a preempted run is requeued and resumes."""

    def __init__(self, base: str):
        self.base = base

    def __call__(self, folder: str) -> str:
        config = json.loads((Path(folder) / "config.json").read_text())
        with preemption.watch():
            try:
                execute(config, folder, self.base)
            except preemption.Preempted as stop:
                preemption.requeue(stop)  # submitit's handler: checkpoint() below, requeue, exit
                raise
        return status_of(folder)

    def checkpoint(self, folder: str):
        """What submitit resubmits after a preemption: the same run (it resumes from its checkpoint)."""
        import submitit

        return submitit.helpers.DelayedSubmission(self, folder)


def _slurm_parameters(sweep: Sweep, options: dict) -> dict:
    """submitit's SlurmExecutor parameters from the sweep's slurm options (names checked)."""
    unknown = sorted(set(options) - set(SLURM_KEYS))
    if unknown:
        raise ValueError(f"unknown slurm options {unknown}; valid: {', '.join(SLURM_KEYS)}")
    parameters = {"time": float(options.get("time", 60)), "cpus_per_task": int(options.get("cpus", 1)),
                  "array_parallelism": int(options.get("array_parallelism", 64)),
                  "signal_delay_s": int(options.get("signal_delay_s", 90)), "job_name": f"pdekit-{sweep.folder.name}"}
    if options.get("gpus"):
        parameters["gpus_per_node"] = int(options["gpus"])
    for key in ("partition", "mem", "account", "qos"):  # (requeues is the executor's, not sbatch's)
        if key in options:
            parameters[key] = options[key]
    if "setup" in options:
        parameters["setup"] = list(options["setup"])
    return parameters


def _executor(sweep: Sweep, options: dict):
    import submitit

    folder = sweep.folder / "submitit"
    parameters = _slurm_parameters(sweep, options)
    requeues = int(options.get("requeues", 3))  # how often a run that reaches its time limit is requeued
    if options.get("cluster", "slurm") == "local":  # submitit's emulation: real processes, timeouts and signals
        executor = submitit.LocalExecutor(folder, max_num_timeout=requeues)
        executor.update_parameters(timeout_min=parameters["time"], signal_delay_s=parameters["signal_delay_s"],
                                   gpus_per_node=parameters.get("gpus_per_node", 0))
        return executor
    executor = submitit.SlurmExecutor(folder, max_num_timeout=requeues)
    executor.update_parameters(**{**parameters, "time": math.ceil(parameters["time"])})
    return executor


def sbatch_script(sweep: Sweep, options: dict) -> str:
    """The sbatch script :func:`run_slurm` would submit for the pending runs (nothing is submitted)."""
    import shlex

    from submitit.slurm.slurm import _make_sbatch_string

    pending = len(_pending(sweep))
    if not pending:
        return "# every run of this sweep is done: nothing to submit"
    parameters = _slurm_parameters(sweep, options)
    folder = sweep.folder / "submitit"
    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(str(folder))])
    return _make_sbatch_string(command=command, folder=folder, map_count=pending,
                               **{**parameters, "time": math.ceil(parameters["time"])})


def run_slurm(sweep: Sweep, options: dict, wait: bool = False) -> list:
    """Submit the pending runs as one job array; with ``wait``, wait for them (failures are recorded, not raised)."""
    pending = _pending(sweep)
    if not pending:
        return []
    for run in pending:
        Path(run["folder"]).mkdir(parents=True, exist_ok=True)
        write_json(Path(run["folder"]) / "config.json", run["config"])
    executor = _executor(sweep, options)
    jobs = executor.map_array(RunJob(str(sweep.base)), [run["folder"] for run in pending])
    if wait:
        for job in jobs:
            try:
                job.result()
            except Exception:  # noqa: BLE001 - the run's folder holds its error
                pass
    return jobs
