"""pdekit.math: one expression, the same numbers on NumPy and torch, UFL expressions under UFL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdekit import math as pm

UNARY = ["sin", "cos", "tan", "exp", "log", "sqrt", "tanh", "sinh", "cosh", "abs"]

# values inside every function's domain (log and sqrt need positive arguments)
VALUES = np.array([0.1, 0.35, 0.7, 1.2, 2.5])


def _reference(name):
    return {"log": np.log, "abs": np.abs}.get(name, getattr(np, name))


@pytest.mark.parametrize("name", UNARY)
def test_unary_on_numpy_matches_numpy(name):
    result = getattr(pm, name)(VALUES)
    assert isinstance(result, np.ndarray)
    np.testing.assert_allclose(result, _reference(name)(VALUES), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", UNARY)
def test_unary_on_torch_float64_matches_numpy(name):
    tensor = torch.tensor(VALUES, dtype=torch.float64)
    result = getattr(pm, name)(tensor)
    assert isinstance(result, torch.Tensor)
    assert result.dtype == torch.float64
    np.testing.assert_allclose(result.numpy(), getattr(pm, name)(VALUES), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", UNARY)
def test_unary_on_python_number(name):
    assert float(getattr(pm, name)(0.7)) == pytest.approx(float(_reference(name)(0.7)), rel=1e-15)


def test_abs_of_negative_values_on_both_backends():
    values = np.array([-2.0, -0.5, 0.0, 3.0])
    np.testing.assert_array_equal(pm.abs(values), [2.0, 0.5, 0.0, 3.0])
    np.testing.assert_array_equal(pm.abs(torch.tensor(values)).numpy(), [2.0, 0.5, 0.0, 3.0])


def test_torch_results_keep_gradients():
    x = torch.tensor([0.3, 0.9], dtype=torch.float64, requires_grad=True)
    y = pm.sin(pm.pi * x) * pm.exp(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    xs = x.detach().numpy()
    expected = np.pi * np.cos(np.pi * xs) * np.exp(xs) + np.sin(np.pi * xs) * np.exp(xs)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-13)


def test_composite_expression_is_backend_neutral():
    def f(x):
        return pm.sin(pm.pi * x[0]) * pm.cos(2 * x[1]) + pm.sqrt(1 + x[0] ** 2) - pm.tanh(x[1])

    rng = np.random.default_rng(0)
    xs = rng.random((2, 50))
    np.testing.assert_allclose(f(torch.tensor(xs)).numpy(), f(xs), rtol=1e-14)


def test_pi_is_the_number():
    assert pm.pi == pytest.approx(np.pi, abs=0)


# -- dot and vector ---------------------------------------------------------------------------
def test_dot_on_lists_of_numbers():
    assert pm.dot([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == 32.0


def test_dot_on_component_first_arrays_is_per_point():
    rng = np.random.default_rng(1)
    a, b = rng.random((3, 7)), rng.random((3, 7))
    result = pm.dot(a, b)
    assert result.shape == (7,)
    np.testing.assert_allclose(result, np.einsum("dn,dn->n", a, b), rtol=1e-14)


def test_dot_on_d_by_n_tensors_is_per_point_and_matches_numpy():
    rng = np.random.default_rng(2)
    a, b = rng.random((2, 9)), rng.random((2, 9))
    result = pm.dot(torch.tensor(a), torch.tensor(b))
    assert isinstance(result, torch.Tensor) and result.shape == (9,)
    np.testing.assert_allclose(result.numpy(), pm.dot(a, b), rtol=1e-14)


def test_dot_on_lists_of_tensors():
    u = [torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([3.0, 4.0], dtype=torch.float64)]
    v = [torch.tensor([0.5, -1.0], dtype=torch.float64), 2.0]
    np.testing.assert_allclose(pm.dot(u, v).numpy(), [1.0 * 0.5 + 3.0 * 2, 2.0 * -1.0 + 4.0 * 2])


def test_vector_without_ufl_is_the_plain_list():
    t = torch.ones(3)
    assert pm.vector(1.0, 2.0) == [1.0, 2.0]
    assert pm.vector(t, 2.0)[0] is t


# -- backend_of -------------------------------------------------------------------------------
def test_backend_of_plain_values_is_numpy():
    assert pm.backend_of(1.0) == "numpy"
    assert pm.backend_of(np.ones(3)) == "numpy"
    assert pm.backend_of() == "numpy"
    assert pm.backend_of([1.0, np.ones(2)]) == "numpy"


def test_backend_of_torch_found_anywhere_and_nested():
    t = torch.ones(2)
    assert pm.backend_of(t) == "torch"
    assert pm.backend_of(1.0, t) == "torch"
    assert pm.backend_of([1.0, (2.0, t)]) == "torch"


# -- UFL --------------------------------------------------------------------------------------
@pytest.fixture
def ufl_coordinate():
    ufl = pytest.importorskip("ufl")
    return ufl, ufl.SpatialCoordinate(ufl.triangle)


@pytest.mark.parametrize("name", UNARY)
def test_unary_on_ufl_returns_ufl_expression(name, ufl_coordinate):
    ufl, x = ufl_coordinate
    result = getattr(pm, name)(x[0] + 2.0)
    assert isinstance(result, ufl.core.expr.Expr)
    assert not isinstance(result, (float, np.ndarray))


def test_ufl_expression_evaluates_to_the_numpy_value(ufl_coordinate):
    ufl, x = ufl_coordinate
    expression = pm.sin(pm.pi * x[0]) * pm.exp(x[1]) + pm.log(2 + x[0]) - pm.abs(x[1] - 1)
    point = (0.3, 0.6)
    numeric = expression(point)  # UFL expressions are callable on a coordinate tuple
    expected = np.sin(np.pi * 0.3) * np.exp(0.6) + np.log(2.3) - abs(0.6 - 1)
    assert float(numeric) == pytest.approx(expected, rel=1e-13)


def test_backend_of_ufl(ufl_coordinate):
    _, x = ufl_coordinate
    assert pm.backend_of(x) == "ufl"
    assert pm.backend_of(1.0, [2.0, x[0]]) == "ufl"


def test_dot_and_vector_under_ufl(ufl_coordinate):
    ufl, x = ufl_coordinate
    assert isinstance(pm.dot(x, x), ufl.core.expr.Expr)
    mixed = pm.dot([x[0], x[1]], x)
    assert isinstance(mixed, ufl.core.expr.Expr)
    vec = pm.vector(x[0], 1.0)
    assert isinstance(vec, ufl.core.expr.Expr) and vec.ufl_shape == (2,)
    assert float(pm.dot(vec, vec)((0.5, 0.0))) == pytest.approx(1.25)
    assert float(mixed((0.5, 2.0))) == pytest.approx(4.25)
