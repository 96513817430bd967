"""Truncated Taylor jets: a value with its gradient and chosen second derivatives.

A :class:`Jet` carries ``value`` ``(N,)``, ``grad`` ``(N, D)`` and, optionally, ``hess``
``(N, P)`` for a fixed list of index pairs ``(i, j)``.  Arithmetic and the functions of
:mod:`pdekit.math` propagate all three by the chain and product rules, so a hard-constraint
transform or a flux written once with ``pdekit.math`` is differentiated in forward mode, with
no ``create_graph`` and no graph breaks under ``torch.compile``.  It is a plain Python object
(not a tensor subclass), which the compiler traces through.
"""

from __future__ import annotations

import torch

__all__ = ["Jet"]

# first and second derivatives of the elementwise functions, from the value x and f(x)
_RULES = {
    "sin": (torch.sin, lambda x, f: torch.cos(x), lambda x, f: -f),
    "cos": (torch.cos, lambda x, f: -torch.sin(x), lambda x, f: -f),
    "exp": (torch.exp, lambda x, f: f, lambda x, f: f),
    "log": (torch.log, lambda x, f: 1 / x, lambda x, f: -1 / x**2),
    "sqrt": (torch.sqrt, lambda x, f: 0.5 / f, lambda x, f: -0.25 / (f * x)),
    "tanh": (torch.tanh, lambda x, f: 1 - f**2, lambda x, f: -2 * f * (1 - f**2)),
    "sinh": (torch.sinh, lambda x, f: torch.cosh(x), lambda x, f: f),
    "cosh": (torch.cosh, lambda x, f: torch.sinh(x), lambda x, f: f),
    "tan": (torch.tan, lambda x, f: 1 + f**2, lambda x, f: 2 * f * (1 + f**2)),
    "abs": (torch.abs, lambda x, f: torch.sign(x), lambda x, f: torch.zeros_like(x)),
}


class Jet:
    """Value, gradient and selected second derivatives of a field at ``N`` points.

    Args:
        value: ``(N,)`` tensor.
        grad: ``(N, D)`` tensor of first derivatives.
        hess: ``(N, P)`` tensor of second derivatives for ``pairs``, or ``None`` (first order).
        pairs: the ``P`` index pairs ``(i, j)`` that ``hess`` holds.
    """

    __slots__ = ("value", "grad", "hess", "pairs")
    is_jet = True  # pdekit.math dispatches on this

    def __init__(self, value, grad, hess=None, pairs=()):
        self.value, self.grad, self.hess, self.pairs = value, grad, hess, tuple(pairs)

    @classmethod
    def variable(cls, value, index: int, dims: int, pairs=(), second_order: bool = True):
        """The jet of the coordinate ``index`` itself: gradient ``e_index``, no curvature."""
        grad = torch.zeros(value.shape[0], dims, dtype=value.dtype, device=value.device)
        grad[:, index] = 1.0
        hess = torch.zeros(value.shape[0], len(pairs), dtype=value.dtype, device=value.device) if second_order else None
        return cls(value, grad, hess, pairs)

    # -- helpers -----------------------------------------------------------------------------
    def _pair_products(self, a_grad, b_grad):
        """``a_i b_j`` for each stored pair, as ``(N, P)``."""
        i = [p[0] for p in self.pairs]
        j = [p[1] for p in self.pairs]
        return a_grad[:, i] * b_grad[:, j]

    def _lift(self, other) -> "Jet":
        if isinstance(other, Jet):
            return other
        value = torch.as_tensor(other, dtype=self.value.dtype, device=self.value.device)
        value = value.expand_as(self.value) if value.dim() == 0 else value
        return Jet(value, torch.zeros_like(self.grad), None if self.hess is None else torch.zeros_like(self.hess), self.pairs)

    def _chain(self, f, df, d2f) -> "Jet":
        hess = None
        if self.hess is not None:
            hess = df[:, None] * self.hess + d2f[:, None] * self._pair_products(self.grad, self.grad)
        return Jet(f, df[:, None] * self.grad, hess, self.pairs)

    def apply(self, name: str) -> "Jet":
        """An elementwise function of :mod:`pdekit.math` applied to the jet."""
        if name not in _RULES:
            raise NotImplementedError(f"forward derivatives of {name!r} are not implemented; "
                                      f"supported: {', '.join(_RULES)}")
        function, first, second = _RULES[name]
        f = function(self.value)
        return self._chain(f, first(self.value, f), second(self.value, f))

    # -- arithmetic ------------------------------------------------------------------------
    def __add__(self, other):
        if not isinstance(other, Jet):
            return Jet(self.value + other, self.grad, self.hess, self.pairs)
        hess = None if self.hess is None or other.hess is None else self.hess + other.hess
        return Jet(self.value + other.value, self.grad + other.grad, hess, self.pairs)

    __radd__ = __add__

    def __neg__(self):
        return Jet(-self.value, -self.grad, None if self.hess is None else -self.hess, self.pairs)

    def __sub__(self, other):
        return self + (-other)

    def __rsub__(self, other):
        return (-self) + other

    def __mul__(self, other):
        if not isinstance(other, Jet):
            return Jet(self.value * other, self.grad * _column(other), None if self.hess is None else self.hess * _column(other), self.pairs)
        hess = None
        if self.hess is not None and other.hess is not None:
            hess = (self.hess * other.value[:, None] + other.hess * self.value[:, None]
                    + self._pair_products(self.grad, other.grad) + self._pair_products(other.grad, self.grad))
        return Jet(self.value * other.value, self.grad * other.value[:, None] + other.grad * self.value[:, None], hess, self.pairs)

    __rmul__ = __mul__

    def reciprocal(self) -> "Jet":
        f = 1 / self.value
        return self._chain(f, -f**2, 2 * f**3)

    def __truediv__(self, other):
        if not isinstance(other, Jet):
            return self * (1 / other)
        return self * other.reciprocal()

    def __rtruediv__(self, other):
        return self.reciprocal() * other

    def __pow__(self, exponent):
        if isinstance(exponent, Jet):
            raise NotImplementedError("a jet to the power of a jet: write exp(b * log(a))")
        if exponent == 0:
            return self._lift(1.0)
        if exponent == 1:
            return self
        if exponent == 2:  # exact at zero as well, the common case
            return self * self
        f = self.value**exponent
        return self._chain(f, exponent * self.value ** (exponent - 1), exponent * (exponent - 1) * self.value ** (exponent - 2))


def _column(value):
    """Broadcast a per-point factor against ``(N, K)`` derivative arrays."""
    if isinstance(value, torch.Tensor) and value.dim() == 1:
        return value[:, None]
    return value
