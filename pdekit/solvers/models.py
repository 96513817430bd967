"""Neural-field models, separate from the methods that train them.

A model maps ``(N, input_dim)`` points to ``(N, n_components)`` values.  A model that can list
its computation as primitive operations (``ops()``) gets the fast forward-derivative path of
:mod:`pdekit.derivatives.forward`; any other ``torch.nn.Module`` still works through nested
autograd.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["MLP", "SIREN", "build_model", "MODELS"]

ACTIVATIONS = {"tanh": torch.tanh, "sin": torch.sin, "relu": torch.relu}


class MLP(nn.Module):
    """Fully connected network with inputs mapped to ``[-1, 1]`` and optional Fourier features.

    Args:
        in_dim, out_dim: input and output sizes.
        width, depth: hidden layer width and number of hidden layers.
        activation: ``tanh``, ``sin`` or ``relu`` (no curvature: for data fits and first-order problems).
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


class SIREN(nn.Module):
    """Sine-activated network (Sitzmann et al. 2020), the model of INSR (Chen et al. 2023).

    Each hidden layer is ``sin(omega0 * (W h + b))``; the first layer's weights are uniform in
    ``+-1/in``, the others in ``+-sqrt(6/width)/omega0``, so pre-activations stay spread over
    a few periods whatever the depth.  Inputs are mapped from ``[lower, upper]`` to ``[-1, 1]``.

    Args:
        in_dim, out_dim: input and output sizes.
        width, depth: hidden layer width and number of hidden (sine) layers.
        omega0: frequency factor of the sines.
        lower, upper: input bounds (identity map if not given).
    """

    def __init__(self, in_dim: int, out_dim: int, width: int = 20, depth: int = 3, omega0: float = 30.0,
                 lower=None, upper=None):
        super().__init__()
        if width < 1 or depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={width}, depth={depth}")
        if not omega0 > 0:
            raise ValueError(f"omega0 must be positive, got {omega0}")
        self.omega0 = float(omega0)
        lower = torch.as_tensor(lower if lower is not None else [-1.0] * in_dim, dtype=torch.get_default_dtype())
        upper = torch.as_tensor(upper if upper is not None else [1.0] * in_dim, dtype=torch.get_default_dtype())
        self.register_buffer("shift", (upper + lower) / 2)
        self.register_buffer("scale", (upper - lower) / 2)
        sizes = [in_dim] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.output = nn.Linear(width, out_dim)
        with torch.no_grad():
            for k, layer in enumerate([*self.hidden, self.output]):
                fan_in = layer.weight.shape[1]
                bound = 1 / fan_in if k == 0 else (6 / fan_in) ** 0.5 / self.omega0
                layer.weight.uniform_(-bound, bound)  # biases keep PyTorch's default, as in SIREN

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        h = (points - self.shift) / self.scale
        for layer in self.hidden:
            h = torch.sin(self.omega0 * layer(h))
        return self.output(h)

    def ops(self) -> list[tuple]:
        """The computation as primitive operations, for forward derivative propagation."""
        ops = [("affine", self.shift, self.scale)]
        for layer in self.hidden:
            ops += [("linear", self.omega0 * layer.weight, self.omega0 * layer.bias), ("activation", "sin")]
        ops.append(("linear", self.output.weight, self.output.bias))
        return ops


MODELS = {"mlp": MLP, "siren": SIREN}


def build_model(name: str, problem, spatial: bool = False, **options) -> nn.Module:
    """A model for ``problem`` by name, its inputs scaled to the problem's bounding box.

    ``spatial=True`` leaves time out of the inputs (a field at one time, as INSR's).
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(MODELS)}")
    lower, upper = input_bounds(problem, spatial)
    return MODELS[name](len(lower), problem.n_components, lower=lower, upper=upper, **options)


def input_bounds(problem, spatial: bool = False) -> tuple[list, list]:
    """Lower and upper bounds of a model's inputs: the bounding box, then the time interval."""
    timed = problem.is_evolution and not spatial
    lower = list(problem.geometry.lower) + ([problem.time.t0] if timed else [])
    upper = list(problem.geometry.upper) + ([problem.time.t1] if timed else [])
    return lower, upper


def parameter_count(model: nn.Module) -> int:
    """Trainable real parameters (a complex one counts twice, as an FNO's spectral weights)."""
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad)


