"""Forward propagation of value, gradient and second derivatives through a network.

For a network given as a list of primitive operations (affine input map, linear layers,
elementwise activations), all derivatives a residual needs are pushed forward together in one
stacked tensor ``(N, K, width)`` with ``K = 1 + D + P`` slots (value, ``D`` first
derivatives, ``P`` second derivatives for the chosen index pairs): each linear layer is one
matrix product for all slots, each activation a few fused elementwise operations.  The loss
then needs only a first-order backward, which ``torch.compile`` handles (double backward
through compiled code does not work; see NOTES).  This is the "forward Laplacian" idea of Li
et al. (2023) generalised to any set of second derivatives.
"""

from __future__ import annotations

import torch

from ..problem.equation import flux_rows, source_rows
from .jet import Jet

__all__ = ["required_pairs", "network_jets", "propagate", "jets_to_stack", "output_jets", "flux_divergence",
           "residual_from_jets",
           "coordinate_jets"]


def _tanh(z):
    a = torch.tanh(z)
    a1 = 1 - a * a
    return a, a1, -2 * a * a1


_ACTIVATIONS = {  # name -> (value, first derivative, second derivative)
    "tanh": _tanh,
    "sin": lambda z: (lambda a: (a, torch.cos(z), -a))(torch.sin(z)),
    "cos": lambda z: (lambda a: (a, -torch.sin(z), -a))(torch.cos(z)),
    "relu": lambda z: (torch.relu(z), (z > 0).to(z.dtype), torch.zeros_like(z)),  # no curvature (almost everywhere)
}


def required_pairs(problem) -> tuple[tuple[int, int], ...]:
    """Second-derivative index pairs the problem's residual needs (time is index ``d``).

    The flux's divergence needs ``(k, j)`` only where flux component ``j`` depends on
    ``du/dx_k``, so a Laplacian needs no mixed pairs; see :func:`_flux_pairs`.
    """
    d = problem.dim
    pairs = _flux_pairs(problem) if problem.equation.flux is not None else []
    if problem.is_evolution and problem.equation.second_time_coefficient:
        pairs.append((d, d))
    return tuple(pairs)


def _flux_pairs(problem, samples: int = 16) -> list[tuple[int, int]]:
    """The spatial pairs ``(k, j)`` for which some flux component ``j`` (or ``k``) depends on
    ``du/dx_k`` (or ``du/dx_j``).

    The flux is evaluated as in :func:`flux_divergence`, on first-order jets at random values whose
    only derivatives are those with respect to the gradient entries, so a nonzero derivative is
    a dependence (a NaN one counts too: keeping a pair is always safe).
    """
    d, n = problem.dim, problem.n_components
    dims = n * d
    generator = torch.Generator().manual_seed(0)

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(samples, generator=generator, dtype=torch.float64)

    def constant(value):
        return Jet(value, torch.zeros(samples, dims, dtype=torch.float64))

    values = [constant(uniform(-2.0, 2.0)) for _ in range(n)]
    grads = [[Jet.variable(uniform(-2.0, 2.0), c * d + k, dims, second_order=False) for k in range(d)]
             for c in range(n)]
    x = [constant(uniform(lo, hi)) for lo, hi in zip(problem.geometry.lower, problem.geometry.upper)]
    t = uniform(problem.time.t0, problem.time.t1) if problem.is_evolution else None
    needed = set()
    for row in _flux_of_jets(problem, values, grads, x, t):
        for j, component in enumerate(row):
            if isinstance(component, Jet):
                depends = (component.grad != 0).any(dim=0).reshape(n, d).any(dim=0)
                needed.update((min(k, j), max(k, j)) for k in range(d) if depends[k])
    return [(k, j) for k in range(d) for j in range(k, d) if (k, j) in needed]


def _activate(stack, name, dims, pairs, bias=None):
    # ``bias``: the previous linear layer's, added here to the values only (one slot, not the whole
    # stack).  One split (and unbind) rather than an index per slot: the backward of each index would
    # allocate and zero a tensor of the whole stack's size (45% of an eager burgers1d step)
    parts = torch.split(stack, [1, dims, len(pairs)] if pairs else [1, dims], dim=1)
    z, dz = parts[0].squeeze(1), parts[1]
    if bias is not None:
        z = z + bias[:, None]
    a, a1, a2 = _ACTIVATIONS[name](z)
    a1 = a1.unsqueeze(1)
    out = [a.unsqueeze(1), a1 * dz]
    if pairs:
        first = dz.unbind(1)
        curvature = torch.stack([first[i] * first[j] for i, j in pairs], dim=1)
        out.append(torch.addcmul(a1 * parts[2], a2.unsqueeze(1), curvature))
    return torch.cat(out, dim=1)


def _on_values(vector: torch.Tensor, slots: int) -> torch.Tensor:
    """``(F,)`` as ``(F, slots, 1)``, zero beyond the value slot: added to a stack, it shifts values only
    (the broadcast add's backward sums over points, without a full-size zeroed gradient)."""
    return torch.nn.functional.pad(vector[:, None, None], (0, 0, 0, slots - 1))


def network_jets(ops, points: torch.Tensor, pairs=()) -> torch.Tensor:
    """Push value and derivatives through ``ops``; returns the stack ``(out, 1 + D + P, N)``.

    Slot 0 holds values, slots ``1..D`` first derivatives along each input, the last ``P``
    slots second derivatives for ``pairs``.  Points are the innermost axis, so every
    elementwise kernel runs over long contiguous rows, and each linear layer is one matrix
    product for all slots.  ``ops`` is a sequence of ``("affine", shift, scale)``,
    ``("linear", weight, bias)``, ``("activation", name)`` and ``("sincos",)`` (concatenated
    sine and cosine features); a first ``("embedding", jets)`` op gives its own stack as
    ``jets(points, pairs)`` (closed-form derivatives, e.g. of Gaussian features).
    """
    n, dims = points.shape
    ops = list(ops)
    if ops and ops[0][0] == "embedding":  # a first stage with closed-form jets of its own
        stack, ops = ops[0][1](points, pairs), ops[1:]
    elif [op[0] for op in ops[:3]] == ["affine", "linear", "activation"] and ops[1][2] is not None:
        stack, ops = _first_layer(points, ops[:3], dims, pairs), ops[3:]
    else:
        eye = torch.eye(dims, dtype=points.dtype, device=points.device)[:, :, None].expand(dims, dims, n)
        parts = [points.T[:, None], eye]
        if pairs:
            parts.append(torch.zeros(dims, len(pairs), n, dtype=points.dtype, device=points.device))
        stack = torch.cat(parts, dim=1)
    return propagate(stack, ops, dims, pairs)


def propagate(stack: torch.Tensor, ops, dims: int, pairs=()) -> torch.Tensor:
    """Push a stack ``(features, 1 + D + P, N)`` of input jets through ``ops``.

    For inputs that are themselves functions of the coordinates (an embedding such as
    ``cos``/``sin`` of a periodic label): build their stack with :func:`jets_to_stack`.
    """
    n = stack.shape[2]
    slots = stack.shape[1]
    bias = None  # a linear layer's bias, added to the values by the next operation
    for op in ops:
        kind = op[0]
        if bias is not None and kind != "activation":
            stack, bias = stack + _on_values(bias, slots), None
        if kind == "affine":
            stack = (stack - _on_values(op[1], slots)) / op[2][:, None, None]
        elif kind == "linear":
            stack = torch.matmul(op[1], stack.reshape(stack.shape[0], slots * n)).reshape(-1, slots, n)
            bias = op[2]
        elif kind == "activation":
            stack, bias = _activate(stack, op[1], dims, pairs, bias), None
        elif kind == "sincos":
            stack = torch.cat([_activate(stack, "sin", dims, pairs), _activate(stack, "cos", dims, pairs)], dim=0)
        else:
            raise ValueError(f"unknown network operation {kind!r}")
    if bias is not None:
        stack = stack + _on_values(bias, slots)
    return stack


def _first_layer(points, ops, dims, pairs):
    """Input map, first linear layer and activation in closed form.

    The first layer's input derivatives are constant (the scaled weight columns) and its
    curvature is zero, so no matrix product over derivative slots is needed.
    """
    (_, shift, scale), (_, weight, bias), (_, name) = ops
    columns = weight / scale  # d z / d x_i, (width, D)
    z = torch.addmm(bias[:, None], columns, (points - shift).T)
    a, a1, a2 = _ACTIVATIONS[name](z)
    slots = [a] + [a1 * columns[:, i : i + 1] for i in range(dims)]
    slots += [a2 * (columns[:, i] * columns[:, j])[:, None] for i, j in pairs]
    return torch.stack(slots, dim=1)


def jets_to_stack(jets) -> torch.Tensor:
    """The stack ``(len(jets), 1 + D + P, N)`` of jets over the same inputs and pairs."""
    return torch.stack([torch.cat([j.value[None], j.grad.T] + ([] if j.hess is None else [j.hess.T])) for j in jets])


def output_jets(stack: torch.Tensor, pairs) -> list[Jet]:
    """One :class:`Jet` per output component from a propagated stack."""
    dims = stack.shape[1] - 1 - len(pairs)
    return [Jet(stack[c, 0], stack[c, 1 : 1 + dims].T, stack[c, 1 + dims :].T if pairs else None, pairs)
            for c in range(stack.shape[0])]


def coordinate_jets(points: torch.Tensor, pairs=()) -> list[Jet]:
    """Jets of the input coordinates themselves (for output transforms)."""
    dims = points.shape[1]
    return [Jet.variable(points[:, j], j, dims, pairs) for j in range(dims)]


def _spatial_first_order(u: Jet, d: int) -> tuple[Jet, list[Jet]]:
    """``u`` and its spatial gradient components as first-order jets over space.

    A pair the jet does not hold is one the flux does not need (:func:`required_pairs`): zero.
    """
    index = {p: k for k, p in enumerate(u.pairs)}
    value = Jet(u.value, u.grad[:, :d])
    zero = torch.zeros_like(u.value)
    grads = []
    for k in range(d):
        pairs = [(min(k, j), max(k, j)) for j in range(d)]
        column = [u.hess[:, index[pair]] if pair in index else zero for pair in pairs]
        grads.append(Jet(u.grad[:, k], torch.stack(column, dim=1)))
    return value, grads


def _flux_of_jets(problem, values, grads, x, t, p=None) -> list[list]:
    """The flux as ``n`` rows of ``d`` components, from per-component value jets and lists of
    gradient jets (a single field's passed unwrapped, as flux callables expect)."""
    n = problem.n_components
    u, du = (values[0], grads[0]) if n == 1 else (list(values), list(grads))
    return flux_rows(problem.equation.flux(u, du, x, t, problem.p if p is None else p), n, problem.dim)


def flux_divergence(problem, u: list[Jet], x, t, p=None) -> list[torch.Tensor]:
    """``div F`` per component from second-order jets of ``u`` over the spatial axes first.

    ``x`` holds the ``d`` coordinate values of the points (component-first).  The divergence
    is the total derivative of the flux, obtained by evaluating the flux on first-order
    spatial jets (so any flux written with :mod:`pdekit.math` works).  ``p``: parameters to
    use instead of the problem's own.
    """
    d, n = problem.dim, problem.n_components
    values, grads = zip(*[_spatial_first_order(c, d) for c in u])
    x = [Jet.variable(x[j], j, d, second_order=False) for j in range(d)]
    divergence = [torch.zeros_like(u[0].value) for _ in range(n)]
    for i, row in enumerate(_flux_of_jets(problem, values, grads, x, t, p)):
        for j, component in enumerate(row):
            if isinstance(component, Jet):
                divergence[i] = divergence[i] + component.grad[:, j]
    return divergence


def residual_from_jets(problem, u: list[Jet], points: torch.Tensor, p=None) -> torch.Tensor:
    """``c2 u_tt + c1 u_t + div F - S`` from second-order output jets; ``(N, n_components)``.

    ``u`` holds one jet per component over all ``D`` inputs with (at least) the pairs of
    :func:`required_pairs`.  ``p``: parameters to use instead of the problem's own (a batch of
    input functions, each on its block of the points: :class:`~pdekit.problem.inputs.FunctionBatch`).
    """
    d, n = problem.dim, problem.n_components
    eq, p = problem.equation, problem.p if p is None else p
    x_plain, t = problem.split_points(points)
    residual = [torch.zeros_like(points[:, 0]) for _ in range(n)]
    if eq.flux is not None:
        residual = flux_divergence(problem, u, x_plain, t, p)
    if eq.source is not None:
        values = u[0].value if n == 1 else torch.stack([c.value for c in u])
        grads = u[0].grad[:, :d].T if n == 1 else torch.stack([c.grad[:, :d].T for c in u])
        for i, value in enumerate(source_rows(eq.source(values, grads, x_plain, t, p), n)):
            residual[i] = residual[i] - value
    if problem.is_evolution:
        tt = u[0].pairs.index((d, d)) if eq.second_time_coefficient else None
        c1 = problem.time_coefficients
        for i in range(n):
            if eq.second_time_coefficient:
                residual[i] = residual[i] + eq.second_time_coefficient * u[i].hess[:, tt]
            if c1[i]:
                residual[i] = residual[i] + c1[i] * u[i].grad[:, d]
    return torch.stack(residual, dim=1)
