"""Public reference data published by others (DeepXDE's examples) for honest accuracy checks.

The files are not shipped with pdekit; they are looked for in ``$PDEKIT_ANCHORS`` or in
``../shared/anchors`` beside the repository.  Functions return ``None``-free data or raise
``FileNotFoundError`` with the places searched, so callers can skip cleanly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["anchor_dir", "burgers", "allen_cahn"]


def anchor_dir() -> Path:
    """The folder holding ``deepxde/Burgers.npz`` and ``deepxde/Allen_Cahn.mat``."""
    candidates = [Path(os.environ["PDEKIT_ANCHORS"])] if "PDEKIT_ANCHORS" in os.environ else []
    candidates += [Path(__file__).resolve().parents[2] / "shared" / "anchors", Path.cwd().parent / "shared" / "anchors"]
    for folder in candidates:
        if (folder / "deepxde").is_dir():
            return folder
    raise FileNotFoundError(f"no anchor data found (looked in: {', '.join(map(str, candidates))}; set PDEKIT_ANCHORS)")


def burgers() -> xr.Dataset:
    """DeepXDE's Burgers solution ``u(t, x)`` on its 100 x 256 grid."""
    data = np.load(anchor_dir() / "deepxde" / "Burgers.npz")
    return xr.Dataset({"u": (("t", "x"), data["usol"].T)},
                      coords={"t": data["t"].ravel(), "x": data["x"].ravel()}, attrs={"source": "DeepXDE Burgers.npz"})


def allen_cahn() -> xr.Dataset:
    """DeepXDE's Allen-Cahn solution ``u(t, x)`` on its 101 x 201 grid."""
    from scipy.io import loadmat

    data = loadmat(anchor_dir() / "deepxde" / "Allen_Cahn.mat")
    return xr.Dataset({"u": (("t", "x"), data["u"])},
                      coords={"t": data["t"].ravel(), "x": data["x"].ravel()}, attrs={"source": "DeepXDE Allen_Cahn.mat"})
