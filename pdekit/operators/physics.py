"""Physics-informed DeepONet training (Wang, Wang & Perdikaris 2021): the Problem's residual at
trunk points, with its boundary and initial terms, for batches of input functions; no solved data.

Each training function (a seed of the Problem's input family) keeps its own collocation points,
drawn once from the Problem's samplers (as the paper's data set does); a batch is a set of function
indices, so a resumed run sees the same batches.  Derivatives in the trunk's coordinates are pushed
forward through the trunk (:mod:`pdekit.derivatives.forward`, no double backward); the branch is a
constant of them, so one trunk pass over the points of all the batch's functions serves them all,
and the functions enter the Problem's callables as one :class:`~pdekit.problem.inputs.FunctionBatch`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..derivatives.forward import output_jets, required_pairs, residual_from_jets
from ..problem import Dirichlet, Initial, Neumann
from ..problem.equation import flux_rows
from ..problem.inputs import FunctionBatch
from ..problem.problem import Parameters
from ..solvers.pinn import where_on

__all__ = ["FunctionSamples", "PhysicsLoss", "check_homogeneous"]


class FunctionSamples:
    """Input functions drawn from ``seeds``, read at the sensors, with each one's collocation points.

    Args:
        problem: the Problem (its input family, samplers and conditions).
        seeds: ``(N,)`` seeds of the functions.
        sensors: sensor coordinates per spatial axis (``{"x": [...], ...}``).
        config: the :class:`~pdekit.operators.deeponet.DeepONetConfig` (point counts, sampling, seed).

    Attributes:
        functions: per input parameter, the ``N`` functions.
        branch: ``(N, C_in, *sensors)`` sensor values.
        sets: ``(N, n, D)`` points per set: ``interior``, ``boundary``, ``initial``, and
            ``periodic_lower``/``periodic_upper`` (paired across each periodic axis).
        normals: ``(N, n_boundary, d)`` outward normals; masks: per Dirichlet and Neumann condition
            an ``(N, n_boundary)`` tensor, 1 where it holds.
    """

    def __init__(self, problem, seeds, sensors: dict, config, dtype, device):
        family, c, n = problem.input_family, config, len(seeds)
        drawn = [family.draw(problem.geometry, int(seed)) for seed in seeds]
        self.functions = {name: [values[name] for values in drawn] for name in family.params}
        coords = {d: np.asarray(v, dtype=float) for d, v in sensors.items()}
        tensor = lambda values: torch.as_tensor(np.asarray(values, dtype=float), dtype=dtype, device=device)  # noqa: E731
        self.branch = tensor([[values[name].on_grid(coords) for name in family.params] for values in drawn])
        blocks = lambda points: tensor(points).reshape(n, -1, points.shape[1])  # noqa: E731
        self.sets = {"interior": blocks(problem.sample_interior(n * c.n_interior, c.sampling, c.seed))}
        self.conditions = problem.conditions_of(Dirichlet) + problem.conditions_of(Neumann)
        self.normals, self.masks = None, []
        if c.n_boundary and (self.conditions or problem.periodic_axes):
            boundary = problem.sample_boundary(n * c.n_boundary, c.sampling, c.seed + 1)
            x, _ = problem.split_points(boundary.points)
            self.sets["boundary"] = blocks(boundary.points)
            self.normals = blocks(boundary.normals)
            self.masks = [tensor(where_on(problem, cond.on, boundary, x)).reshape(n, -1) for cond in self.conditions]
            lowers, uppers = [], []
            for axis in problem.periodic_axes:
                lower, upper = boundary.points.copy(), boundary.points.copy()
                lower[:, axis], upper[:, axis] = problem.geometry.lower[axis], problem.geometry.upper[axis]
                lowers.append(blocks(lower))
                uppers.append(blocks(upper))
            if lowers:
                self.sets["periodic_lower"], self.sets["periodic_upper"] = torch.cat(lowers, 1), torch.cat(uppers, 1)
        if problem.is_evolution and c.n_initial:
            self.sets["initial"] = blocks(problem.sample_initial(n * c.n_initial, c.sampling, c.seed + 2))

    def __len__(self):
        return len(self.branch)


class PhysicsLoss:
    """The weighted residual, boundary and initial terms of ``problem`` over batches of ``samples``.

    Args:
        problem: the Problem.
        samples: the :class:`FunctionSamples` trained on.
        weights: ``residual``, ``boundary`` (Dirichlet, Neumann, periodic), ``initial`` (value, rate).
        shared: a batch's functions share its first function's points (the Cartesian form: one
            trunk pass over them serves the whole batch); else each uses its own.
    """

    def __init__(self, problem, samples: FunctionSamples, weights: dict, shared: bool = False):
        self.problem, self.samples, self.weights, self.shared = problem, samples, weights, shared
        self.pairs = required_pairs(problem)
        self.neumann = bool(problem.conditions_of(Neumann))
        self.initial = {order: [c for c in problem.conditions_of(Initial) if c.derivative == order] for order in (0, 1)}

    def batch(self, index: torch.Tensor) -> dict:
        """The material of the functions ``index``: sensor values, point sets, masks, parameters."""
        s, rows = self.samples, index.tolist()
        index = index.to(s.branch.device)
        params = {**self.problem.params, **{name: FunctionBatch([functions[i] for i in rows], like=s.branch)
                                            for name, functions in s.functions.items()}}
        # shared: the first function's points for all, as an expanded view (stride 0 says: shared)
        pick = (lambda values: values[index[0]].expand(len(index), *values.shape[1:])) if self.shared else \
            (lambda values: values[index])  # noqa: E731
        return {"branch": s.branch[index], "sets": {name: pick(points) for name, points in s.sets.items()},
                "normals": None if s.normals is None else pick(s.normals), "masks": [pick(m) for m in s.masks],
                "p": Parameters(params)}

    def __call__(self, model, batch: dict) -> torch.Tensor:
        """The weighted sum of :meth:`terms` for a DeepONet ``model`` (with its normalisers)."""
        coefficients = model.network.coefficients(model.inputs.encode(batch["branch"]))

        def field(points, pairs):
            return self.network_field(model, coefficients, points, pairs)

        weight = {"residual": "residual", "dirichlet": "boundary", "neumann": "boundary", "periodic": "boundary",
                  "initial": "initial", "initial_rate": "initial"}
        return sum(self.weights[weight[name]] * value for name, value in self.terms(field, batch).items())

    @staticmethod
    def network_field(model, coefficients, points, pairs):
        """The model's outputs at ``(B, Q, D)`` points, in physical units, flattened to ``B * Q``
        points: ``(B * Q, C)`` values (``pairs=None``) or one :class:`Jet` per component.  Points
        shared by the batch (an expanded view) go through the trunk once."""
        network, outputs = model.network, model.outputs
        if points.dim() == 3 and points.stride(0) == 0:
            points = points[0]
        if pairs is None:
            values = outputs.decode(network.evaluate(coefficients, points))  # (B, C, Q)
            return values.transpose(1, 2).reshape(-1, values.shape[1])
        stack = network.jets(coefficients, points, pairs) * outputs.std[:, None, None]  # (B, C, K, Q)
        stack = torch.cat([stack[:, :, :1] + outputs.mean[:, None, None], stack[:, :, 1:]], dim=2)
        b, c, k, q = stack.shape
        return output_jets(stack.permute(1, 2, 0, 3).reshape(c, k, b * q), pairs)

    def terms(self, field, batch: dict) -> dict:
        """Mean square residual and condition misfits of a ``field(points, pairs)`` (see
        :meth:`network_field`) for the batch's functions."""
        problem, p, sets = self.problem, batch["p"], batch["sets"]
        d = problem.dim
        flat = lambda points: points.reshape(-1, points.shape[-1])  # noqa: E731
        interior = sets["interior"]
        terms = {"residual": residual_from_jets(problem, field(interior, self.pairs), flat(interior), p)
                 .square().mean()}
        if "boundary" in sets:
            terms.update(self._boundary_terms(field, batch))
        if "periodic_lower" in sets:
            terms["periodic"] = (field(sets["periodic_lower"], None) - field(sets["periodic_upper"], None)).square().mean()
        if "initial" in sets:
            points = flat(sets["initial"])
            x, t = problem.split_points(points)
            if self.initial[1]:  # a rate is given: first-order jets, the time derivative is the last
                jets = field(sets["initial"], ())
                found = {0: torch.stack([j.value for j in jets], 1), 1: torch.stack([j.grad[:, d] for j in jets], 1)}
            else:
                found = {0: field(sets["initial"], None)}
            for order, values in found.items():
                target = torch.zeros_like(values)
                for condition in self.initial[order]:
                    columns = problem.component_slice(condition.field)
                    target[:, columns] = _columns(_value(condition.value, x, t, p), len(points),
                                                  columns.stop - columns.start, values)
                terms["initial_rate" if order else "initial"] = (values - target).square().mean()
        return terms

    def _boundary_terms(self, field, batch: dict) -> dict:
        """Dirichlet misfits ``u - g`` and Neumann misfits ``-F . n - g`` where each condition holds."""
        problem, p, d, n = self.problem, batch["p"], self.problem.dim, self.problem.n_components
        shape = batch["sets"]["boundary"].shape
        points = batch["sets"]["boundary"].reshape(-1, shape[-1])
        x, t = problem.split_points(points)
        if self.neumann:
            jets = field(batch["sets"]["boundary"], ())
            values = torch.stack([j.value for j in jets], dim=1)
            grads = torch.stack([j.grad[:, :d] for j in jets], dim=1)  # (M, n, d)
            normals = batch["normals"].reshape(-1, d)
        else:
            values = field(batch["sets"]["boundary"], None)
        sums, counts = {}, {}
        for condition, mask in zip(self.samples.conditions, batch["masks"]):
            kind = type(condition).__name__.lower()
            columns = problem.component_slice(condition.field)
            target = _columns(_value(condition.value, x, t, p), len(points), columns.stop - columns.start, values)
            if kind == "dirichlet":
                error = values[:, columns] - target
            else:
                u = values[:, 0] if n == 1 else values.T
                du = grads[:, 0].T if n == 1 else grads.permute(1, 2, 0)
                rows = flux_rows(problem.equation.flux(u, du, x, t, p), n, d)[columns]
                error = -torch.stack([sum(row[j] * normals[:, j] for j in range(d)) for row in rows], 1) - target
            sums[kind] = sums.get(kind, 0.0) + (error * mask.reshape(-1, 1)).square().sum()
            counts[kind] = counts.get(kind, 0.0) + mask.sum() * error.shape[1]
        return {kind: sums[kind] / counts[kind].clamp(min=1) for kind in sums}


def check_homogeneous(problem, samples: FunctionSamples, functions: int = 4):
    """Refuse hard constraints (:class:`~pdekit.operators.deeponet.Envelope`) for a problem whose
    Dirichlet or initial data are not zero, or that has a second time derivative."""
    if problem.is_evolution and problem.equation.second_time_coefficient:
        raise ValueError("hard constraints enforce an initial value, not an initial rate: this problem is second "
                         "order in time")
    boundary = problem.sample_boundary(64, seed=0)
    initial = problem.sample_initial(64, seed=0) if problem.is_evolution else None
    for i in range(min(functions, len(samples))):
        p = Parameters({**problem.params, **{name: f[i] for name, f in samples.functions.items()}})
        for condition in problem.conditions_of(Dirichlet) + problem.conditions_of(Initial):
            if isinstance(condition, Initial):
                points = initial
            else:
                points = boundary.points[where_on(problem, condition.on, boundary, problem.split_points(boundary.points)[0])]
            x, t = problem.split_points(points)
            if np.max(np.abs(np.asarray(_value(condition.value, x, t, p), dtype=float)), initial=0.0) > 1e-12:
                raise ValueError(f"hard constraints make the output vanish where {type(condition).__name__} data are "
                                 "given; this problem's are not zero: use hard_constraints=False")


def _value(value, x, t, p):
    """A condition's value at the points, with the batch's parameters."""
    return value(x, t, p) if callable(value) else value


def _columns(value, count: int, components: int, like: torch.Tensor) -> torch.Tensor:
    """A condition's value (number, array or per-component list) as ``(count, components)``."""
    parts = [value] if components == 1 else list(value)
    return torch.stack([torch.as_tensor(v, dtype=like.dtype, device=like.device).expand(count) for v in parts], 1)
