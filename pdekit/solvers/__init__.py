"""Neural-field solvers: one interface (a config, ``solve(problem) -> Solution``), one training loop."""

from .models import MLP, build_model
from .pinn import PINN, OutputTransform, PINNConfig, initial_dirichlet_transform
from .training import TrainingDiverged

SOLVERS = {"pinn": PINN}

__all__ = ["SOLVERS", "get_solver", "PINN", "PINNConfig", "OutputTransform", "initial_dirichlet_transform", "MLP",
           "build_model", "TrainingDiverged"]


def get_solver(name: str, **options):
    """A neural solver by name, configured by ``options`` (unknown names raise a ValueError)."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; valid solvers: {', '.join(SOLVERS)}")
    return SOLVERS[name](**options)
