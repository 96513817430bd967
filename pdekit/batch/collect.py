"""Collect a sweep's runs into one table: an xarray Dataset indexed by the sweep's axes, a CSV, a figure."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import xarray as xr

from ..atomic import atomic_write

__all__ = ["collect", "to_csv", "figure"]


def collect(folder) -> xr.Dataset:
    """Every run's metrics and status on the sweep's grid.

    Grid axes (and the seed axis) become dimensions named by their keys (``params.nu``); zipped
    axes share one dimension ``zip`` with a coordinate per key.  A metric a run lacks (failed,
    not run) is NaN there; ``status`` says why.
    """
    folder = Path(folder)
    record_path = folder / "sweep.json"
    if not record_path.exists():
        raise FileNotFoundError(f"{folder} is not a sweep folder (no sweep.json): run pdekit sweep first")
    record = json.loads(record_path.read_text())
    axes = {k: v for k, v in record["axes"].items() if k != "zip"}
    zipped = record["axes"].get("zip", {})
    dims = list(axes) + (["zip"] if zipped else [])
    shape = tuple(len(v) for v in axes.values()) + ((len(next(iter(zipped.values()))),) if zipped else ())
    rows = _rows(record)
    names = sorted({name for row in rows for name, value in row["metrics"].items() if _number(value)})
    data = {name: np.full(shape, np.nan) for name in names}
    status = np.full(shape, "not run", dtype=object)
    for row in rows:
        position = tuple(list(axes[k]).index(row["values"][k]) for k in axes)
        if zipped:
            key = next(iter(zipped))
            position += (list(zipped[key]).index(row["values"][key]),)
        status[position] = row["status"]
        for name in names:
            value = row["metrics"].get(name)
            if _number(value):
                data[name][position] = float(value)
    coords = {k: list(v) for k, v in axes.items()}
    coords.update({k: ("zip", list(v)) for k, v in zipped.items()})
    variables = {name: (dims, values) for name, values in data.items()}
    variables["status"] = (dims, status.astype(str))
    return xr.Dataset(variables, coords=coords, attrs={"sweep": str(folder)})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rows(record) -> list[dict]:
    rows = []
    for run in record["runs"]:
        folder = Path(run["folder"])
        status_file, metrics_file = folder / "run.json", folder / "metrics.json"
        status = json.loads(status_file.read_text())["status"] if status_file.exists() else "not run"
        metrics = json.loads(metrics_file.read_text()) if status == "done" and metrics_file.exists() else {}
        rows.append({"index": run["index"], "values": run["values"], "status": status, "metrics": metrics})
    return rows


def to_csv(folder, path) -> Path:
    """One row per run: its index, the axes' values, its status and its metrics."""
    record = json.loads((Path(folder) / "sweep.json").read_text())
    rows = _rows(record)
    keys = list(record["runs"][0]["values"]) if record["runs"] else []
    names = sorted({name for row in rows for name in row["metrics"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", *keys, "status", *names])
    for row in rows:
        writer.writerow([row["index"], *(row["values"][k] for k in keys), row["status"],
                         *(row["metrics"].get(name, "") for name in names)])
    text = buffer.getvalue()
    return atomic_write(path, lambda temporary: Path(temporary).write_text(text))


def figure(table: xr.Dataset, metric: str, axis: str):
    """``metric`` against ``axis``: one line per combination of the other axes (seeds averaged, with their range)."""
    import matplotlib.pyplot as plt

    if metric not in table:
        raise ValueError(f"unknown metric {metric!r}; the runs report: {', '.join(v for v in table.data_vars if v != 'status')}")
    if axis not in table.dims:
        raise ValueError(f"unknown axis {axis!r}; the sweep's axes are: {', '.join(map(str, table.dims))}")
    values = table[metric]
    seeds = "options.seed"
    low = high = None
    if seeds in values.dims and axis != seeds:
        low, high, values = values.min(seeds), values.max(seeds), values.mean(seeds)
    others = [d for d in values.dims if d != axis]
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    stacked = values.stack(line=others) if others else values.expand_dims(line=[0])
    for k in range(stacked.sizes["line"]):
        line = stacked.isel(line=k)
        label = ", ".join(f"{d}={line[d].item()}" for d in others) if others else None
        ax.plot(table[axis].values, line.values, marker="o", label=label)
        if low is not None:
            lo = (low.stack(line=others) if others else low.expand_dims(line=[0])).isel(line=k)
            hi = (high.stack(line=others) if others else high.expand_dims(line=[0])).isel(line=k)
            ax.fill_between(table[axis].values, lo.values, hi.values, alpha=0.2)
    ax.set(xlabel=axis, ylabel=metric)
    if others:
        ax.legend(fontsize=8)
    return fig
