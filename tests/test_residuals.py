"""The torch strong-form residual: it vanishes on exact solutions and matches hand derivatives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from pdekit import math as pm
from pdekit.derivatives import strong_residual
from pdekit.pde_cases import CASES, get_case


@pytest.fixture(autouse=True, scope="module")
def double_precision():
    """Residuals in float64, restored afterwards: a module-level switch leaked into every later test
    file of the session (it changed INSR's initial network in tests/test_insr.py)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


WITH_EXACT = [name for name in CASES if get_case(name).exact is not None]


def exact_field(problem):
    def u(points):
        x, t = problem.split_points(points)
        value = problem.exact(x, t, problem.p)
        rows = [value] if problem.n_components == 1 else value  # a system: one value per component
        return torch.stack([v * torch.ones(len(points), dtype=points.dtype) for v in rows], dim=1)

    return u


def source_scale(problem, points):
    """Size of the equation's terms, so the rounding bound scales with the problem."""
    x, t = problem.split_points(points)
    u = torch.as_tensor(problem.exact_solution(points.numpy())[:, 0])
    source = problem.equation.source(u, torch.zeros(problem.dim, len(points)), x, t, problem.p) \
        if problem.equation.source else 0.0
    return 1.0 + float(np.max(np.abs(np.asarray(source))))


@pytest.mark.parametrize("name", WITH_EXACT)
def test_residual_of_exact_solution_vanishes(name):
    assert len(WITH_EXACT) >= 5  # poisson2d, heat2d, convection1d, helmholtz2d, klein_gordon
    problem = get_case(name)
    points = torch.as_tensor(problem.sample_interior(300, seed=3))
    residual = strong_residual(problem, exact_field(problem), points)
    assert residual.shape == (300, problem.n_components)
    assert residual.abs().max().item() < 1e-11 * source_scale(problem, points)


# Klein-Gordon's exact solution is linear in x and in y, so its flux has zero divergence and a
# flipped flux sign cannot show; its source sign can.
SIGN_CHECKS = [(name, part) for name in WITH_EXACT for part in ("flux", "source")
               if getattr(get_case(name).equation, part) is not None and (name, part) != ("klein_gordon", "flux")]


@pytest.mark.parametrize("name, part", SIGN_CHECKS)
def test_residual_catches_a_sign_error(name, part):
    problem = get_case(name)
    original = getattr(problem.equation, part)
    if part == "flux":
        def flipped_part(u, du, x, t, p):
            return [[-g for g in f] if isinstance(f, list) else -f for f in original(u, du, x, t, p)]  # rows of a system
    else:
        def flipped_part(u, du, x, t, p):
            return -original(u, du, x, t, p)
    flipped = dataclasses.replace(problem, equation=dataclasses.replace(problem.equation, **{part: flipped_part}))
    points = torch.as_tensor(problem.sample_interior(300, seed=3))
    residual = strong_residual(flipped, exact_field(flipped), points)
    assert residual.abs().max().item() > 1e-2


def test_helmholtz_high_frequency_exact_residual():
    problem = get_case("helmholtz2d", a1=10.0, a2=10.0, k=3.0)
    points = torch.as_tensor(problem.sample_interior(300, seed=5))
    residual = strong_residual(problem, exact_field(problem), points)
    assert residual.abs().max().item() < 1e-9 * source_scale(problem, points)


def test_burgers_residual_matches_hand_derivatives():
    problem = get_case("burgers1d")
    nu = problem.params["nu"]

    def u(points):  # u = sin(pi x) exp(-t) (not a solution: the residual is known by hand)
        return (pm.sin(pm.pi * points[:, 0]) * pm.exp(-points[:, 1])).reshape(-1, 1)

    points = torch.as_tensor(problem.sample_interior(200, seed=7))
    x, t = points[:, 0].numpy(), points[:, 1].numpy()
    s, c, e = np.sin(np.pi * x), np.cos(np.pi * x), np.exp(-t)
    expected = -s * e + (s * e) * (np.pi * c * e) + nu * np.pi**2 * s * e
    residual = strong_residual(problem, u, points)[:, 0].detach().numpy()
    np.testing.assert_allclose(residual, expected, rtol=1e-12, atol=1e-12)


def test_system_residual_per_component():
    """Two coupled components: each residual row is that component's equation."""
    from pdekit import Dirichlet, Equation, Field, Interval, Problem

    problem = Problem(
        name="system1d", geometry=Interval(0, 1), fields=[Field("w", 2)],
        equation=Equation(flux=lambda u, du, x, t, p: [[-du[0][0]], [-du[1][0] + u[0]]],
                          source=lambda u, du, x, t, p: [u[1], 0.0]),
        conditions=[Dirichlet([0.0, 0.0])],
    )

    def w(points):
        x = points[:, 0]
        return torch.stack([x**3, pm.sin(x)], dim=1)

    points = torch.as_tensor(problem.sample_interior(50, seed=1))
    x = points[:, 0].numpy()
    residual = strong_residual(problem, w, points).detach().numpy()
    np.testing.assert_allclose(residual[:, 0], -6 * x - np.sin(x), atol=1e-12)
    np.testing.assert_allclose(residual[:, 1], np.sin(x) + 3 * x**2, atol=1e-12)


def test_wrong_output_shape_is_reported():
    problem = get_case("poisson2d")
    with pytest.raises(ValueError, match=r"shape \(10, 1\)"):
        strong_residual(problem, lambda p: p, torch.rand(10, 2))
