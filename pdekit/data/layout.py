"""The on-disk layout of an operator dataset: one HDF5 (netCDF4-compatible) file per dataset.

Per output field a variable shaped ``(sample, [t,] x, [y, [z,]] <field>_component)`` in float32,
chunked one sample per chunk; per input function the same on the spatial grid; per random
scalar a ``(sample,)`` variable; the coordinates ``t, x, y, z``; ``seed`` per sample.  Each
variable's ``role`` attribute says ``output``, ``input`` or ``parameter``.  Global attributes:
the problem's name and fingerprint, the input family, the solver and its settings, the
generation settings (``generation``, JSON, what a rerun is checked against), failed samples with
their reasons, package versions, and the format version.

The files are written by :mod:`h5netcdf` with dimension scales, so :func:`open_dataset` (and
``xarray.open_dataset(path, engine="h5netcdf")``) reads them lazily with named dimensions.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5netcdf
import numpy as np
import xarray as xr

from ..atomic import atomic_write

__all__ = ["FORMAT", "ROLES", "write", "open_dataset", "read_attributes", "decode_attributes", "generation_of"]

FORMAT = "pdekit-operator-dataset-1"
SPACE = ("x", "y", "z")


#: a record's groups and the role their variables get
ROLES = {"outputs": "output", "inputs": "input", "parameters": "parameter", "diagnostics": "diagnostic"}


def write(path, count: int, records, coords: dict[str, np.ndarray], attributes: dict) -> Path:
    """Write ``count`` samples to ``path`` atomically, one at a time (never all in memory).

    Args:
        records: an iterable of ``count`` dicts, in order: ``seed`` and the groups of
            :data:`ROLES`, each a dict of arrays (``(... grid, components)``) or scalars.
        coords: the grid (``t`` first for evolution problems, then ``x, y, z``).
        attributes: global attributes (JSON-able values are stored as JSON strings).
    """

    def fill(temporary: Path):
        with h5netcdf.File(temporary, "w") as f:
            f.dimensions = {"sample": count, **{name: len(values) for name, values in coords.items()}}
            for name, values in coords.items():
                f.create_variable(name, (name,), "f8")[:] = values
            seeds = f.create_variable("seed", ("sample",), "i8")
            for i, record in enumerate(records):
                if i == 0:
                    for group, role in ROLES.items():
                        for name, value in record[group].items():
                            _create(f, name, role, np.shape(value), coords)
                seeds[i] = record["seed"]
                for group in ROLES:
                    for name, value in record[group].items():
                        f.variables[name][i] = value
            for key, value in {"format": FORMAT, **attributes}.items():
                f.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value, default=repr)

    return atomic_write(path, fill)


def _create(f, name: str, role: str, shape: tuple, coords: dict):
    if name in f.variables:
        raise ValueError(f"the dataset would hold two variables named {name!r} (a field and an input parameter?); "
                         "rename one of them")
    if role in ("parameter", "diagnostic"):
        f.create_variable(name, ("sample",), "f8").attrs["role"] = role
        return
    grid = [d for d in coords if d != "t"] if role == "input" else list(coords)
    component = f"{name}_component"
    f.dimensions[component] = shape[-1]
    dims = ("sample", *grid, component)
    variable = f.create_variable(name, dims, "f4", chunks=(1, *(f.dimensions[d].size for d in dims[1:])))
    variable.attrs["role"] = role


def open_dataset(path) -> xr.Dataset:
    """The dataset as a lazily loaded :class:`xarray.Dataset` with a ``sample`` dimension (``seed``
    its coordinate) and the global attributes decoded from JSON where they are JSON."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {path}")
    dataset = xr.open_dataset(path, engine="h5netcdf")
    if dataset.attrs.get("format") != FORMAT:
        dataset.close()
        raise ValueError(f"{path} is not a pdekit operator dataset (format attribute: {dataset.attrs.get('format')!r}, "
                         f"expected {FORMAT!r})")
    return dataset.set_coords("seed")


def read_attributes(path) -> dict:
    """The global attributes of a dataset file, JSON values decoded."""
    with h5netcdf.File(path, "r") as f:
        return decode_attributes(f.attrs)


def decode_attributes(attributes) -> dict:
    """Attributes with their JSON values decoded (the generation settings, the family, ...)."""
    return {key: _decode(value) for key, value in attributes.items()}


def _decode(value):
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def generation_of(path) -> dict | None:
    """The generation settings stored in a dataset file (``None`` for other files)."""
    try:
        attributes = read_attributes(path)
    except OSError:
        return None
    return attributes.get("generation") if attributes.get("format") == FORMAT else None
