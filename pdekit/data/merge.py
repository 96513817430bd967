"""Join the shards of a dataset (SLURM array tasks, MPI ranks) into the file a serial run writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5netcdf
import numpy as np

from . import layout

__all__ = ["merge", "records"]

_SHARD = re.compile(r"\.shard(\d+)of(\d+)$")


def records(path):
    """The samples of a dataset file as records (``seed`` and one dict per role group), in order."""
    with h5netcdf.File(path, "r") as f:
        groups = {group: [name for name, v in f.variables.items() if v.attrs.get("role") == role]
                  for group, role in layout.ROLES.items()}
        for i, seed in enumerate(f.variables["seed"][:]):
            yield {"seed": int(seed), **{group: {name: f.variables[name][i] for name in names}
                                         for group, names in groups.items()}}


def merge(out, shards=None) -> Path:
    """Join shard files into ``out``: the samples in seed order, the attributes of a serial run.

    Args:
        out: the dataset to write (the ``out`` the shards were generated for).
        shards: the shard files; default: every ``<stem>.shard<i>of<k><suffix>`` beside ``out``.
    """
    out = Path(out)
    paths = [Path(p) for p in shards] if shards is not None else sorted(
        out.parent.glob(f"{out.stem}.shard*of*{out.suffix}"))
    found = {}
    for path in paths:
        match = _SHARD.search(path.stem)
        generation = layout.generation_of(path)
        if match is None or generation is None or generation.get("shard") is None:
            raise ValueError(f"{path} is not a shard of a pdekit dataset (made with shard=(i, k))")
        found[path] = generation
    if not found:
        raise FileNotFoundError(f"no shards of {out} found (expected {out.stem}.shard<i>of<k>{out.suffix} beside it)")
    generations = list(found.values())
    count = generations[0]["shard"][1]
    serial = {**generations[0], "shard": None}
    for path, generation in found.items():
        if {**generation, "shard": None} != serial or generation["shard"][1] != count:
            raise ValueError(f"{path} was generated with other settings than {paths[0]}; shards of one dataset share "
                             "every setting but the shard index")
    indices = sorted(generation["shard"][0] for generation in generations)
    if indices != list(range(count)):
        missing = sorted(set(range(count)) - set(indices))
        raise ValueError(f"shards {missing} of {count} are missing (or given twice); generate them first")
    ordered = sorted(found, key=lambda path: found[path]["shard"][0])
    attributes = [layout.read_attributes(path) for path in ordered]
    total = sum(_count(path) for path in ordered)
    merged = {**attributes[0], "generation": serial,
              "failed": [item for a in attributes for item in a.get("failed", [])]}
    merged.pop("format", None)
    with h5netcdf.File(ordered[0], "r") as f:
        coords = {name: np.asarray(f.variables[name][:]) for name in ("t", "x", "y", "z") if name in f.variables}
    stream = (record for path in ordered for record in records(path))
    return layout.write(out, total, stream, coords, json.loads(json.dumps(merged)))


def _count(path) -> int:
    with h5netcdf.File(path, "r") as f:
        return f.dimensions["sample"].size
