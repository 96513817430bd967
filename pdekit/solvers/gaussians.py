"""Gaussian embedding + small MLP: the model of Physics-Informed Gaussians (Kang et al., ICLR 2025).

``u(x) = MLP(FE(x))`` with ``FE(x) = sum_i f_i exp(-(x - mu_i)^T P_i (x - mu_i) / 2)``: ``N``
Gaussians with trainable means ``mu_i``, precisions ``P_i = L_i L_i^T`` (diagonal ``L_i``, or a
lower-triangular Cholesky factor for full covariances) and ``k``-channel features ``f_i``.

The Gaussians' value, gradient and second derivatives are closed-form, so the embedding
enters :func:`pdekit.derivatives.forward.network_jets` as one ``("embedding", jets)`` op and
the MLP on top goes through the usual forward propagation: no nested autograd anywhere.

Memory and time: by default every Gaussian contributes at every point (exact).  The exponent
and every derivative slot are polynomials in the inputs with per-Gaussian coefficients, so the
whole stack is one exponential and two matrix products per chunk of points (``_dense_jets``),
with a hand-written backward of three more (``_GaussianSums``); each chunk runs under activation checkpointing (recomputed in the backward pass), so no
``N x points`` tensor is held for the whole batch; ``chunk_elements`` bounds the transient per
chunk.  With ``neighbours=K`` each point sees only its ``K`` Gaussians of largest value (chosen
without gradient): ``K x points`` work and memory instead of ``N x points``, exact up to the
dropped Gaussians' values (choose ``K`` so the nearest reach a few sigma).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .models import ACTIVATIONS

__all__ = ["GaussianEmbedding", "COVARIANCES"]

COVARIANCES = ("diagonal", "full")


class GaussianEmbedding(nn.Module):
    """``N`` trainable Gaussians with ``k`` features each, then an MLP to the outputs.

    Args:
        in_dim, out_dim: input size (space, or space-time with time last) and output size.
        n_gaussians: number of Gaussians ``N``.
        features: feature channels ``k`` per Gaussian.
        covariance: ``diagonal`` or ``full`` (Cholesky factor of the precision).
        sigma: initial standard deviation, in the inputs mapped to ``[-1, 1]``: one for every axis,
            or one per input axis.
        feature_scale: initial features are ``N(0, feature_scale^2)``.
        width, depth, activation: the MLP on the features (``depth`` hidden layers).
        lower, upper: input bounds, mapped affinely to ``[-1, 1]``; means start uniform there.
        neighbours: ``0``: every Gaussian at every point (exact); ``K > 0``: each point sees only
            its ``K`` Gaussians of largest value (chosen without gradient), ``K / N`` of the work.
        chunk_elements: bound on the values held per evaluated chunk of points (memory knob).
    """

    def __init__(self, in_dim: int, out_dim: int, n_gaussians: int = 1000, features: int = 4,
                 covariance: str = "diagonal", sigma: float | Sequence[float] = 0.1, feature_scale: float = 0.01,
                 width: int = 16, depth: int = 1, activation: str = "tanh", lower=None, upper=None, neighbours: int = 0,
                 chunk_elements: int = 2**24):
        super().__init__()
        if covariance not in COVARIANCES:
            raise ValueError(f"unknown covariance {covariance!r}; valid choices: {', '.join(COVARIANCES)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; valid activations: {', '.join(ACTIVATIONS)}")
        for name, value in (("n_gaussians", n_gaussians), ("features", features), ("width", width),
                            ("depth", depth), ("chunk_elements", chunk_elements)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not 0 <= neighbours <= n_gaussians:
            raise ValueError(f"neighbours must be between 0 (all Gaussians) and n_gaussians={n_gaussians}, "
                             f"got {neighbours}")
        dtype = torch.get_default_dtype()
        sigma = torch.as_tensor(sigma, dtype=dtype).expand(in_dim) if torch.as_tensor(sigma).numel() == 1 \
            else torch.as_tensor(sigma, dtype=dtype)
        if sigma.shape != (in_dim,) or not bool((sigma > 0).all()) or not feature_scale >= 0:
            raise ValueError(f"sigma must be > 0 (one value, or one per input axis: {in_dim}) and feature_scale >= 0, "
                             f"got sigma={[round(v, 6) for v in sigma.tolist()]}, feature_scale={feature_scale}")
        lower = torch.as_tensor(lower if lower is not None else [-1.0] * in_dim, dtype=dtype)
        upper = torch.as_tensor(upper if upper is not None else [1.0] * in_dim, dtype=dtype)
        self.register_buffer("shift", (upper + lower) / 2)
        self.register_buffer("scale", (upper - lower) / 2)
        self.covariance, self.activation, self.chunk_elements = covariance, activation, chunk_elements
        self.neighbours = neighbours
        self.means = nn.Parameter(torch.rand(n_gaussians, in_dim) * 2 - 1)
        if covariance == "diagonal":
            self.precision_factor = nn.Parameter((1 / sigma).repeat(n_gaussians, 1))
        else:
            self.precision_factor = nn.Parameter(torch.diag(1 / sigma).repeat(n_gaussians, 1, 1))
            self.register_buffer("lower_mask", torch.ones(in_dim, in_dim).tril())
        self.features = nn.Parameter(torch.randn(n_gaussians, features) * feature_scale)
        sizes = [features] + [width] * depth
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.output = nn.Linear(width, out_dim)
        for layer in [*self.hidden, self.output]:  # Glorot normal, zero bias (as the MLP)
            nn.init.xavier_normal_(layer.weight)
            nn.init.zeros_(layer.bias)

    @property
    def n_gaussians(self) -> int:
        return self.means.shape[0]

    def centres(self) -> torch.Tensor:
        """The Gaussians' means in the problem's coordinates, ``(N, in_dim)``."""
        return self.means.detach() * self.scale + self.shift

    def cholesky(self) -> torch.Tensor:
        """``L`` with precision ``L L^T``: ``(N, D)`` diagonal entries, or ``(N, D, D)`` lower-triangular."""
        if self.covariance == "diagonal":
            return self.precision_factor
        return self.precision_factor * self.lower_mask

    # -- evaluation --------------------------------------------------------------------------
    def embedding_jets(self, points: torch.Tensor, pairs=()) -> torch.Tensor:
        """Features with their derivatives: ``(k, 1 + D + P, N_points)`` (see ``network_jets``)."""
        return self._chunked(points, tuple(pairs), True)

    def embed(self, points: torch.Tensor) -> torch.Tensor:
        """Feature values ``(N_points, k)`` (no derivatives)."""
        return self._chunked(points, (), False)[:, 0].T

    def _chunked(self, points, pairs, derivatives):
        dims = points.shape[1]
        slots = 1 + (dims + len(pairs) if derivatives else 0)
        if self.neighbours:  # per point and gathered Gaussian: the slots, r, z, g and products with L
            per_point = self.neighbours * (slots + 3 * dims + dims * dims + 2)
        else:  # per point: exponent, value and its gradient for each Gaussian, then the monomial sums
            used = sum(map(len, _slot_monomials(dims, pairs, self.covariance, derivatives)))
            per_point = 3 * self.n_gaussians + 2 * used * self.features.shape[1]
        chunk = max(1, self.chunk_elements // per_point)
        factor = self.cholesky()
        remember = (not self.neighbours and torch.is_grad_enabled()
                    and (points.requires_grad or factor.requires_grad or self.features.requires_grad))
        out = []
        for start in range(0, max(1, points.shape[0]), chunk):  # (an empty set of points is one empty chunk)
            part = points[start : start + chunk]
            if self.neighbours:  # each point's K nearest Gaussians (in their own metric), gathered
                index = self._nearest(part, factor)
                args = (part, self.means[index], factor[index], self.features[index])
                jets = _gathered_jets
            else:  # every Gaussian at every point, as matrix products
                args, jets = (part, self.means, factor, self.features), _dense_jets
            args += (self.shift, self.scale, self.covariance, pairs, derivatives)
            if remember and points.shape[0] > chunk:  # recompute in the backward pass, keep no N x chunk tensors
                out.append(checkpoint(jets, *args, use_reentrant=False))
            else:
                out.append(jets(*args))
        return out[0] if len(out) == 1 else torch.cat(out, dim=2)

    def _nearest(self, points, factor):
        """Indices ``(C, K)`` of the Gaussians with the largest values at each point."""
        with torch.no_grad():
            y = (points - self.shift) / self.scale
            exponent = _exponents(_with_one(y), self.means, _precision(factor, self.covariance))
            return exponent.topk(self.neighbours, dim=1, sorted=False).indices

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        h = self.embed(points)
        act = ACTIVATIONS[self.activation]
        for layer in self.hidden:
            h = act(layer(h))
        return self.output(h)

    def ops(self) -> list[tuple]:
        """The computation as primitive operations: the closed-form embedding, then the MLP."""
        ops = [("embedding", self.embedding_jets)]
        for layer in self.hidden:
            ops += [("linear", layer.weight, layer.bias), ("activation", self.activation)]
        ops.append(("linear", self.output.weight, self.output.bias))
        return ops


def _precision(factor, covariance):
    """``P = L L^T`` per Gaussian, ``(N, D, D)``."""
    return torch.diag_embed(factor.square()) if covariance == "diagonal" else factor @ factor.mT


def _with_one(y):
    """``[y, 1]``: the inputs extended by a constant, ``(C, D + 1)``."""
    return torch.cat([y, torch.ones_like(y[:, :1])], dim=1)


def _quadratic(form):
    """Coefficients ``(..., M)`` of the symmetric quadratic ``form`` ``(..., D1, D1)`` in the monomials
    ``yh_a yh_b`` with ``a <= b`` (off-diagonal entries counted twice)."""
    a, b = torch.triu_indices(form.shape[-1], form.shape[-1], device=form.device)
    return torch.where(a == b, form[..., a, b], form[..., a, b] + form[..., b, a])


def _monomials(yh):
    """The monomials ``yh_a yh_b`` with ``a <= b``, ``(C, M)``, stored column by column (matrix
    products with few columns like that layout best)."""
    a, b = torch.triu_indices(yh.shape[1], yh.shape[1], device=yh.device)
    return (yh.T[a] * yh.T[b]).T


def _slot_monomials(dims, pairs, covariance, derivatives):
    """Positions in the monomial list of :func:`_monomials` that each slot's polynomial can use.

    The value needs the constant; derivative ``a`` the linear terms (diagonal: ``y_a`` alone);
    pair ``(a, b)`` the quadratic ones (diagonal: ``y_a y_b``, ``y_a``, ``y_b``).
    """
    one = dims
    rows, cols = torch.triu_indices(dims + 1, dims + 1).tolist()
    position = {pair: q for q, pair in enumerate(zip(rows, cols))}

    def positions(terms):
        return sorted({position[(min(i, j), max(i, j))] for i, j in terms})

    slots = [positions([(one, one)])]
    if derivatives:
        for a in range(dims):
            support = [a, one] if covariance == "diagonal" else range(dims + 1)
            slots.append(positions([(i, one) for i in support]))
        for a, b in pairs:
            slots.append(positions([(a, b), (a, one), (b, one), (one, one)]) if covariance == "diagonal"
                         else list(range(len(position))))
    return slots


def _exponent_coefficients(means, precision):
    """Each Gaussian's exponent ``-(y - mu_i)^T P_i (y - mu_i) / 2`` as coefficients ``(N, M)`` of
    the monomials of ``[y, 1]`` (:func:`_monomials`)."""
    pm = (precision @ means[..., None])[..., 0]
    form = torch.cat([torch.cat([precision, -pm[..., None]], dim=2),
                      torch.cat([-pm[:, None], (means * pm).sum(1)[:, None, None]], dim=2)], dim=1)
    return _quadratic(-0.5 * form)


def _exponents(yh, means, precision):
    """The exponents for every point and Gaussian, ``(C, N)``: one matrix product."""
    return _monomials(yh) @ _exponent_coefficients(means, precision).T.contiguous()


class _GaussianSums(torch.autograd.Function):
    """``exp(monomials @ exponents) @ weights``: every Gaussian's value at every point, summed with
    per-Gaussian weights, ``(C, S)``, with a hand-written backward.

    The ``C x N`` values are made by one matrix product, clamped and exponentiated in place, and
    are the only ``C x N`` tensor kept for the backward pass, which is three matrix products and
    one product in place.  Autograd through the same steps keeps the exponents and the clamp's
    mask besides and makes several more ``C x N`` passes: this is where a PIG step spends its time.
    The clamp at ``exp(-80)`` keeps subnormals out; its gradient is taken as ``G`` there too
    (``~1e-35`` instead of ``0``).  Differentiable once, not twice: only the closed-form jets use
    it (nested autograd goes through :meth:`GaussianEmbedding.embed`).
    """

    @staticmethod
    def forward(ctx, monomials, exponents, weights):
        gauss = (monomials @ exponents).clamp_(min=-80.0).exp_()  # (C, N)
        ctx.save_for_backward(monomials, exponents, weights, gauss)
        return gauss @ weights

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        monomials, exponents, weights, gauss = ctx.saved_tensors
        need_monomials, need_exponents, need_weights = ctx.needs_input_grad
        grad_weights = gauss.T @ grad if need_weights else None
        if not (need_monomials or need_exponents):
            return None, None, grad_weights
        grad_exponent = (grad @ weights.T).mul_(gauss)  # (C, N): through exp, d exp(e) = exp(e) de
        return (grad_exponent @ exponents.T if need_monomials else None,
                monomials.T @ grad_exponent if need_exponents else None, grad_weights)


def _dense_jets(points, means, factor, features, shift, scale, covariance, pairs, derivatives):
    """Closed-form jets of ``sum_i f_i G_i`` with every Gaussian at every point: ``(k, slots, C)``.

    With ``y`` the inputs mapped to ``[-1, 1]`` and ``l_i = P_i (mu_i - y)``, the derivatives are
    ``dG_i/dy_a = G_i l_ia`` and ``d2G_i/dy_a dy_b = G_i (l_ia l_ib - P_iab)``: polynomials in ``y`` of
    degree one and two whose coefficients depend only on the Gaussian.  So every slot is
    ``sum_m phi_m(y) (G @ W_m)`` with monomials ``phi_m`` of ``[y, 1]`` and ``W_m = c_im f_i``: one
    exponential and one matrix product ``(C, N) x (N, M k)`` for all slots (:class:`_GaussianSums`).  Diagonal covariances need fewer monomials per slot (``_slot_monomials``).
    The expansion cancels terms of size ``|P|`` to results of size ``|P|^(1/2)`` per derivative:
    float32 keeps about ``1e-7 |P|`` relative accuracy (``1e-5`` at sigma ``0.1``).
    """
    yh = _with_one((points - shift) / scale)
    precision = _precision(factor, covariance)
    if not derivatives:  # plain autograd: twice differentiable, for nested autograd through embed()
        gauss = torch.exp(_exponents(yh, means, precision).clamp(min=-80.0))  # (C, N); exp(-80) ~ 0, no subnormals
        return (gauss @ features).T[:, None]
    n, k = features.shape
    dims = yh.shape[1] - 1
    linear = torch.cat([-precision, (precision @ means[..., None])], dim=2)  # l_ia = linear[i, a] . [y, 1]
    one = torch.zeros(dims + 1, dtype=yh.dtype, device=yh.device)
    one[dims] = 1.0  # the constant monomial, as a vector over [y, 1]
    forms = [torch.outer(one, one).expand(n, -1, -1)]  # every slot as a quadratic form over [y, 1]
    forms += [linear[:, a, :, None] * one for a in range(dims)]
    forms += [linear[:, a, :, None] * linear[:, b, None, :] - precision[:, a, b, None, None] * torch.outer(one, one)
              for a, b in pairs]
    slots = _slot_monomials(dims, pairs, covariance, True)
    coefficients = torch.cat([_quadratic(form)[:, used] for form, used in zip(forms, slots)], dim=1)
    weights = (coefficients[:, :, None] * features[:, None]).reshape(n, -1)
    monomials = _monomials(yh)
    exponents = _exponent_coefficients(means, precision).T.contiguous()  # (M, N)
    sums = _GaussianSums.apply(monomials, exponents, weights)  # (C, M k): every slot at once
    terms = monomials[:, [q for used in slots for q in used], None] * sums.reshape(yh.shape[0], -1, k)
    out = torch.stack([part.sum(1) for part in terms.split([len(used) for used in slots], dim=1)]).permute(2, 0, 1)
    return out * _derivative_scales(scale, pairs)[None, :, None]


def _derivative_scales(scale, pairs):
    """Factors from ``[-1, 1]`` to the problem's coordinates per slot: 1, ``1/s_a``, ``1/(s_a s_b)``."""
    factors = [torch.ones_like(scale[0])] + [1 / s for s in scale]
    return torch.stack(factors + [1 / (scale[a] * scale[b]) for a, b in pairs])


def _gathered_jets(points, means, factor, features, shift, scale, covariance, pairs, derivatives):
    """Closed-form jets of ``sum_i f_i G_i`` over ``K`` Gaussians gathered per point: ``(k, slots, C)``.

    The Gaussians' ``means`` ``(C, K, D)``, ``factor`` ``(C, K, D[, D])`` and ``features``
    ``(C, K, k)`` are each point's own.  With ``r = y - mu`` (``y``: inputs mapped to ``[-1, 1]``),
    ``g = P r`` and ``G = exp(-r.g / 2)``: ``dG/dy_a = -G g_a`` and ``d2G/dy_a dy_b = G (g_a g_b - P_ab)``.
    """
    y = (points - shift) / scale
    r = y[:, :, None] - means.mT  # (C, D, K)
    if covariance == "diagonal":
        lt = factor.mT
        z = r * lt
        g = z * lt
    else:
        z = (r.mT[..., None] * factor).sum(-2)  # L^T r, (C, K, D); sums of D products, not bmm
        g = (z[..., None, :] * factor).sum(-1).mT  # L L^T r, (C, D, K)
        z = z.mT
    gauss = torch.exp(-0.5 * z.square().sum(1))  # (C, K)
    if derivatives:
        slots = [gauss[:, None], -gauss[:, None] * g]
        if pairs:
            if covariance == "diagonal":
                precision = [lt[:, a].square() if a == b else 0.0 for a, b in pairs]
            else:
                precision = [(factor[..., a, :] * factor[..., b, :]).sum(-1) for a, b in pairs]  # (L L^T)_ab
            slots.append(torch.stack([gauss * (g[:, a] * g[:, b] - p) for (a, b), p in zip(pairs, precision)], dim=1))
        stack = torch.cat(slots, dim=1)  # (C, S, K)
    else:
        stack = gauss[:, None]
    out = (stack[:, :, None] * features.mT[:, None]).sum(-1).permute(2, 1, 0)  # (k, S, C): tiny per-point products
    if not derivatives:
        return out
    return out * _derivative_scales(scale, pairs)[None, :, None]
