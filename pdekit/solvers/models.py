"""Neural-field models, separate from the methods that train them.

A model maps ``(N, input_dim)`` points to ``(N, n_components)`` values.  A model that can list
its computation as primitive operations (``ops()``) gets the fast forward-derivative path of
:mod:`pdekit.derivatives.forward`; any other ``torch.nn.Module`` still works through nested
autograd.
"""

from __future__ import annotations


import torch
from torch import nn

__all__ = ["MLP", "build_model", "MODELS"]

ACTIVATIONS = {"tanh": torch.tanh, "sin": torch.sin}


class MLP(nn.Module):
    """Fully connected network with inputs mapped to ``[-1, 1]`` and optional Fourier features.

    Args:
        in_dim, out_dim: input and output sizes.
        width, depth: hidden layer width and number of hidden layers.
        activation: ``tanh`` or ``sin``.
        lower, upper: input bounds, mapped affinely to ``[-1, 1]`` (identity if not given).
        fourier_features: number of random Fourier features (0: none), ``[sin(Bx), cos(Bx)]``
            with fixed ``B ~ N(0, fourier_scale^2)`` (Tancik et al. 2020).
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 20, depth: int = 3, activation: str = "tanh",
                 lower=None, upper=None, fourier_features: int = 0, fourier_scale: float = 1.0):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid activations: {', '.join(ACTIVATIONS)}")
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        self.activation = activation
        lower = torch.as_tensor(lower if lower is not None else [-1.0] * in_dim, dtype=torch.get_default_dtype())
        upper = torch.as_tensor(upper if upper is not None else [1.0] * in_dim, dtype=torch.get_default_dtype())
        self.register_buffer("shift", (upper + lower) / 2)
        self.register_buffer("scale", (upper - lower) / 2)
        if fourier_features:
            self.register_buffer("fourier", torch.randn(fourier_features, in_dim) * fourier_scale)
            first = 2 * fourier_features
        else:
            self.fourier = None
            first = in_dim
        sizes = [first] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.output = nn.Linear(width, out_dim)
        for layer in [*self.hidden, self.output]:  # Glorot normal, zero bias (as DeepXDE)
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        h = (points - self.shift) / self.scale
        if self.fourier is not None:
            h = h @ self.fourier.T
            h = torch.cat([torch.sin(h), torch.cos(h)], dim=1)
        act = ACTIVATIONS[self.activation]
        for layer in self.hidden:
            h = act(layer(h))
        return self.output(h)

    def ops(self) -> list[tuple]:
        """The computation as primitive operations, for forward derivative propagation."""
        ops = [("affine", self.shift, self.scale)]
        if self.fourier is not None:
            ops += [("linear", self.fourier, None), ("sincos",)]
        for layer in self.hidden:
            ops += [("linear", layer.weight, layer.bias), ("activation", self.activation)]
        ops.append(("linear", self.output.weight, self.output.bias))
        return ops


MODELS = {"mlp": MLP}


def build_model(name: str, problem, **options) -> nn.Module:
    """A model for ``problem`` by name, its inputs scaled to the problem's bounding box."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    lower = list(problem.geometry.lower) + ([problem.time.t0] if problem.is_evolution else [])
    upper = list(problem.geometry.upper) + ([problem.time.t1] if problem.is_evolution else [])
    return MODELS[name](problem.input_dim, problem.n_components, lower=lower, upper=upper, **options)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


