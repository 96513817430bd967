"""Random input families: the distributions operator learning samples inputs from.

A family fills one named parameter of a Problem (an initial condition, a source, a
coefficient) with random functions written in :mod:`pdekit.math`, so each sample evaluates on
torch, UFL and NumPy like any other part of the problem.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .. import math as pm

__all__ = ["GaussianRandomField", "FourierSample"]


@dataclass(frozen=True)
class FourierSample:
    """One random function ``f(x, t, p) = sum_k a_k cos(w_k . (x - lower)) + b_k sin(...)``."""

    lower: tuple
    frequencies: tuple  # (K, d) angular frequencies
    cos_coefficients: tuple
    sin_coefficients: tuple
    mean: float = 0.0

    def __call__(self, x, t=None, p=None):
        total = self.mean
        for w, a, b in zip(self.frequencies, self.cos_coefficients, self.sin_coefficients):
            phase = sum(w[j] * (x[j] - self.lower[j]) for j in range(len(w)))
            total = total + a * pm.cos(phase) + b * pm.sin(phase)
        return total


@dataclass(frozen=True)
class GaussianRandomField:
    """A stationary Gaussian random field on a box with squared-exponential covariance.

    Sampled as a truncated Fourier series that is periodic over the box (so the samples suit
    periodic problems); the coefficients' variances follow the kernel's spectral density.

    Args:
        param: the Problem parameter each sample fills (e.g. ``"u0"``).
        length_scale: correlation length ``l`` of ``sigma^2 exp(-r^2 / (2 l^2))``.
        variance: ``sigma^2``.
        modes: highest wave number per axis.
        mean: constant mean.
    """

    param: str
    length_scale: float = 0.2
    variance: float = 1.0
    modes: int = 16
    mean: float = 0.0

    def __post_init__(self):
        if self.length_scale <= 0 or self.variance < 0 or self.modes < 1:
            raise ValueError("GaussianRandomField needs length_scale > 0, variance >= 0 and modes >= 1")

    def sample(self, geometry, n: int, seed: int = 0) -> list[FourierSample]:
        """``n`` seeded random functions on ``geometry``'s bounding box."""
        span = geometry.upper - geometry.lower
        wave_numbers = [k for k in itertools.product(range(-self.modes, self.modes + 1), repeat=geometry.dim)
                        if k > (0,) * geometry.dim]  # one of each +-k pair
        omega = 2 * np.pi * np.asarray(wave_numbers, dtype=float) / span
        weights = np.exp(-0.5 * (omega**2).sum(axis=1) * self.length_scale**2)
        std = np.sqrt(self.variance * weights / weights.sum())
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(n):
            a, b = rng.standard_normal((2, len(omega))) * std
            samples.append(FourierSample(tuple(geometry.lower.tolist()), tuple(map(tuple, omega.tolist())),
                                         tuple(a.tolist()), tuple(b.tolist()), self.mean))
        return samples
