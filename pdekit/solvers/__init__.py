"""Neural-field solvers: one interface (a config, ``solve(problem) -> Solution``), one training loop."""

from .gaussians import GaussianEmbedding
from .insr import INSR, INSRConfig, INSRSolution
from .lpinn import LPINN, LPINNConfig
from .models import MLP, build_model
from .pig import PIG, PIGConfig
from .pinn import (
    PINN,
    OutputTransform,
    PINNConfig,
    initial_dirichlet_transform,
    initial_value_transform,
    zero_dirichlet_transform,
)
from .training import TrainingDiverged

SOLVERS = {"pinn": PINN, "lpinn": LPINN, "pig": PIG, "insr": INSR}

__all__ = ["SOLVERS", "get_solver", "PINN", "PINNConfig", "OutputTransform", "initial_dirichlet_transform",
           "initial_value_transform", "zero_dirichlet_transform", "MLP", "build_model", "TrainingDiverged", "LPINN",
           "LPINNConfig", "PIG", "PIGConfig", "GaussianEmbedding", "INSR", "INSRConfig", "INSRSolution"]


def get_solver(name: str, **options):
    """A neural solver by name, configured by ``options`` (unknown names raise a ValueError)."""
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; valid solvers: {', '.join(SOLVERS)}")
    return SOLVERS[name](**options)
