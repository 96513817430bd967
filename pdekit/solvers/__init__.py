"""Neural-field solvers: one interface (a config, ``solve(problem) -> Solution``), one training loop."""

from .gaussians import GaussianEmbedding
from .insr import INSR, INSRConfig, INSRSolution, StepFailed
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
           "LPINNConfig", "PIG", "PIGConfig", "GaussianEmbedding", "INSR", "INSRConfig", "INSRSolution", "StepFailed"]


def get_solver(name: str, problem=None, **options):
    """A neural solver by name, configured by ``options`` (unknown names raise a ValueError).

    With ``problem`` (a ready-made case, or its name), the options go over that case's recommended
    recipe for this solver (:func:`pdekit.pde_cases.recipe`, the settings its benchmark uses);
    without one, or for a problem of the user's own, over the solver's generic defaults.
    """
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; valid solvers: {', '.join(SOLVERS)}")
    if problem is not None:
        from ..pde_cases import recipe

        options = {**recipe(problem, name), **options}
    return SOLVERS[name](**options)
