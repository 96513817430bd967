"""Neural operators learned from :mod:`pdekit.data` datasets: one interface, one training loop.

    op = UNet(width=16, epochs=100).fit("train.h5", validation="valid.h5", checkpoint="run.pt")
    op.evaluate("test.h5")                       # {"rel_l2": ..., "rel_h1": ...}
    op.solve(problem)                            # a Solution for one member of the family
    op.save("unet.pt"); pdekit.operators.load("unet.pt")
"""

from .base import GridOperator, NeuralOperator, load
from .training import Distribution, OperatorTraining
from .deeponet import DeepONet, DeepONetConfig, PIDeepONet, PIDeepONetConfig
from .unet import UNet, UNetConfig

OPERATORS = {"unet": UNet, "deeponet": DeepONet, "pi_deeponet": PIDeepONet}

__all__ = ["OPERATORS", "get_operator", "load", "NeuralOperator", "GridOperator", "OperatorTraining", "Distribution",
           "UNet", "UNetConfig", "DeepONet", "DeepONetConfig", "PIDeepONet", "PIDeepONetConfig"]


def get_operator(name: str, **options) -> NeuralOperator:
    """An operator by name, configured by ``options`` (unknown names raise a ValueError)."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; valid operators: {', '.join(OPERATORS)}")
    return OPERATORS[name](**options)
