"""Derivatives of neural fields: nested autograd (general, always correct)."""

from .autograd import strong_residual

__all__ = ["strong_residual"]
