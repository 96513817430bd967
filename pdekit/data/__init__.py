"""Operator datasets generated from a Problem's input family (see :mod:`.generate`, :mod:`.layout`).

    pdekit.data.generate(problem, 1000, out="darcy.h5", workers=2)   # solve and store
    pdekit.data.open("darcy.h5")                                      # lazy xarray Dataset
    pdekit.data.GridPairs("darcy.h5")                                 # torch Dataset
"""

from __future__ import annotations

import importlib

from .generation import SOLVERS, SPLIT_SIZE, SPLITS, SampleSolver, generate, rasterized, shard_path
from .layout import open_dataset as open  # noqa: A001 - pdekit.data.open mirrors xarray.open_dataset
from .layout import read_attributes
from .merge import merge

__all__ = ["generate", "rasterized", "merge", "open", "info", "read_attributes", "shard_path", "SPLITS", "SPLIT_SIZE", "SOLVERS",
           "SampleSolver", "OperatorData", "GridPairs", "PointTriplets", "TimeWindows"]


def info(path) -> str:
    """A short description of a dataset file: problem, samples, fields and shapes, solver, seeds."""
    dataset = open(path)
    try:
        attributes = read_attributes(path)
        generation = attributes["generation"]
        first, n = generation["seeds"]
        lines = [f"{path}: {attributes['problem']} ({attributes.get('description', '')})",
                 f"  samples: {dataset.sizes['sample']} of seeds {first}..{first + n - 1} ({generation['split']} split)"
                 + (f", shard {generation['shard'][0]} of {generation['shard'][1]}" if generation["shard"] else ""),
                 f"  failed: {len(attributes.get('failed', []))}"
                 + "".join(f"\n    seed {f['seed']}: {f['reason']}" for f in attributes.get("failed", [])[:5]),
                 f"  solver: {attributes['solver']} {attributes.get('solver_options', {})}",
                 "  grid: " + ", ".join(f"{d} {dataset.sizes[d]}" for d in ("t", "x", "y", "z") if d in dataset.dims)]
        for name, variable in dataset.data_vars.items():
            lines.append(f"  {variable.attrs.get('role', '?'):<10} {name}: {tuple(variable.shape)} {variable.dtype}")
        return "\n".join(lines)
    finally:
        dataset.close()


def __getattr__(name):
    if name in ("OperatorData", "GridPairs", "PointTriplets", "TimeWindows"):  # torch: imported when asked for
        return getattr(importlib.import_module(".views", __name__), name)
    raise AttributeError(f"module 'pdekit.data' has no attribute {name!r}")
