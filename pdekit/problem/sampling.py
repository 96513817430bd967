"""Seeded point sets in the unit cube: the one place sampling methods are defined.

Geometries map these unit samples onto their interiors and boundaries, so every method
(``uniform`` random, scrambled ``sobol``, regular ``grid``) works for every geometry.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.stats import qmc

METHODS = ("uniform", "sobol", "grid")


def check_method(method: str) -> None:
    """Raise a ValueError naming the valid methods when ``method`` is not one of them."""
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; valid methods: {', '.join(METHODS)}")


def unit_samples(n: int, dim: int, method: str = "uniform", seed: int = 0) -> np.ndarray:
    """``n`` points in ``[0, 1]^dim`` as an ``(n, dim)`` float64 array.

    ``grid`` returns the smallest full tensor grid of cell centres with at least ``n`` points
    and then keeps the first ``n`` in a seeded random order, so counts are always exact.
    """
    check_method(method)
    if n < 0:
        raise ValueError(f"number of points must be non-negative, got {n}")
    if dim == 0:
        return np.zeros((n, 0))
    if method == "uniform":
        return np.random.default_rng(seed).random((n, dim))
    if method == "sobol":
        with warnings.catch_warnings():  # balance warning for n not a power of two
            warnings.simplefilter("ignore", UserWarning)
            return qmc.Sobol(dim, scramble=True, seed=seed).random(n)
    per_axis = max(1, math.ceil(n ** (1.0 / dim) - 1e-9))
    axis = (np.arange(per_axis) + 0.5) / per_axis
    grid = np.stack(np.meshgrid(*([axis] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    if len(grid) > n:
        keep = np.sort(np.random.default_rng(seed).permutation(len(grid))[:n])
        grid = grid[keep]
    return grid


def split_count(n: int, weights) -> list[int]:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    exact = n * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(counts - exact)[: n - counts.sum()]:
        counts[i] += 1
    return counts.tolist()
