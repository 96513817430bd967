"""Neural operators learned from :mod:`pdekit.data` datasets: one interface, one training loop.

    op = MgNO(epochs=100).fit("train.h5", validation="valid.h5", checkpoint="run.pt")   # or UNet, FNO (a peer)
    op.evaluate("test.h5")                       # {"rel_l2": ..., "rel_h1": ...}
    op.solve(problem)                            # a Solution for one member of the family
    op.save("mgno.pt"); pdekit.operators.load("mgno.pt")
"""

from .base import GridOperator, GridTraining, NeuralOperator, load
from .deeponet import DeepONet, DeepONetConfig, PIDeepONet, PIDeepONetConfig
from .fno import FNO, FNOConfig
from .mgno import MgNO, MgNOConfig
from .sinenet import SineNet, SineNetConfig
from .training import Distribution, OperatorTraining
from .unet import UNet, UNetConfig

OPERATORS = {"unet": UNet, "mgno": MgNO, "fno": FNO, "sinenet": SineNet, "deeponet": DeepONet,
             "pi_deeponet": PIDeepONet}

__all__ = ["OPERATORS", "get_operator", "load", "NeuralOperator", "GridOperator", "GridTraining", "OperatorTraining",
           "Distribution", "UNet", "UNetConfig", "SineNet", "SineNetConfig", "MgNO", "MgNOConfig", "FNO", "FNOConfig", "DeepONet", "DeepONetConfig", "PIDeepONet",
           "PIDeepONetConfig"]


def get_operator(name: str, **options) -> NeuralOperator:
    """An operator by name, configured by ``options`` (unknown names raise a ValueError)."""
    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; valid operators: {', '.join(OPERATORS)}")
    return OPERATORS[name](**options)
