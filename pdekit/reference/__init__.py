"""Classical reference solutions generated from a Problem (FEniCSx)."""

from .fenics import ReferenceSettings, ReferenceSolution, WeakFormContext, solve

__all__ = ["solve", "ReferenceSettings", "ReferenceSolution", "WeakFormContext"]
