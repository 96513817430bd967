"""Derivatives of neural fields.

Two paths compute the strong-form residual of a Problem: nested autograd (general, always
correct) and forward propagation of jets through the network (fast, compiles).  Tests keep
them equal.
"""

from .autograd import strong_residual
from .forward import coordinate_jets, network_jets, output_jets, required_pairs, residual_from_jets
from .jet import Jet

__all__ = ["strong_residual", "Jet", "network_jets", "output_jets", "coordinate_jets", "required_pairs",
           "residual_from_jets"]
