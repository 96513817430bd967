"""DeepONet (Lu et al. 2021) and its physics-informed training (Wang, Wang & Perdikaris 2021).

A branch net reads the input functions at ``m`` sensors, a trunk net the query coordinates; the
output is their dot product plus a bias, ``u(x) = sum_k b_k(f) t_k(x) + b0``.  One network serves
both data layouts on the shared training loop:

* Cartesian product (aligned data: every function's outputs at the same ``P`` points): the trunk
  runs once per batch and the merge is one matrix product,
  ``(B, C_in, *sensors), (P, D) -> (B, C_out, P)``;
* pointwise (unaligned data: each function's own ``Q`` query points; ``Q = 1`` is the paper's one
  query per function), ``(B, C_in, *sensors), (B, Q, D) -> (B, C_out, Q)``.

Variants: several outputs (``outputs``: ``split_both`` splits both nets' bases per output,
``split_branch`` / ``split_trunk`` share the other net, ``independent`` uses one pair of nets per
output), several input functions (MIONet: one branch per input, merged by a product), a CNN branch
for inputs on grids, Fourier or periodic trunk features, and POD-DeepONet (the trunk replaced by
the training outputs' POD modes, Lu et al. 2022).  With ``weight_residual > 0`` the Problem's
own residual, boundary and initial terms join the loss (:mod:`.physics`); they need only the
input family, no solved data.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr
from torch import nn

from ..data.generation import SPLITS, _coords, structure
from ..data.views import PointTriplets, sensor_index
from ..derivatives.forward import coordinate_jets, jets_to_stack, network_jets
from ..problem.fingerprint import family_fingerprint
from ..problem.inputs import InputFunction
from ..results import FunctionSolution, GridSolution, grid_points
from ..solvers.models import ACTIVATIONS, MLP
from .base import NeuralOperator, Objective
from .losses import LOSSES
from .physics import FunctionSamples, PhysicsLoss, check_homogeneous
from .training import OperatorTraining

__all__ = ["DeepONet", "DeepONetConfig", "PIDeepONet", "PIDeepONetConfig", "DeepONetNetwork", "Envelope", "OUTPUTS"]

#: how several outputs share the nets: (nets, branch groups per net, trunk groups per net) for C outputs
OUTPUTS = {"split_both": lambda c: (1, c, c), "split_branch": lambda c: (1, c, 1), "split_trunk": lambda c: (1, 1, c),
           "independent": lambda c: (c, 1, 1)}
BRANCHES = ("mlp", "cnn")
SPACE = ("x", "y", "z")


@dataclass(frozen=True)
class DeepONetConfig(OperatorTraining):
    """DeepONet settings; the defaults are the DeepONet repository's antiderivative recipe (branch
    ``[m, 40, 40]`` and trunk ``[D, 40, 40]``, ReLU, Adam at 1e-3, mean square error).

    Args:
        sensors: sensors per axis of each input's grid, evenly spaced over its nodes (0: every node).
        points_per_sample: query points drawn per function for training (unaligned data, the
            pointwise form); 0: all grid points (aligned data, the Cartesian form).  Evaluation
            always uses all points.
        shared_points: a mini-batch's functions share the query points (and collocation points) of
            its first function: the Cartesian form on subsets of points, one trunk pass per batch
            (DeepXDE's ``TripleCartesianProd`` with a trunk batch); else each function its own.
        basis: ``p``, the number of terms of the dot product (per output where split).
        branch, branch_width, branch_depth: ``mlp`` or ``cnn``; hidden width and layers.
        trunk_width, trunk_depth: the trunk's hidden width and layers.
        activation: ``relu``, ``tanh`` or ``sin`` (physics: ``tanh`` or ``sin``).
        trunk_output_activation: the activation on the trunk's output too (DeepONet's nets; the
            physics-informed DeepONet code leaves it linear).
        outputs: several outputs: ``split_both``, ``split_branch``, ``split_trunk``, ``independent``.
        fourier_features, fourier_scale: random Fourier features of the trunk's input.
        periodic_modes: ``cos``/``sin`` of ``1..K`` times the period's frequency on the problem's
            periodic axes (an exactly periodic trunk).
        pod_modes: POD-DeepONet with this many modes per output (0: a trunk net).
        hard_constraints: multiply the output by a function of the query point that vanishes on
            the Dirichlet sides and at the initial time (:class:`Envelope`), so zero Dirichlet and
            initial data hold exactly (the physics-informed loss then has no condition terms to
            balance); for problems whose Dirichlet and initial data are zero.
        weight_data, weight_residual, weight_boundary, weight_initial: loss weights; a positive
            ``weight_residual`` trains on the Problem's equation (physics-informed DeepONet).
        n_functions: input functions drawn for physics-informed training without data.
        n_interior, n_boundary, n_initial, sampling: each function's collocation points.
    """

    epochs: int = 1000
    batch_size: int = 10000
    weight_decay: float = 0.0
    schedule: str = "constant"
    loss: str = "mse"
    sensors: int = 100
    points_per_sample: int = 0
    shared_points: bool = False
    basis: int = 40
    branch: str = "mlp"
    branch_width: int = 40
    branch_depth: int = 1
    trunk_width: int = 40
    trunk_depth: int = 1
    activation: str = "relu"
    trunk_output_activation: bool = True
    outputs: str = "split_both"
    fourier_features: int = 0
    fourier_scale: float = 1.0
    periodic_modes: int = 0
    pod_modes: int = 0
    hard_constraints: bool = False
    weight_data: float = 1.0
    weight_residual: float = 0.0
    weight_boundary: float = 1.0
    weight_initial: float = 1.0
    n_functions: int = 1000
    n_interior: int = 100
    n_boundary: int = 200
    n_initial: int = 100
    sampling: str = "uniform"

    def __post_init__(self):
        super().__post_init__()
        if self.loss == "h1":
            raise ValueError("DeepONet's outputs are point values: use loss='mse' or 'l2'")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; valid activations: {', '.join(ACTIVATIONS)}")
        if self.branch not in BRANCHES:
            raise ValueError(f"unknown branch {self.branch!r}; valid branches: {', '.join(BRANCHES)}")
        if self.outputs not in OUTPUTS:
            raise ValueError(f"unknown outputs strategy {self.outputs!r}; valid: {', '.join(OUTPUTS)}")
        sizes = {"basis": self.basis, "branch_width": self.branch_width, "trunk_width": self.trunk_width}
        counts = {"sensors": self.sensors, "points_per_sample": self.points_per_sample,
                  "branch_depth": self.branch_depth, "trunk_depth": self.trunk_depth,
                  "fourier_features": self.fourier_features, "periodic_modes": self.periodic_modes,
                  "pod_modes": self.pod_modes, "n_interior": self.n_interior, "n_boundary": self.n_boundary,
                  "n_initial": self.n_initial}
        for name, value in sizes.items():
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        for name, value in counts.items():
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.sensors == 1:
            raise ValueError("sensors must be 0 (every node) or at least 2")
        if self.fourier_features and self.periodic_modes:
            raise ValueError("choose Fourier features or periodic features for the trunk, not both")
        if self.shared_points and not (self.points_per_sample or self.physics_informed):
            raise ValueError("shared_points shares subsets of query points (points_per_sample > 0) or "
                             "collocation points (the physics-informed loss)")
        if self.pod_modes and self.points_per_sample:
            raise ValueError("POD-DeepONet's basis lives on the training grid: train on aligned data "
                             "(points_per_sample=0)")
        if self.pod_modes and self.hard_constraints:
            raise ValueError("POD-DeepONet's outputs are its modes: hard constraints need a trunk net")
        if self.pod_modes and self.physics_informed:
            raise ValueError("POD-DeepONet has no trunk to differentiate: the physics-informed loss needs a trunk net")
        if min(self.weight_data, self.weight_residual, self.weight_boundary, self.weight_initial) < 0:
            raise ValueError("loss weights must be >= 0")
        if self.physics_informed and self.activation == "relu":
            raise ValueError("the physics-informed loss differentiates the trunk: use activation tanh or sin "
                             "(ReLU has no curvature)")
        if self.physics_informed and self.n_functions < 1:
            raise ValueError(f"n_functions must be >= 1, got {self.n_functions}")

    @property
    def physics_informed(self) -> bool:
        return self.weight_residual > 0


@dataclass(frozen=True)
class PIDeepONetConfig(DeepONetConfig):
    """Physics-informed DeepONet settings; the defaults follow the paper's diffusion-reaction code
    (branch and trunk ``[., 50 x 5]``, tanh, linear outputs, residual and condition losses)."""

    batch_size: int = 100
    basis: int = 50
    branch_width: int = 50
    branch_depth: int = 4
    trunk_width: int = 50
    trunk_depth: int = 4
    activation: str = "tanh"
    trunk_output_activation: bool = False
    weight_residual: float = 1.0


# -- the network ----------------------------------------------------------------------------------
class PeriodicFeatures(nn.Module):
    """``cos(k w x_j), sin(k w x_j)`` (``k = 1..K``, ``w = 2 pi / period``) on periodic axes, the
    other coordinates mapped to ``[-1, 1]``: ``(N, D) -> (N, F)``, with closed-form jets."""

    def __init__(self, lower, upper, periodic_axes, modes: int):
        super().__init__()
        lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        self.periodic = [int(a) for a in periodic_axes]
        self.plain = [j for j in range(len(lower)) if j not in self.periodic]
        buffer = lambda values: torch.as_tensor(values, dtype=torch.float64)  # noqa: E731 - cast with the net
        self.register_buffer("shift", buffer((upper + lower)[self.plain] / 2))
        self.register_buffer("scale", buffer((upper - lower)[self.plain] / 2))
        self.register_buffer("lower", buffer(lower[self.periodic]))
        self.register_buffer("frequencies", buffer(np.array([2 * np.pi / (upper[j] - lower[j]) * np.arange(1, modes + 1)
                                                             for j in self.periodic]).reshape(len(self.periodic), modes)))

    @property
    def size(self) -> int:
        return len(self.plain) + 2 * self.frequencies.numel()

    def _angles(self, points):
        return (points[:, self.periodic] - self.lower)[:, :, None] * self.frequencies  # (N, A, K)

    def forward(self, points):
        angles = self._angles(points).flatten(1)
        return torch.cat([(points[:, self.plain] - self.shift) / self.scale, torch.cos(angles), torch.sin(angles)], 1)

    def jets(self, points, pairs):
        """The stack ``(F, 1 + D + P, N)`` of the features' values and derivatives."""
        n, dims = points.shape
        zeros = points.new_zeros(n)
        rows = []
        for i, j in enumerate(self.plain):  # affine: gradient e_j / scale, no curvature
            grad = [zeros + (1 / self.scale[i] if k == j else 0.0) for k in range(dims)]
            rows.append([(points[:, j] - self.shift[i]) / self.scale[i], *grad, *[zeros for _ in pairs]])
        angles = self._angles(points)
        for kind in ("cos", "sin"):
            for a, j in enumerate(self.periodic):
                for k in range(self.frequencies.shape[1]):
                    w, angle = self.frequencies[a, k], angles[:, a, k]
                    value, slope = (torch.cos(angle), -torch.sin(angle)) if kind == "cos" else (torch.sin(angle),
                                                                                                 torch.cos(angle))
                    grad = [w * slope if m == j else zeros for m in range(dims)]
                    curvature = [-(w**2) * value if (p, q) == (j, j) else zeros for p, q in pairs]
                    rows.append([value, *grad, *curvature])
        return torch.stack([torch.stack(row) for row in rows])  # the order of forward()


class Trunk(nn.Module):
    """The trunk: ``(N, D)`` points to ``(N, width_out)`` basis values, with ``ops()`` for jets."""

    def __init__(self, out: int, lower, upper, periodic_axes, config: DeepONetConfig):
        super().__init__()
        c = config
        self.features = PeriodicFeatures(lower, upper, periodic_axes, c.periodic_modes) if c.periodic_modes else None
        if self.features is not None:
            self.mlp = MLP(self.features.size, out, c.trunk_width, c.trunk_depth, c.activation)
        else:
            self.mlp = MLP(len(lower), out, c.trunk_width, c.trunk_depth, c.activation, lower=lower, upper=upper,
                           fourier_features=c.fourier_features, fourier_scale=c.fourier_scale)
        self.activation = c.activation if c.trunk_output_activation else None

    def forward(self, points):
        out = self.mlp(points if self.features is None else self.features(points))
        return ACTIVATIONS[self.activation](out) if self.activation else out

    def ops(self) -> list[tuple]:
        ops = ([] if self.features is None else [("embedding", self.features.jets)]) + self.mlp.ops()
        return ops + ([("activation", self.activation)] if self.activation else [])


class CNNBranch(nn.Module):
    """Strided convolutions (kernel 5, stride 2, ``width`` channels, ``depth`` layers) over an input's
    sensor grid, then a hidden layer and the coefficients: ``(B, C, *grid) -> (B, out)``."""

    CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}

    def __init__(self, channels: int, grid: tuple, out: int, width: int, depth: int, activation: str):
        super().__init__()
        convs, size = [], channels
        for _ in range(depth):
            convs.append(self.CONV[len(grid)](size, width, 5, stride=2, padding=2))
            size = width
        self.convs = nn.ModuleList(convs)
        self.activation = ACTIVATIONS[activation]
        with torch.no_grad():
            flat = self._features(torch.zeros(1, channels, *grid)).shape[1]
        self.head = MLP(flat, out, width, 1, activation)

    def _features(self, x):
        for conv in self.convs:
            x = self.activation(conv(x))
        return x.flatten(1)

    def forward(self, x):
        return self.head(self._features(x))


class Envelope(nn.Module):
    """``m(x, t) = (t - t0) / T * prod_a w_a(x_a)``, with ``w_a`` the product of ``(x_a - lower_a)`` and
    ``(upper_a - x_a)`` (each scaled by the axis' half width) over the axis' Dirichlet sides: zero
    exactly where zero Dirichlet or initial data are given, positive inside.

    Args:
        sides: ``(axis, lower or None, upper or None)`` per spatial axis with a Dirichlet side.
        time: ``(index of t among the coordinates, t0, t1)``, or ``None`` for a steady problem.
    """

    def __init__(self, sides, time):
        super().__init__()
        self.sides, self.time = [tuple(side) for side in sides], time

    def _factors(self, coordinate):
        """The factors as functions of ``coordinate(j)`` (tensors or jets alike)."""
        factors = []
        for axis, lower, upper in self.sides:
            half = (upper - lower) / 2 if lower is not None and upper is not None else 1.0
            if lower is not None:
                factors.append((coordinate(axis) - lower) / half)
            if upper is not None:
                factors.append((upper - coordinate(axis)) / half)
        if self.time is not None:
            index, t0, t1 = self.time
            factors.append((coordinate(index) - t0) / (t1 - t0))
        return factors

    def forward(self, points):
        """``m`` at ``(..., D)`` points: ``(...)``."""
        value = torch.ones_like(points[..., 0])
        for factor in self._factors(lambda j: points[..., j]):
            value = value * factor
        return value

    def jets(self, points, pairs):
        """``m`` with its derivatives at ``(M, D)`` points: ``(1 + D + P, M)``."""
        coordinates = coordinate_jets(points, pairs)
        value = coordinates[0] * 0.0 + 1.0
        for factor in self._factors(lambda j: coordinates[j]):
            value = value * factor
        return jets_to_stack([value])[0]


def envelope_of(structure: dict) -> Envelope:
    """The :class:`Envelope` of a dataset's ``structure`` (its Dirichlet sides and time interval)."""
    kinds, lower, upper = list(structure["sides"].values()), structure["lower"], structure["upper"]
    sides = []
    for axis in range(structure["dim"]):
        low, high = kinds[2 * axis] == "dirichlet", kinds[2 * axis + 1] == "dirichlet"
        if low or high:
            sides.append((axis, lower[axis] if low else None, upper[axis] if high else None))
    time = structure["time"]
    return Envelope(sides, None if time is None else (structure["dim"], time[0], time[1]))


def times_envelope(stack: torch.Tensor, envelope: torch.Tensor, dims: int, pairs) -> torch.Tensor:
    """The product rule: jets ``(..., 1 + D + P, Q)`` of ``n`` times jets ``(1 + D + P, Q)`` (or with
    leading axes) of ``m``, the same layout: value, gradient, then the second derivatives of ``pairs``."""
    nv, ng, nh = stack[..., :1, :], stack[..., 1: 1 + dims, :], stack[..., 1 + dims:, :]
    mv, mg, mh = envelope[..., :1, :], envelope[..., 1: 1 + dims, :], envelope[..., 1 + dims:, :]
    parts = [mv * nv, mv * ng + nv * mg]
    if pairs:
        i, j = [a for a, _ in pairs], [b for _, b in pairs]
        parts.append(mv * nh + mg[..., i, :] * ng[..., j, :] + mg[..., j, :] * ng[..., i, :] + nv * mh)
    return torch.cat(parts, dim=-2)


class DeepONetNetwork(nn.Module):
    """DeepONet between normalised units.

    Args:
        groups: input channels per input function (MIONet: a branch each, merged by a product).
        sensors: the sensor grid's shape.
        out_channels: ``C``, output components.
        lower, upper: the trunk's input box (space, then time).
        periodic_axes: spatial axes the trunk's periodic features wrap.
        config: the :class:`DeepONetConfig`.
        pod_points: points of the training grid (POD-DeepONet; the modes are set by :meth:`set_pod`).
        envelope: an :class:`Envelope` multiplying the output (hard constraints), or ``None``.
    """

    def __init__(self, groups: list[int], sensors: tuple, out_channels: int, lower, upper, periodic_axes,
                 config: DeepONetConfig, pod_points: int = 0, envelope: Envelope | None = None):
        super().__init__()
        c, p, C = config, config.basis, out_channels
        self.groups, self.out_channels = list(groups), C
        nets, branch_groups, trunk_groups = OUTPUTS[c.outputs](C) if C > 1 else (1, 1, 1)
        if c.pod_modes:
            nets, branch_groups, trunk_groups, p = 1, C, C, c.pod_modes
        self.basis_size, self.branch_groups, self.trunk_groups = p, branch_groups, trunk_groups

        def branch(channels):
            if c.branch == "cnn":
                return CNNBranch(channels, sensors, branch_groups * p, c.branch_width, c.branch_depth, c.activation)
            return MLP(channels * int(np.prod(sensors)), branch_groups * p, c.branch_width, c.branch_depth,
                       c.activation)

        self.branches = nn.ModuleList(nn.ModuleList(branch(g) for g in groups) for _ in range(nets))
        self.trunks = nn.ModuleList() if c.pod_modes else nn.ModuleList(
            Trunk(trunk_groups * p, lower, upper, periodic_axes, c) for _ in range(nets))
        self.bias = nn.Parameter(torch.zeros(C))
        self.cnn = c.branch == "cnn"
        self.envelope = envelope
        if c.pod_modes:
            self.register_buffer("pod_basis", torch.zeros(pod_points, C, p))
            self.register_buffer("pod_mean", torch.zeros(pod_points, C))

    @property
    def pod(self) -> bool:
        return not len(self.trunks)

    def set_pod(self, values: torch.Tensor):
        """POD modes of normalised training outputs ``(N, C, P)``: per output, the mean and the leading
        right singular vectors of the centred samples, scaled to unit mean square over the points."""
        p, points = self.basis_size, values.shape[2]
        if p > min(values.shape[0], points):
            raise ValueError(f"pod_modes={p} exceeds what {values.shape[0]} samples at {points} points span")
        values = values.double()
        mean = values.mean(dim=0)  # (C, P)
        for c in range(values.shape[1]):
            _, _, vectors = torch.linalg.svd(values[:, c] - mean[c], full_matrices=False)
            self.pod_basis[:, c] = (vectors[:p].T * points**0.5).to(self.pod_basis.dtype)
        self.pod_mean.copy_(mean.T.to(self.pod_mean.dtype))

    def coefficients(self, branch: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, *sensors) -> (B, C, p)``: the branch nets (a product over input functions)."""
        per_net = []
        for nets in self.branches:
            out, start = None, 0
            for net, channels in zip(nets, self.groups):
                x = branch[:, start: start + channels]
                start += channels
                y = net(x if self.cnn else x.flatten(1))
                out = y if out is None else out * y
            per_net.append(out)
        b = torch.cat(per_net, dim=1).reshape(len(branch), -1, self.basis_size)
        return b.expand(-1, self.out_channels, -1)

    def basis(self, points: torch.Tensor) -> torch.Tensor:
        """``(M, D) -> (M, C, p)``: the trunk nets' basis values."""
        t = torch.cat([trunk(points) for trunk in self.trunks], dim=1).reshape(len(points), -1, self.basis_size)
        return t.expand(-1, self.out_channels, -1)

    def basis_jets(self, points: torch.Tensor, pairs=()) -> torch.Tensor:
        """``(M, D) -> (C, p, 1 + D + P, M)``: the basis with its derivatives (forward jets)."""
        stacks = torch.cat([network_jets(trunk.ops(), points, pairs) for trunk in self.trunks])
        stacks = stacks.reshape(-1, self.basis_size, *stacks.shape[1:])
        return stacks.expand(self.out_channels, -1, -1, -1)

    def evaluate(self, coefficients: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Outputs for branch ``coefficients`` ``(B, C, p)`` at shared points ``(P, D)`` -> ``(B, C, P)``
        or each function's points ``(B, Q, D)`` -> ``(B, C, Q)``."""
        if self.pod:
            if points.dim() != 2 or len(points) != self.pod_basis.shape[0]:
                raise ValueError(f"POD-DeepONet answers on its training grid only ({self.pod_basis.shape[0]} "
                                 f"shared points), got points of shape {tuple(points.shape)}")
            return torch.einsum("bcp,ncp->bcn", coefficients, self.pod_basis) + self.pod_mean.T + self.bias[:, None]
        if points.dim() == 2:  # Cartesian product: one trunk pass, one product
            out = torch.einsum("bcp,ncp->bcn", coefficients, self.basis(points)) + self.bias[:, None]
        else:
            b, q, d = points.shape
            basis = self.basis(points.reshape(b * q, d)).reshape(b, q, self.out_channels, self.basis_size)
            out = torch.einsum("bcp,bqcp->bcq", coefficients, basis) + self.bias[:, None]
        if self.envelope is None:
            return out
        m = self.envelope(points)
        return out * (m[None, None] if points.dim() == 2 else m[:, None])

    def jets(self, coefficients: torch.Tensor, points: torch.Tensor, pairs=()) -> torch.Tensor:
        """Outputs and their derivatives in the trunk's coordinates at shared points ``(Q, D)`` (one
        trunk pass) or each function's points ``(B, Q, D)``: ``(B, C, 1 + D + P, Q)`` (the branch is a
        constant of the coordinates)."""
        if self.pod:
            raise ValueError("POD-DeepONet has no trunk to differentiate")
        if points.dim() == 2:
            out = torch.einsum("bcp,cpkq->bckq", coefficients, self.basis_jets(points, pairs))
        else:
            b, q, d = points.shape
            stack = self.basis_jets(points.reshape(b * q, d), pairs)
            out = torch.einsum("bcp,cpkbq->bckq", coefficients, stack.reshape(*stack.shape[:3], b, q))
        out = torch.cat([out[:, :, :1] + self.bias[:, None, None], out[:, :, 1:]], dim=2)
        if self.envelope is None:
            return out
        dims = points.shape[-1]
        if points.dim() == 2:
            return times_envelope(out, self.envelope.jets(points, pairs), dims, pairs)
        m = self.envelope.jets(points.reshape(-1, dims), pairs).reshape(-1, *points.shape[:2])
        return times_envelope(out, m.permute(1, 0, 2)[:, None], dims, pairs)

    def forward(self, branch: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return self.evaluate(self.coefficients(branch), points)


# -- the operator ---------------------------------------------------------------------------------
class DeepONet(NeuralOperator):
    """DeepONet on a Problem's operator data, or on its equation (``weight_residual > 0``).

    Example::

        op = DeepONet(epochs=50000, points_per_sample=1).fit("anti_train.h5")
        op.evaluate("anti_test.h5")              # {"rel_l2": ..., "mse": ...}
        op.solve(get_case("antiderivative").sample_input(7))   # a Solution, evaluable anywhere
    """

    name = "deeponet"
    Config = DeepONetConfig

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        self.problem = None

    @property
    def physics_informed(self) -> bool:
        return self.config.physics_informed

    def fit(self, data=None, validation=None, checkpoint=None, resume: bool = False, distribution=None,
            problem=None) -> "DeepONet":
        """Train on ``data`` and/or, with ``weight_residual > 0``, on ``problem``'s equation (its input
        family's functions: the data's, or ``n_functions`` drawn ones); returns ``self``.

        Args:
            data, validation, checkpoint, resume, distribution: as :meth:`NeuralOperator.fit`.
            problem: the Problem whose residual and conditions train the physics-informed DeepONet.
        """
        if self.physics_informed and problem is None:
            raise ValueError("the physics-informed DeepONet trains on a Problem's equation: give problem=")
        if problem is not None and not self.physics_informed:
            raise ValueError("problem= is used by the physics-informed loss: set weight_residual > 0 "
                             "(or use PIDeepONet), or leave it out")
        if data is None and problem is None:
            raise ValueError("DeepONet learns from data: give a dataset (or a problem with weight_residual > 0)")
        if problem is not None and problem.input_family is None:
            raise ValueError(f"problem {problem.name!r} has no input_family to draw functions from")
        self.problem = problem
        return super().fit(data, validation, checkpoint, resume, distribution)

    # -- what the base asks for ---------------------------------------------------------------
    def _meta(self, data) -> dict:
        c = self.config
        if data is None:  # physics only: the problem says everything
            problem = self.problem
            if not c.sensors:
                raise ValueError("physics-informed training without data needs sensors >= 2 (sensors per axis)")
            grid = {d: v for d, v in _coords(problem, c.sensors, None).items() if d != "t"}
            values = problem.params
            for name in problem.input_family.params:
                if not isinstance(values[name], InputFunction):
                    raise ValueError(f"the physics-informed DeepONet reads input functions; {name!r} is a scalar")
            meta = {"problem": problem.name, "problem_fingerprint": family_fingerprint(problem),
                    "structure": structure(problem), "inputs": list(problem.input_family.params),
                    "outputs": list(problem.field_names), "output_components": list(problem.components),
                    "groups": [1] * len(problem.input_family.params), "grid": None,
                    "sensors": {d: np.asarray(v).tolist() for d, v in grid.items()}}
        else:
            generation = data.attrs["generation"]
            groups = [values.shape[-1] for values in data.grid_inputs.values()] + [1] * len(data.scalars)
            index = self._sensor_index(data)
            meta = {"problem": data.attrs.get("problem"), "problem_fingerprint": data.attrs.get("problem_fingerprint"),
                    "structure": generation["structure"], "inputs": list(data.grid_inputs) + list(data.scalars),
                    "outputs": list(data.output_names), "output_components": data.output_components,
                    "groups": groups, "grid": {d: np.asarray(v).tolist() for d, v in data.coords.items()},
                    "sensors": {d: np.asarray(data.coords[d])[i].tolist() for d, i in zip(data.space, index)}}
            if self.problem is not None and self.problem.name != meta["problem"]:
                raise ValueError(f"the data is of problem {meta['problem']!r}, the equation of {self.problem.name!r}")
        meta.update(in_channels=sum(meta["groups"]), out_channels=len(meta["output_components"]))
        return meta

    def _network(self, meta) -> DeepONetNetwork:
        s = meta["structure"]
        time_axis = s["time"] is not None
        lower = list(s["lower"]) + ([s["time"][0]] if time_axis else [])
        upper = list(s["upper"]) + ([s["time"][1]] if time_axis else [])
        sensors = tuple(len(v) for v in meta["sensors"].values())
        pod_points = int(np.prod([len(v) for v in meta["grid"].values()])) if self.config.pod_modes else 0
        envelope = envelope_of(s) if self.config.hard_constraints else None
        return DeepONetNetwork(meta["groups"], sensors, meta["out_channels"], lower, upper, s["periodic_axes"],
                               self.config, pod_points, envelope)

    def _sensor_index(self, data) -> list[np.ndarray]:
        return sensor_index(data.spatial_shape, self.config.sensors or None)

    def _branch(self, data) -> np.ndarray:
        """``(N, C_in, *sensors)`` input channels at the sensors, checked against the trained ones."""
        index = self._sensor_index(data)
        found = {d: np.asarray(data.coords[d])[i] for d, i in zip(data.space, index)}
        if self.meta and any(len(found[d]) != len(v) or not np.allclose(found[d], v, rtol=0, atol=1e-9)
                             for d, v in self.meta["sensors"].items()):
            shapes = {d: len(v) for d, v in self.meta["sensors"].items()}
            raise ValueError(f"this data's sensors ({ {d: len(v) for d, v in found.items()} } evenly spaced nodes "
                             f"per axis) are not the operator's ({shapes} at {_span(self.meta['sensors'])}); use data "
                             "on a grid whose nodes include them")
        channels = data.input_channels()
        return channels[(slice(None), slice(None), *np.ix_(*index))]

    def _tensors(self, data, training: bool):
        """``(branch, points, values)``: shared points ``(P, D)`` and values ``(N, C, P)``, or each
        function's ``(N, Q, D)`` and ``(N, C, Q)``; with ``shared_points`` the functions' own point
        indices ``(N, Q)`` come before the values (a batch then uses its first function's)."""
        c = self.config
        branch = torch.as_tensor(self._branch(data), dtype=self.dtype)
        per = c.points_per_sample if training else 0
        triplets = PointTriplets(data, sensors=c.sensors or None, points_per_sample=per or None, seed=c.seed,
                                 dtype=self.dtype)
        points, values = triplets.points, triplets.values.transpose(1, 2)  # (P, D), (N, C, P)
        if not per:
            return branch, points, values
        index = torch.as_tensor(triplets.index)
        if c.shared_points:
            return branch, points, index, values
        values = torch.gather(values, 2, index[:, None, :].expand(-1, values.shape[1], -1))
        return branch, points[index], values  # (N, Q, D), (N, C, Q)

    def _batch(self, tensors, index):
        branch, points, values = tensors[0], tensors[1], tensors[-1]
        index = index.to(branch.device)
        if len(tensors) == 4:  # the first function's query points, for all of the batch
            own = tensors[2][index[0]]
            return [branch[index], points[own], values[index][:, :, own]]
        return [branch[index], points if points.dim() == 2 else points[index], values[index]]

    def _metrics(self, prediction, target, coords=None) -> dict:
        return {"rel_l2": float(LOSSES["l2"](prediction, target)), "mse": float(LOSSES["mse"](prediction, target))}

    def _objective(self, data) -> Objective:
        c = self.config
        if not c.physics_informed:
            objective = super()._objective(data)
            if c.hard_constraints:  # u = m(x, t) * output: the output's normaliser may scale, not shift
                self.model.outputs.mean.zero_()
            if c.pod_modes:
                branch, points, values = objective.batches(torch.arange(objective.size))
                self.model.network.set_pod(self.model.outputs.encode(values))
            return objective
        if data is not None:
            objective = super()._objective(data)
            if c.hard_constraints:
                self.model.outputs.mean.zero_()
            seeds = data.seeds
        else:
            self.build(None)
            seeds = np.arange(c.n_functions) + SPLITS["train"]
        samples = FunctionSamples(self.problem, seeds, self.meta["sensors"], c, self.dtype, self.device)
        if c.hard_constraints:
            check_homogeneous(self.problem, samples)
        if data is None:
            self.model.inputs.fit(samples.branch)
        physics = PhysicsLoss(self.problem, samples, {"residual": c.weight_residual, "boundary": c.weight_boundary,
                                                      "initial": c.weight_initial}, shared=c.shared_points)

        def batches(index):
            return (objective.batches(index) if data is not None else None), physics.batch(index)

        def loss(model, batch):
            total = physics(model, batch[1])
            return total + c.weight_data * objective.loss(model, batch[0]) if batch[0] is not None else total

        if c.shared_points and c.batch_size >= len(seeds):
            raise ValueError(f"shared points are those of each mini-batch's first function: with one batch of all "
                             f"{len(seeds)} functions they would never change; use batch_size < {len(seeds)}")
        return Objective(batches, len(seeds), loss, seeds)

    # -- answers ------------------------------------------------------------------------------
    def predict(self, inputs, points) -> np.ndarray:
        """Outputs ``(N, C_out, P)`` for input channels at the sensors ``(N, C_in, *sensors)`` and shared
        points ``(P, D)``, or ``(N, C_out, Q)`` for each function's points ``(N, Q, D)`` (physical units)."""
        self._ready()
        x = torch.tensor(np.asarray(inputs), dtype=self.dtype, device=self.device)
        y = torch.tensor(np.asarray(points), dtype=self.dtype, device=self.device)
        sensors = tuple(len(v) for v in self.meta["sensors"].values())
        expected = (self.meta["in_channels"], *sensors)
        if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected:
            raise ValueError(f"inputs must have shape (N, {', '.join(map(str, expected))}): {expected[0]} input "
                             f"channel(s) at {' x '.join(map(str, sensors))} sensors, got {tuple(x.shape)}")
        d = len(self.meta["structure"]["lower"]) + (self.meta["structure"]["time"] is not None)
        if not (y.ndim == 2 and y.shape[1] == d or y.ndim == 3 and y.shape[0] == len(x) and y.shape[2] == d):
            raise ValueError(f"points must have shape (P, {d}) (shared) or ({len(x)}, Q, {d}) (per function), "
                             f"space first and time last, got {tuple(y.shape)}")
        return self._forward(self.model, [x, y]).double().cpu().numpy()

    def _forward(self, model, inputs, batch: int = 100):
        with torch.no_grad():
            x, y = inputs
            return torch.cat([model(x[i: i + batch], y if y.dim() == 2 else y[i: i + batch])
                              for i in range(0, len(x), batch)])

    def sensor_values(self, problem) -> np.ndarray:
        """``(1, C_in, *sensors)``: a member of the family read at the trained sensors."""
        self._ready()
        if problem.name != self.meta["problem"]:
            raise ValueError(f"this operator was trained on {self.meta['problem']!r}, not {problem.name!r}")
        coords = {d: np.asarray(v) for d, v in self.meta["sensors"].items()}
        shape = tuple(len(v) for v in coords.values())
        channels = []
        for name in self.meta["inputs"]:
            value = problem.params[name]
            channels.append(value.on_grid(coords)[None] if isinstance(value, InputFunction)
                            else np.full((1, *shape), float(value)))
        return np.concatenate(channels)[None]

    def solve(self, problem):
        """The prediction for one member of the trained family, as a Solution evaluable anywhere
        (POD-DeepONet: on its training grid, interpolated in between)."""
        branch = self.sensor_values(problem)
        config = {**dataclasses.asdict(self.config), "operator": self.name}
        if self.model.network.pod:
            coords = {d: np.asarray(v) for d, v in self.meta["grid"].items()}
            started = time.perf_counter()
            values = self.predict(branch, grid_points(coords))[0]  # (C, P), points in the order of coords
            shape = tuple(len(v) for v in coords.values())
            attrs = {"problem": problem.name, "solver": self.name, "config": json.dumps(config),
                     "wall_time_s": time.perf_counter() - started}
            dataset = xr.Dataset({name: (tuple(coords), values[i].reshape(shape))
                                  for i, name in enumerate(self.meta["output_components"])}, coords=coords, attrs=attrs)
            return GridSolution(dataset, problem)

        def function(points):
            return self.predict(branch, points)[0].T

        return FunctionSolution(problem, function, self.name, config, 0.0)


def _span(sensors: dict) -> str:
    return ", ".join(f"{d} in [{v[0]:.4g}, {v[-1]:.4g}]" for d, v in sensors.items())


class PIDeepONet(DeepONet):
    """The physics-informed DeepONet: a :class:`DeepONet` whose defaults train on the Problem's
    residual and conditions (:class:`PIDeepONetConfig`)."""

    name = "pi_deeponet"
    Config = PIDeepONetConfig
