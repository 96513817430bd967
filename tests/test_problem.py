"""Problem: validation with clear messages, immutability, variants, sampling, cases, fingerprints,
random input families."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import pdekit
from pdekit import (
    Dirichlet,
    Disk,
    Equation,
    GaussianRandomField,
    Initial,
    Interval,
    Neumann,
    Periodic,
    Polygon,
    Problem,
    Rectangle,
    TimeInterval,
)
from pdekit import math as pm
from pdekit.pde_cases import CASES, get_case, list_cases
from pdekit.problem.fingerprint import family_fingerprint, fingerprint

L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]


def diffusion(u, du, x, t, p):
    return [-p.kappa * du[0], -p.kappa * du[1]]


def steady(**overrides):
    settings = dict(name="steady", geometry=Rectangle((0, 0), (1, 1)), params={"kappa": 1.0},
                    equation=Equation(flux=diffusion, source=lambda u, du, x, t, p: 1.0),
                    conditions=[Dirichlet(0.0)])
    settings.update(overrides)
    return Problem(**settings)


def advection(**overrides):
    settings = dict(name="advection", geometry=Interval(0.0, 1.0), time=TimeInterval(0.5, 2.0),
                    params={"beta": 2.0}, equation=Equation(flux=lambda u, du, x, t, p: [p.beta * u]),
                    conditions=[Periodic(0), Initial(lambda x, t, p: pm.sin(2 * pm.pi * x[0]))],
                    exact=lambda x, t, p: pm.sin(2 * pm.pi * (x[0] - p.beta * (t - 0.5))))
    settings.update(overrides)
    return Problem(**settings)


def error_of(make) -> str:
    with pytest.raises(ValueError) as info:
        make()
    return str(info.value)


# -- validation -------------------------------------------------------------------------------
def test_valid_problems_build():
    assert steady().field_names == ("u",)
    assert advection().is_evolution


def test_unknown_field_in_condition_names_field_and_valid_fields():
    message = error_of(lambda: steady(conditions=[Dirichlet(0.0, field="v")]))
    assert "'v'" in message and "fields are: u" in message


def test_unknown_field_with_several_fields():
    message = error_of(lambda: steady(fields=("a", "b"), conditions=[Dirichlet(0.0, field="c")],
                                      equation=Equation(source=lambda u, du, x, t, p: [1.0, 1.0])))
    assert "'c'" in message and "a, b" in message


def test_misspelt_parameter_in_flux_fails_at_construction():
    flux = lambda u, du, x, t, p: [-p.betta * du[0], -p.betta * du[1]]  # noqa: E731
    message = error_of(lambda: steady(params={"beta": 1.0}, equation=Equation(flux=flux)))
    assert "flux" in message and "'betta'" in message and "parameters are: beta" in message


def test_misspelt_parameter_in_condition_value_fails_at_construction():
    message = error_of(lambda: steady(conditions=[Dirichlet(lambda x, t, p: p.kapa * x[0])]))
    assert "Dirichlet value" in message and "'kapa'" in message and "kappa" in message


def test_wrong_flux_signature():
    message = error_of(lambda: steady(equation=Equation(flux=lambda u, du, x: [du[0], du[1]])))
    assert "flux" in message and "(u, grad_u, x, t, p)" in message


def test_wrong_source_signature():
    message = error_of(lambda: steady(equation=Equation(source=lambda x, t, p: 1.0)))
    assert "source" in message and "(u, grad_u, x, t, p)" in message


def test_wrong_condition_value_signature():
    message = error_of(lambda: steady(conditions=[Dirichlet(lambda x: 0 * x[0])]))
    assert "Dirichlet value" in message and "(x, t, p)" in message
    message = error_of(lambda: steady(conditions=[Dirichlet(0.0, on="left"), Neumann(lambda x, t: 0.0, on="right")]))
    assert "Neumann value" in message and "(x, t, p)" in message


def test_wrong_exact_signature():
    message = error_of(lambda: steady(exact=lambda x, p: x[0]))
    assert "exact solution" in message and "(x, t, p)" in message


def test_failing_callable_reported_with_what_failed():
    message = error_of(lambda: steady(equation=Equation(flux=diffusion, source=lambda u, du, x, t, p: 1 / 0)))
    assert "equation source" in message and "ZeroDivisionError" in message


def test_evolution_problem_needs_initial_condition():
    message = error_of(lambda: advection(conditions=[Periodic(0)]))
    assert "'advection'" in message and "initial value" in message and "'u'" in message


def test_second_order_in_time_needs_initial_derivative():
    equation = Equation(flux=lambda u, du, x, t, p: [-du[0]], time_coefficient=0.0, second_time_coefficient=1.0)
    message = error_of(lambda: advection(equation=equation))
    assert "derivative=1" in message
    advection(equation=equation, conditions=[Periodic(0), Initial(0.0), Initial(0.0, derivative=1)])


def test_initial_on_steady_problem():
    message = error_of(lambda: steady(conditions=[Dirichlet(0.0), Initial(0.0)]))
    assert "'steady'" in message and "steady" in message and "Initial" in message


def test_second_time_derivative_on_steady_problem():
    message = error_of(lambda: steady(equation=Equation(flux=diffusion, second_time_coefficient=1.0)))
    assert "steady" in message and "TimeInterval" in message


def test_condition_on_missing_side_lists_sides():
    message = error_of(lambda: steady(conditions=[Dirichlet(0.0, on="north")]))
    assert "'north'" in message and "Rectangle" in message and "left, right, bottom, top" in message
    message = error_of(lambda: steady(conditions=[Neumann(0.0, on=("left", "edge9"))]))
    assert "'edge9'" in message and "left, right, bottom, top" in message
    message = error_of(lambda: steady(geometry=Polygon(L_SHAPE), conditions=[Dirichlet(0.0, on="left")]))
    assert "'left'" in message and "edge0, edge1" in message


def test_bad_on_value():
    message = error_of(lambda: steady(conditions=[Dirichlet(0.0, on=3)]))
    assert "'on'" in message and "side name" in message


def test_periodic_on_disk():
    message = error_of(lambda: steady(geometry=Disk(), conditions=[Periodic(0), Dirichlet(0.0)]))
    assert "Periodic" in message and "Disk" in message and "Interval, Rectangle or Box" in message


def test_periodic_axis_out_of_range():
    message = error_of(lambda: steady(conditions=[Periodic(2), Dirichlet(0.0, on=("left", "right"))]))
    assert "axis 2" in message and "0 to 1" in message


def test_dirichlet_on_whole_boundary_conflicts_with_periodic():
    message = error_of(lambda: steady(conditions=[Periodic(0), Dirichlet(0.0)]))
    assert "Periodic" in message and "whole boundary" in message and "left, right, bottom, top" in message
    message = error_of(lambda: steady(conditions=[Periodic(0), Dirichlet(0.0, on=("left", "top"))]))
    assert "periodic" in message and "'left'" in message
    # naming only the non-periodic sides is fine
    problem = steady(conditions=[Periodic(0), Dirichlet(0.0, on=("bottom", "top"))])
    assert problem.periodic_axes == (0,)


def test_unknown_condition_type():
    message = error_of(lambda: steady(conditions=[object()]))
    assert "Dirichlet, Neumann, Periodic, Initial" in message


def test_other_structural_errors():
    assert "Geometry" in error_of(lambda: steady(geometry=(0, 1)))
    assert "TimeInterval" in error_of(lambda: steady(time=(0, 1)))
    assert "Equation" in error_of(lambda: steady(equation=diffusion))
    assert "neither flux nor source" in error_of(lambda: steady(equation=Equation()))
    assert "unique" in error_of(lambda: steady(fields=("u", "u")))
    assert "identifier" in error_of(lambda: steady(fields=("bad name",)))
    assert "identifier" in error_of(lambda: steady(name=""))
    assert "identifier" in error_of(lambda: steady(params={"not valid": 1.0, "kappa": 1.0}))


# -- variants and immutability ----------------------------------------------------------------
def test_with_params_returns_a_variant():
    base = steady()
    variant = base.with_params(kappa=3.0)
    assert variant is not base
    assert variant.params["kappa"] == 3.0 and variant.p.kappa == 3.0
    assert base.params["kappa"] == 1.0  # the original is untouched
    assert variant.name == base.name and variant.geometry is base.geometry


def test_with_params_rejects_unknown_names():
    message = error_of(lambda: steady().with_params(kapa=3.0))
    assert "'kapa'" in message and "kappa" in message


def test_problem_is_frozen():
    problem = steady()
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.params = {}
    with pytest.raises(TypeError):
        problem.params["kappa"] = 5.0
    with pytest.raises(AttributeError, match="read-only"):
        problem.p.kappa = 5.0
    assert isinstance(problem.conditions, tuple) and isinstance(problem.fields, tuple)
    assert problem.params["kappa"] == 1.0


def test_params_given_as_dict_are_copied():
    params = {"kappa": 1.0}
    problem = steady(params=params)
    params["kappa"] = 99.0
    assert problem.params["kappa"] == 1.0


def test_parameters_error_lists_names():
    with pytest.raises(AttributeError, match="parameters are: kappa"):
        steady().p.kapa  # noqa: B018


# -- sampling ---------------------------------------------------------------------------------
def test_sample_shapes_steady():
    problem = steady()
    assert problem.input_dim == 2
    assert problem.sample_interior(33).shape == (33, 2)
    boundary = problem.sample_boundary(21)
    assert boundary.points.shape == (21, 2) and boundary.normals.shape == (21, 2) and boundary.sides.shape == (21,)
    with pytest.raises(ValueError, match="steady"):
        problem.sample_initial(5)


@pytest.mark.parametrize("method", ["uniform", "sobol", "grid"])
def test_sample_shapes_evolution_time_last(method):
    problem = heat_like()
    assert problem.input_dim == 3
    interior = problem.sample_interior(40, method, seed=1)
    assert interior.shape == (40, 3)
    assert problem.geometry.contains(interior[:, :2]).all()
    assert np.all((interior[:, 2] >= 0.5) & (interior[:, 2] <= 2.0))
    assert np.ptp(interior[:, 2]) > 0.5  # times spread over the interval, not constant
    boundary = problem.sample_boundary(30, method, seed=1)
    assert boundary.points.shape == (30, 3) and boundary.normals.shape == (30, 2)
    assert np.all((boundary.points[:, 2] >= 0.5) & (boundary.points[:, 2] <= 2.0))
    assert problem.geometry.contains(boundary.points[:, :2]).all()
    initial = problem.sample_initial(25, method, seed=1)
    assert initial.shape == (25, 3)
    np.testing.assert_array_equal(initial[:, 2], 0.5)
    assert problem.geometry.contains(initial[:, :2]).all()


def test_sampling_is_seeded():
    problem = heat_like()
    np.testing.assert_array_equal(problem.sample_interior(20, seed=4), problem.sample_interior(20, seed=4))
    assert not np.array_equal(problem.sample_interior(20, seed=4), problem.sample_interior(20, seed=5))


def heat_like():
    return Problem(name="heat_like", geometry=Disk((0, 0), 1), time=TimeInterval(0.5, 2.0),
                   equation=Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]]),
                   conditions=[Dirichlet(0.0), Initial(lambda x, t, p: 1 - x[0] ** 2 - x[1] ** 2)],
                   exact=lambda x, t, p: (1 - x[0] ** 2 - x[1] ** 2) * pm.exp(-t))


def test_exact_solution_shape_and_values():
    problem = heat_like()
    points = problem.sample_interior(17)
    values = problem.exact_solution(points)
    assert values.shape == (17, 1)
    expected = (1 - points[:, 0] ** 2 - points[:, 1] ** 2) * np.exp(-points[:, 2])
    np.testing.assert_allclose(values[:, 0], expected, rtol=1e-14)


def test_exact_solution_constant_and_vector():
    constant = steady(exact=lambda x, t, p: 2.0)
    np.testing.assert_array_equal(constant.exact_solution(np.zeros((4, 2))), np.full((4, 1), 2.0))
    vector = steady(fields=[pdekit.Field("v", 2)], conditions=[Dirichlet(0.0)],
                    equation=Equation(source=lambda u, du, x, t, p: [1.0, 1.0]),
                    exact=lambda x, t, p: [x[0], 2 * x[1]])
    points = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    np.testing.assert_allclose(vector.exact_solution(points), [[0.1, 0.4], [0.3, 0.8], [0.5, 1.2]])
    assert vector.components == ("v_0", "v_1")


def test_exact_solution_rejects_wrong_shape_and_missing_exact():
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        heat_like().exact_solution(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="no exact solution"):
        steady().exact_solution(np.zeros((5, 2)))


# -- cases ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(CASES))
def test_every_case_builds(name):
    problem = get_case(name)
    assert isinstance(problem, Problem)
    assert problem.name == name
    points = problem.sample_interior(8, seed=0)
    assert points.shape == (8, problem.input_dim)
    if problem.exact is not None:
        assert np.isfinite(problem.exact_solution(points)).all()
    assert list_cases()[name]  # a one-line description


def test_get_case_with_params():
    assert get_case("convection1d", beta=5.0).params["beta"] == 5.0
    with pytest.raises(ValueError, match="'gamma'.*beta"):
        get_case("convection1d", gamma=1.0)


def test_unknown_case_lists_valid_cases():
    message = error_of(lambda: get_case("nope"))
    assert "'nope'" in message
    for name in CASES:
        assert name in message
    assert pdekit.get_case is get_case


def test_cases_are_the_documented_set():
    assert set(CASES) == {"poisson2d", "poisson_lshape", "heat2d", "burgers1d", "allen_cahn1d", "convection1d",
                          "helmholtz2d", "klein_gordon", "advection1d", "taylor_green", "cavity2d", "channel2d",
                          "darcy2d", "darcy_periodic2d", "diffusion_reaction1d", "antiderivative", "ns2d_vorticity"}


# -- fingerprints -----------------------------------------------------------------------------
def test_fingerprint_is_stable():
    assert fingerprint(get_case("heat2d")) == fingerprint(get_case("heat2d"))
    problem = steady()
    assert fingerprint(problem) == fingerprint(problem) == fingerprint(steady())
    assert len(fingerprint(problem)) == 16


def test_fingerprint_changes_with_parameter():
    assert fingerprint(get_case("heat2d")) != fingerprint(get_case("heat2d", kappa=0.2))
    assert fingerprint(steady()) != fingerprint(steady().with_params(kappa=1.5))


def test_a_family_fingerprint_ignores_the_drawn_input_but_not_the_family_or_the_rest():
    """Datasets are keyed by the family's fingerprint: the default draw of its input (whose last bits
    follow the BLAS threads) does not enter; the family's settings and the other parameters do."""
    problem = get_case("diffusion_reaction1d")
    assert family_fingerprint(problem) == family_fingerprint(problem.sample_input(7))
    assert fingerprint(problem) != fingerprint(problem.sample_input(7))  # a reference solves one sample
    assert family_fingerprint(problem) != family_fingerprint(get_case("diffusion_reaction1d", k=0.02))
    wider = dataclasses.replace(problem, input_family=dataclasses.replace(problem.input_family, length_scale=0.3))
    assert family_fingerprint(problem) != family_fingerprint(wider)
    assert family_fingerprint(steady()) == fingerprint(steady())  # without a family: the problem's own


def test_fingerprint_changes_with_flux():
    other = Equation(flux=lambda u, du, x, t, p: [-2 * p.kappa * du[0], -p.kappa * du[1]],
                     source=lambda u, du, x, t, p: 1.0)
    assert fingerprint(steady()) != fingerprint(steady(equation=other))
    other_constant = Equation(flux=diffusion, source=lambda u, du, x, t, p: 2.0)
    assert fingerprint(steady()) != fingerprint(steady(equation=other_constant))


def test_fingerprint_changes_with_closure_value():
    def make(scale):
        return steady(equation=Equation(flux=lambda u, du, x, t, p: [-scale * du[0], -scale * du[1]]))

    assert fingerprint(make(1.0)) == fingerprint(make(1.0))
    assert fingerprint(make(1.0)) != fingerprint(make(2.0))


def test_fingerprint_changes_with_geometry_conditions_and_settings():
    base = fingerprint(steady())
    assert base != fingerprint(steady(geometry=Rectangle((0, 0), (1, 2))))
    assert base != fingerprint(steady(conditions=[Dirichlet(1.0)]))
    assert fingerprint(steady(), {"cells": 8}) != fingerprint(steady(), {"cells": 16})


# -- random input families --------------------------------------------------------------------
def test_grf_is_reproducible_by_seed():
    grf = GaussianRandomField("u0", length_scale=0.3, modes=8)
    geometry = Interval(0.0, 1.0)
    x = np.linspace(0, 1, 50)[None]
    first = [f(x) for f in grf.sample(geometry, 3, seed=7)]
    again = [f(x) for f in grf.sample(geometry, 3, seed=7)]
    other = [f(x) for f in grf.sample(geometry, 3, seed=8)]
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)
    assert not np.allclose(first[0], first[1])  # samples within one draw differ


@pytest.mark.parametrize("variance, mean", [(1.0, 0.0), (0.25, 2.0)])
def test_grf_has_requested_mean_and_variance(variance, mean):
    grf = GaussianRandomField("u0", length_scale=0.2, variance=variance, modes=6, mean=mean)
    geometry = Rectangle((0, 0), (2, 1))
    x = geometry.sample_interior(40, seed=0).T
    values = np.stack([f(x) for f in grf.sample(geometry, 300, seed=1)])  # (samples, points)
    assert values.mean() == pytest.approx(mean, abs=0.1 * np.sqrt(variance) + 1e-12)
    assert values.var(axis=0).mean() == pytest.approx(variance, rel=0.1)


def test_grf_is_periodic_over_the_box():
    grf = GaussianRandomField("u0", modes=6)
    geometry = Interval(-1.0, 3.0)
    (f,) = grf.sample(geometry, 1, seed=0)
    np.testing.assert_allclose(f(np.array([[-1.0]])), f(np.array([[3.0]])), atol=1e-12)


def test_grf_numpy_and_torch_agree():
    grf = GaussianRandomField("u0", length_scale=0.25, modes=10)
    geometry = Rectangle((0, 0), (1, 1))
    x = geometry.sample_interior(30, seed=2).T
    for f in grf.sample(geometry, 2, seed=3):
        np.testing.assert_allclose(f(torch.tensor(x)).numpy(), f(x), rtol=1e-12, atol=1e-12)


def test_grf_sample_fills_a_problem_parameter():
    (u0,) = GaussianRandomField("u0", modes=4).sample(Interval(0.0, 1.0), 1, seed=0)
    problem = advection(params={"beta": 1.0, "u0": u0},
                        conditions=[Periodic(0), Initial(lambda x, t, p: p.u0(x, t, p))], exact=None)
    x = np.array([[0.1, 0.5]])
    np.testing.assert_allclose(problem.value_of(problem.conditions[1].value, x, None), u0(x))


def test_grf_rejects_bad_settings():
    for kwargs in ({"length_scale": 0}, {"variance": -1}, {"modes": 0}):
        with pytest.raises(ValueError, match="length_scale > 0"):
            GaussianRandomField("u0", **kwargs)


# -- constraint fields ------------------------------------------------------------------------
def test_constraint_fields_are_the_multipliers_of_rows_that_do_not_involve_them():
    assert get_case("taylor_green").constraint_fields == ("p",)
    assert get_case("heat2d").constraint_fields == ()
    assert get_case("poisson2d").constraint_fields == ()


def test_component_names_select_one_component():
    problem = get_case("taylor_green")
    assert problem.component_slice("u") == slice(0, 2)
    assert problem.component_slice(problem.components[1]) == slice(1, 2)
    with pytest.raises(ValueError, match="fields are: .*components"):
        problem.component_slice("w")


def test_fingerprint_of_a_closure_over_a_module_or_a_class():
    import collections

    def uses(module, kind):
        return lambda: (module, kind)

    assert fingerprint(uses(np, collections.defaultdict)) == fingerprint(uses(np, collections.defaultdict))
    assert fingerprint(uses(np, dict)) != fingerprint(uses(np, collections.defaultdict))
