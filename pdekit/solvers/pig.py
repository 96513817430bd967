"""Physics-Informed Gaussians (Kang, Oh, Hong, Park, ICLR 2025): the PINN method, another model.

The loss, collocation points, training loop, checkpoints and derivative engine are the PINN's;
only the model differs: a :class:`~pdekit.solvers.gaussians.GaussianEmbedding` (trainable
Gaussians whose means and covariances move to where the solution needs resolution, followed
by a one-hidden-layer tanh MLP), whose derivatives are closed-form.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..options import with_options
from ..problem import Problem
from .gaussians import COVARIANCES, GaussianEmbedding
from .models import input_bounds
from .pinn import PINN, OutputTransform, PINNConfig

__all__ = ["PIG", "PIGConfig"]


@dataclass(frozen=True)
class PIGConfig(PINNConfig):
    """Settings of a PIG run: the PINN's (points, loss weights, training) plus the Gaussians.

    Args:
        n_gaussians: number of Gaussians ``N``.
        features: feature channels ``k`` of each Gaussian.
        covariance: ``diagonal`` or ``full`` (Cholesky factor of the precision).
        sigma: initial standard deviation of every Gaussian, in inputs mapped to ``[-1, 1]``.
        sigma_time: the same along time, for evolution problems whose solution changes on another
            scale in time than in space (``0``: ``sigma``).
        feature_scale: standard deviation of the initial features.
        neighbours: ``0``: every Gaussian contributes at every point (exact); ``K > 0``: only each
            point's ``K`` Gaussians of largest value (found without gradient), for speed.
        chunk_elements: at most about this many values per chunk of points (``Gaussians x points`` and more).
        width, depth, activation: the MLP on the features (the paper: 16 tanh units, 1 layer).

    The defaults are what the case recipes share (helmholtz2d, allen_cahn1d): 300 Gaussians of
    width 0.15, Adam 1,000 steps at the paper's rate (1e-2, decaying 0.6 per 1,000 steps;
    features N(0, 0.01^2)), then 200 L-BFGS calls, on Sobol points, in float64.  Checked on a
    problem none of them was tuned on (-div((1 + u^2) grad u) = f on a disk): 7.9e-4, where the
    paper's Helmholtz setting (1,000 Gaussians of width 0.1, Adam 10,000 steps, float32) ends at
    8.5e-3 in 2.6 times as long.
    """

    model: str = "gaussians"
    width: int = 16
    depth: int = 1
    n_gaussians: int = 300
    features: int = 4
    covariance: str = "diagonal"
    sigma: float = 0.15
    sigma_time: float = 0.0
    feature_scale: float = 0.01
    neighbours: int = 0
    chunk_elements: int = 2**24
    lr: float = 1e-2
    lr_decay: float = 0.6
    adam_steps: int = 1000
    lbfgs_steps: int = 200
    sampling: str = "sobol"
    dtype: str = "float64"

    def __post_init__(self):
        super().__post_init__()
        if self.model != "gaussians":
            raise ValueError(f"PIG trains the model 'gaussians', got model={self.model!r}; use the PINN for others")
        if self.covariance not in COVARIANCES:
            raise ValueError(f"unknown covariance {self.covariance!r}; valid choices: {', '.join(COVARIANCES)}")
        if self.fourier_features:
            raise ValueError("fourier_features do not apply to PIG (the Gaussians are its embedding)")
        for name in ("n_gaussians", "features", "width", "depth", "chunk_elements"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.neighbours <= self.n_gaussians:
            raise ValueError(f"neighbours must be between 0 (all Gaussians) and n_gaussians={self.n_gaussians}, "
                             f"got {self.neighbours}")
        if not self.sigma > 0 or self.sigma_time < 0:
            raise ValueError(f"sigma must be > 0 and sigma_time >= 0 (0: sigma), got sigma={self.sigma}, "
                             f"sigma_time={self.sigma_time}")


class PIG(PINN):
    """Physics-informed Gaussians: :class:`PINN` training with a Gaussian-embedding model.

    Args:
        config: a :class:`PIGConfig`; or give its fields as keyword ``options``.
        output_transform: optional hard constraint (as for the PINN).
        network: optional ready model to train instead of building one from ``config``.

    Example::

        solution = PIG(n_gaussians=2000, adam_steps=3000).solve(pdekit.get_case("helmholtz2d"))
        solution.model.centres()  # where the Gaussians went
    """

    name = "pig"

    def __init__(self, config: PIGConfig | None = None, *, output_transform: OutputTransform | None = None,
                 network=None, **options):
        config = with_options(config, options, "PIG") if config is not None else PIGConfig.from_options(**options)
        super().__init__(config, output_transform=output_transform, network=network)

    def build(self, problem: Problem):
        """The Gaussian model, loss terms and batch sampler for ``problem`` (the PINN's build)."""
        if self._network is not None:
            return super().build(problem)
        c = self.config
        torch.manual_seed(c.seed)
        lower, upper = input_bounds(problem)
        sigma = [c.sigma] * problem.dim + ([c.sigma_time or c.sigma] if problem.is_evolution else [])
        model = GaussianEmbedding(problem.input_dim, problem.n_components, n_gaussians=c.n_gaussians,
                                  features=c.features, covariance=c.covariance, sigma=sigma,
                                  feature_scale=c.feature_scale, width=c.width, depth=c.depth,
                                  activation=c.activation, lower=lower, upper=upper,
                                  neighbours=c.neighbours, chunk_elements=c.chunk_elements)
        return PINN(c, output_transform=self.output_transform, network=model).build(problem)
