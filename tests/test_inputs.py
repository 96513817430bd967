"""Input families: the covariances they claim, the maps, seeds, evaluation on every backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pdekit
from pdekit import (
    ArrayInputs,
    GaussianRandomField,
    GridFunction,
    Interval,
    Joint,
    LogNormal,
    Rectangle,
    Threshold,
    UniformParameter,
    WhittleMaternField,
)
from pdekit.derivatives.jet import Jet
from pdekit.problem.inputs import FunctionBatch, SeriesFunction

SAMPLES = 8000


def empirical_covariance(family, geometry, x):
    """Covariance matrix of the field at the columns of ``x`` ``(d, P)`` over SAMPLES seeds."""
    values = np.array([family.draw(geometry, seed)[family.param](x) for seed in range(SAMPLES)])
    values -= values.mean(axis=0)
    return values.T @ values / SAMPLES


def assert_covariance(empirical, analytic):
    """Within 4.5 standard errors of a sample covariance: sqrt((C_ii C_jj + C_ij^2) / M)."""
    diagonal = np.diag(analytic)
    standard_error = np.sqrt((np.outer(diagonal, diagonal) + analytic**2) / SAMPLES)
    assert np.all(np.abs(empirical - analytic) < 4.5 * standard_error), np.abs(empirical - analytic) / standard_error


def test_periodic_squared_exponential_field_has_the_periodised_kernel():
    family = GaussianRandomField("f", length_scale=0.2, variance=2.0, modes=16)
    x = np.array([[0.0, 0.1, 0.35, 0.5, 0.9]])
    separations = np.subtract.outer(x[0], x[0])
    periodised = sum(np.exp(-0.5 * (separations + m) ** 2 / 0.2**2) for m in range(-3, 4))
    analytic = 2.0 * periodised / periodised[0, 0]
    np.testing.assert_allclose(family.periodic_covariance(separations[..., None], [1.0]), analytic, atol=1e-12)
    assert_covariance(empirical_covariance(family, Interval(0.0, 1.0), x), analytic)


def test_nonperiodic_squared_exponential_field_has_the_kernel():
    family = GaussianRandomField("f", length_scale=0.2, periodic=False)
    x = np.array([[0.0, 0.1, 0.3, 0.62, 1.0]])
    analytic = np.exp(-0.5 * np.subtract.outer(x[0], x[0]) ** 2 / 0.2**2)
    assert_covariance(empirical_covariance(family, Interval(0.0, 1.0), x), analytic)


def neumann_green(a, b, tau, length=1.0):
    """Green's function of ``-u'' + tau^2 u`` with ``u' = 0`` at both ends of ``[0, length]``."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    return np.cosh(tau * low) * np.cosh(tau * (length - high)) / (tau * np.sinh(tau * length))


def periodic_green(a, b, tau, length=1.0):
    r = np.abs(a - b) % length
    return np.cosh(tau * (length / 2 - r)) / (2 * tau * np.sinh(tau * length / 2))


@pytest.mark.parametrize("boundary, green", [("neumann", neumann_green), ("periodic", periodic_green)])
def test_whittle_matern_covariance_is_the_inverse_operator(boundary, green):
    """alpha = 1: the covariance is the Green's function of -d^2/dx^2 + tau^2, less the constant mode."""
    tau, length = 3.0, 2.0
    family = WhittleMaternField("a", alpha=1.0, tau=tau, sigma=1.0, boundary=boundary, modes=400)
    x = np.array([[0.0, 0.3, 1.1, 1.5, 2.0]])
    a, b = np.meshgrid(x[0], x[0], indexing="ij")
    analytic = green(a, b, tau, length) - 1 / (length * tau**2)
    assert_covariance(empirical_covariance(family, Interval(0.0, length), x), analytic)


def test_threshold_and_lognormal_map_the_base_field():
    geometry = Rectangle((0, 0), (1, 1))
    base = WhittleMaternField("a", modes=16)
    x = geometry.sample_interior(500, seed=1).T
    field = base.draw(geometry, 4)["a"](x)
    coefficient = Threshold(base, at=0.0, above=12.0, below=3.0).draw(geometry, 4)["a"]
    np.testing.assert_array_equal(coefficient(x), np.where(field >= 0, 12.0, 3.0))
    assert coefficient.discontinuous and {3.0, 12.0} == set(np.unique(coefficient(x)))
    np.testing.assert_allclose(LogNormal(base).draw(geometry, 4)["a"](x), np.exp(field))


def test_sample_i_comes_from_seed_i_alone():
    problem = pdekit.get_case("darcy2d")
    x = problem.geometry.sample_interior(50, seed=0).T
    batch = problem.sample_inputs(3, seed=5)
    np.testing.assert_array_equal(batch[2].params["a"](x), problem.sample_input(7).params["a"](x))
    assert not np.array_equal(batch[0].params["a"](x), batch[1].params["a"](x))


def test_input_functions_agree_on_numpy_torch_and_jets():
    geometry = Rectangle((0, 0), (1, 2))
    functions = [WhittleMaternField("a", boundary="periodic", modes=8).draw(geometry, 0)["a"],
                 GaussianRandomField("a", periodic=False, points=20).draw(geometry, 0)["a"],
                 LogNormal(WhittleMaternField("a", modes=8)).draw(geometry, 1)["a"]]
    x = torch.tensor(geometry.sample_interior(40, seed=3).T, dtype=torch.float64, requires_grad=True)
    for f in functions:
        np.testing.assert_allclose(f(x).detach().numpy(), f(x.detach().numpy()), rtol=1e-12, atol=1e-12)
        jet = f([Jet.variable(x[j], j, 2, second_order=False) for j in range(2)])
        gradient = torch.autograd.grad(f(x).sum(), x)[0]
        np.testing.assert_allclose(jet.grad.T.detach().numpy(), gradient.numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="first-order derivative jets"):
        functions[0]([Jet.variable(x[j], j, 2, pairs=((0, 0),)) for j in range(2)])


@pytest.mark.parametrize("family", [GaussianRandomField("a", periodic=False, points=30),
                                    GaussianRandomField("a", periodic=True, modes=6),
                                    Threshold(GaussianRandomField("a", periodic=False, points=30), above=2.0, below=1.0)],
                         ids=["grid", "series", "mapped"])
@pytest.mark.parametrize("count", [1, 3])
def test_a_function_batch_answers_per_block_like_its_members(family, count):
    geometry = Rectangle((0, -1), (2, 1))
    members = [family.draw(geometry, seed)["a"] for seed in range(count)]
    batch = FunctionBatch(members)
    assert (batch._stacked is not None) == isinstance(members[0], GridFunction)  # grids: evaluated together
    x = torch.tensor(geometry.sample_interior(5 * count, seed=2).T, dtype=torch.float64)
    expected = np.concatenate([m(x[:, 5 * b: 5 * (b + 1)].numpy()) for b, m in enumerate(members)])
    np.testing.assert_allclose(batch(x).numpy(), expected, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(batch(x.numpy()), expected, rtol=1e-13, atol=1e-13)
    jet = batch([Jet.variable(x[j], j, 2, second_order=False) for j in range(2)])
    grads = torch.cat([m([Jet.variable(x[j, 5 * b: 5 * (b + 1)], j, 2, second_order=False) for j in range(2)]).grad
                       for b, m in enumerate(members)])
    np.testing.assert_allclose(jet.grad.numpy(), grads.numpy(), rtol=1e-12, atol=1e-12)
    if count > 1:
        with pytest.raises(ValueError, match=f"a multiple of {count} points"):
            batch(x[:, :-1])
    with pytest.raises(ValueError, match="at least one input function"):
        FunctionBatch([])


def test_grid_function_interpolates_linearly_or_by_nearest_node():
    x_nodes, y_nodes = np.linspace(0, 1, 5), np.linspace(0, 2, 7)
    plane = 2 * x_nodes[:, None] - y_nodes[None, :] + 1
    linear = GridFunction((0.0, 0.0), (1.0, 2.0), plane)
    points = np.random.default_rng(0).uniform([0, 0], [1, 2], (30, 2)).T
    np.testing.assert_allclose(linear(points), 2 * points[0] - points[1] + 1, atol=1e-12)  # exact for planes
    nearest = GridFunction((0.0, 0.0), (1.0, 2.0), plane, "nearest")
    i, j = np.round(points[0] * 4).astype(int), np.round(points[1] * 3).astype(int)
    np.testing.assert_array_equal(nearest(points), plane[i, j])
    with pytest.raises(ValueError, match="valid methods: linear, nearest"):
        GridFunction((0.0,), (1.0,), np.zeros(3), "cubic")


def test_cumulative_integral_is_exact_for_the_interpolant_and_the_series():
    nodes = np.linspace(0, 1, 11)
    f = GridFunction((0.0,), (1.0,), 3 * nodes**2)  # piecewise linear interpolant of 3 x^2
    x = np.array([0.0, 0.05, 0.5, 0.73, 1.0])
    trapezoid = [np.trapz(f(np.linspace(0, b, 2001)[None]), np.linspace(0, b, 2001)) for b in x]
    np.testing.assert_allclose(f.cumulative_integral(x), trapezoid, atol=1e-7)
    series = SeriesFunction((0.0,), (2.0,), ("cos",), np.array([0.0, 1.0]))  # cos(pi x / 2)
    np.testing.assert_allclose(series.cumulative_integral(x), 2 / np.pi * np.sin(np.pi * x / 2), atol=1e-14)
    problem = pdekit.get_case("antiderivative")
    points = np.linspace(0.01, 0.99, 9)[:, None]
    h = 1e-5
    slope = (problem.exact_solution(points + h) - problem.exact_solution(points - h)) / (2 * h)
    np.testing.assert_allclose(slope[:, 0], problem.params["f"](points.T), atol=1e-6)


def test_scalar_joint_and_array_families():
    geometry = Interval(0.0, 1.0)
    viscosity = UniformParameter("nu", 1e-3, 1e-1, log=True)
    values = [viscosity.draw(geometry, s)["nu"] for s in range(500)]
    assert 1e-3 <= min(values) and max(values) <= 1e-1
    assert np.mean(np.log10(values)) == pytest.approx(-2.0, abs=0.1)  # uniform in log space
    joint = Joint(viscosity, GaussianRandomField("f", modes=4))
    assert joint.params == ("nu", "f") and set(joint.draw(geometry, 3)) == {"nu", "f"}
    with pytest.raises(ValueError, match="same parameter twice"):
        Joint(viscosity, UniformParameter("nu"))
    arrays = ArrayInputs("f", values=np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(arrays.draw(geometry, 1)["f"](np.array([[0.0, 0.5, 1.0]])), [3.0, 4.0, 5.0])
    with pytest.raises(ValueError, match="seed 2 is out of range: ArrayInputs holds 2 arrays"):
        arrays.draw(geometry, 2)
    with pytest.raises(ValueError, match="low < high"):
        UniformParameter("nu", 1.0, 0.5)


def test_a_problem_checks_its_input_family():
    base = pdekit.get_case("darcy2d")
    with pytest.raises(ValueError, match="fills parameter 'b'.*parameters are: a"):
        pdekit.Problem(name="x", geometry=base.geometry, equation=base.equation, params=base.params,
                       conditions=base.conditions, input_family=WhittleMaternField("b"))
    with pytest.raises(ValueError, match="must be a pdekit input family"):
        pdekit.Problem(name="x", geometry=base.geometry, equation=base.equation, params=base.params,
                       conditions=base.conditions, input_family="a")


@pytest.mark.fenics
def test_the_reference_interpolates_input_functions():
    """A sine series as the source: the P2 solution of -laplace u = f is f / (2 pi^2)."""
    from pdekit import reference

    f = SeriesFunction((0.0, 0.0), (1.0, 1.0), ("sin", "sin"), np.array([[1.0]]))  # sin(pi x) sin(pi y)
    problem = pdekit.Problem(
        name="series_source", geometry=Rectangle((0, 0), (1, 1)), params={"f": f},
        equation=pdekit.Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]], source=lambda u, du, x, t, p: p.f(x)),
        conditions=[pdekit.Dirichlet(0.0)])
    solution = reference.solve(problem, degree=2, cells=16, cache=False)
    x = problem.sample_interior(200, seed=0)
    np.testing.assert_allclose(solution(x)[:, 0], f(x.T) / (2 * np.pi**2), atol=2e-5)
    coefficient = GridFunction((0.0, 0.0), (1.0, 1.0), np.where(np.arange(9)[:, None] < 4, 1.0, 2.0) * np.ones((9, 9)),
                               "nearest")
    jumpy = problem.with_params(f=coefficient)
    assert reference.solve(jumpy, degree=1, cells=16, cache=False)._disc.p.f().function_space.ufl_element() \
        .family() in ("DG", "Discontinuous Lagrange")


def test_a_periodic_grid_function_wraps_around():
    nodes = np.arange(8) / 8  # one period of [0, 1) without the repeated end
    wave = GridFunction((0.0,), (1.0,), np.sin(2 * np.pi * nodes), periodic=(True,))
    x = np.array([[0.95, 1.0, 1.3, -0.2]])
    lower = np.floor(x[0] * 8) / 8
    weight = (x[0] - lower) * 8
    expected = (1 - weight) * np.sin(2 * np.pi * lower) + weight * np.sin(2 * np.pi * (lower + 1 / 8))
    np.testing.assert_allclose(wave(x), expected, atol=1e-12)  # between the last node and the first, wrapped
    nearest = GridFunction((0.0,), (1.0,), nodes, "nearest", periodic=(True,))
    np.testing.assert_allclose(nearest(np.array([[0.97, 0.2]])), [0.0, 0.25])
