"""Lagrangian PINNs: coefficients from fluxes, the Lagrangian operator, Eulerian evaluation,
applicability errors, resume, the CLI and a low-budget run against the PINN."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pdekit import Dirichlet, Equation, Initial, Interval, Problem, TimeInterval, get_case, load
from pdekit import math as pm
from pdekit.cli import main
from pdekit.derivatives import coordinate_jets
from pdekit.solvers import LPINN, PINN
from pdekit.solvers.lpinn import check_lagrangian, eulerian_derivatives, transport_coefficients

U = torch.linspace(-1.5, 1.5, 7, dtype=torch.float64)


def coefficients(problem, u=U, x=0.3, t=0.1):
    speed, diffusion = transport_coefficients(problem, u, torch.full_like(u, x), t)
    return speed.numpy(), diffusion.numpy()


def test_speed_and_diffusion_come_from_the_flux():
    speed, diffusion = coefficients(get_case("burgers1d", nu=0.02))
    np.testing.assert_allclose(speed, U.numpy())
    np.testing.assert_allclose(diffusion, 0.02)
    speed, diffusion = coefficients(get_case("convection1d", beta=50, nu=0.01))
    np.testing.assert_allclose(speed, 50)
    np.testing.assert_allclose(diffusion, 0.01)
    speed, diffusion = coefficients(get_case("allen_cahn1d"))
    np.testing.assert_allclose(speed, 0)
    np.testing.assert_allclose(diffusion, 0.001)


def test_speed_and_diffusion_of_a_general_flux():
    # F = (1 + x) u^3 / 3 - (1 + u^2) u_x: speed (1 + x) u^2, diffusion 1 + u^2
    problem = transport_problem(lambda u, du, x, t, p: [(1 + x[0]) * u**3 / 3 - (1 + u**2) * du[0]])
    speed, diffusion = coefficients(problem, x=0.5)
    np.testing.assert_allclose(speed, 1.5 * U.numpy() ** 2)
    np.testing.assert_allclose(diffusion, 1 + U.numpy() ** 2)
    check_lagrangian(problem)  # in the class: no error


def transport_problem(flux, on=("left", "right"), value=0.0):
    return Problem(name="transport", geometry=Interval(-1, 1), time=TimeInterval(0, 0.5),
                   equation=Equation(flux=flux),
                   conditions=[Dirichlet(value, on=on), Initial(lambda x, t, p: -pm.sin(pm.pi * x[0]))])


@pytest.mark.parametrize("case, reason", [
    ("heat2d", "2 space dimension"),
    ("klein_gordon", "2 space dimension"),
    ("helmholtz2d", "steady"),
])
def test_problems_outside_the_class_are_refused_with_the_reason(case, reason):
    with pytest.raises(ValueError, match=f"LPINN does not apply to {case}: .*{reason}"):
        LPINN(adam_steps=1).build(get_case(case))


def test_a_flux_nonlinear_in_the_gradient_is_refused():
    problem = transport_problem(lambda u, du, x, t, p: [-(1 + du[0] ** 2) * du[0]])  # p-Laplacian-like
    with pytest.raises(ValueError, match="not of the form F = f\\(u\\) - D\\(u\\) u_x"):
        check_lagrangian(problem)


def test_inflow_boundaries_are_refused():
    problem = transport_problem(lambda u, du, x, t, p: [2.0 * u])  # speed 2 at both Dirichlet ends
    with pytest.raises(ValueError, match="speed at a Dirichlet end is not zero"):
        check_lagrangian(problem)


def test_lagrangian_operator_on_a_known_map():
    # labels x0 in [0, 1], map X = x0 + 0.4 x0^2 + 0.3 t x0, field U(x, t) = sin(2x) e^t
    labels = torch.stack([torch.linspace(0, 1, 9, dtype=torch.float64),
                          torch.linspace(0, 0.5, 9, dtype=torch.float64)], dim=1)
    x0, t = coordinate_jets(labels, ((0, 0),))
    X = x0 + 0.4 * x0 * x0 + 0.3 * t * x0
    u = pm.sin(2 * X) * pm.exp(t)
    u_x, u_xx = eulerian_derivatives(u, X)
    x, time = X.value, labels[:, 1]
    torch.testing.assert_close(u_x, 2 * torch.cos(2 * x) * torch.exp(time))
    torch.testing.assert_close(u_xx, -4 * torch.sin(2 * x) * torch.exp(time))
    # the second derivative in the label is not the Eulerian one when the map is not a shift
    assert (u.hess[:, 0] - u_xx).abs().max() > 0.1


def zero_branches(model):
    for branch in (model.state, model.characteristic):
        torch.nn.init.zeros_(branch.output.weight)
        torch.nn.init.zeros_(branch.output.bias)


def test_inviscid_burgers_characteristics_are_exact_with_zero_branches():
    # with the initial speed built in, X = x0 + t u0(x0), u = u0(x0) solves inviscid Burgers exactly
    problem = get_case("burgers1d", nu=0.0)
    model, lagrangian, _ = LPINN(dtype="float64").build(problem)
    zero_branches(model)
    labels = torch.as_tensor(problem.sample_interior(50, seed=1)) * torch.tensor([1.0, 0.3])  # before the shock
    characteristic, state = lagrangian.residuals(labels)
    assert characteristic.abs().max() < 1e-13 and state.abs().max() < 1e-13


def test_the_state_residual_carries_the_eulerian_diffusion():
    nu = 0.05
    problem = get_case("burgers1d", nu=nu)
    model, lagrangian, _ = LPINN(dtype="float64").build(problem)
    zero_branches(model)
    labels = torch.as_tensor(problem.sample_interior(50, seed=2)) * torch.tensor([1.0, 0.3])
    _, state = lagrangian.residuals(labels)
    x0, t = labels[:, 0].numpy(), labels[:, 1].numpy()
    du0, ddu0 = -np.pi * np.cos(np.pi * x0), np.pi**2 * np.sin(np.pi * x0)  # u0 = -sin(pi x0)
    slope, curvature = 1 + t * du0, t * ddu0  # X = x0 + t u0(x0)
    u_x = du0 / slope
    u_xx = (ddu0 - u_x * curvature) / slope**2
    np.testing.assert_allclose(state.detach().numpy(), -nu * u_xx, atol=1e-12)


@pytest.mark.parametrize("case, params", [("convection1d", {"beta": 30.0}), ("burgers1d", {})])
def test_eulerian_evaluation_inverts_the_map(case, params):
    problem = get_case(case, **params)
    model, lagrangian, _ = LPINN(dtype="float64", width=8, depth=2, seed=3).build(problem)
    with torch.no_grad():  # a curved map that stays monotone (a random one need not be invertible)
        model.characteristic.output.weight *= 0.1
    labels = torch.as_tensor(problem.sample_interior(200, seed=5)) * torch.tensor([1.0, 0.25])
    values = lagrangian.values(labels).detach()
    back = lagrangian.locate(values[:, 1], labels[:, 1]).detach()
    torch.testing.assert_close(back, labels[:, 0], atol=1e-10, rtol=0)  # X wraps around [0, 2 pi] for beta = 30
    eulerian = lagrangian.eulerian(torch.stack([values[:, 1], labels[:, 1]], dim=1)).detach()
    torch.testing.assert_close(eulerian[:, 0], values[:, 0], atol=1e-10, rtol=0)


def test_low_budget_convection_beats_the_pinn_at_equal_wall_clock():
    problem = get_case("convection1d", beta=30.0)
    grid = np.stack(np.meshgrid(np.linspace(0, 2 * np.pi, 64), np.linspace(0, 1, 11)), axis=-1).reshape(-1, 2)
    truth = problem.exact_solution(grid)[:, 0]

    def error(solution):
        return np.linalg.norm(solution(grid)[:, 0] - truth) / np.linalg.norm(truth)

    common = dict(n_interior=1000, width=24, depth=3, sampling="sobol", progress=False, lr=3e-3)
    lpinn = LPINN(adam_steps=150, **common).solve(problem)
    pinn = PINN(adam_steps=10**6, time_budget=lpinn.wall_time, **common).solve(problem)
    assert error(lpinn) < 0.01
    assert error(pinn) > 0.3  # the PINN failure mode at beta = 30
    assert lpinn.config["min_map_slope"] > 0.5


COMPILED_VS_EAGER = """
import torch
from pdekit import get_case
from pdekit.solvers import LPINN

_, losses, labels = LPINN(n_interior=64, n_boundary=8, width=8, depth=2).build(get_case("burgers1d", nu=0.02))
batch = labels(0)
eager, compiled = losses(batch), torch.compile(losses)(batch)
for name in eager:
    assert torch.allclose(eager[name], compiled[name], rtol=1e-4, atol=1e-7), name
print("agree", sorted(eager))
"""


def test_compiled_and_eager_losses_agree():
    """In a fresh interpreter, so the compile starts from a clean state."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", COMPILED_VS_EAGER], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "agree ['boundary', 'characteristic', 'state']" in result.stdout


def test_time_budget_stops_training():
    solver = LPINN(adam_steps=10**6, time_budget=1.0, n_interior=64, width=8, depth=2, progress=False, log_every=10**5)
    solution = solver.solve(get_case("convection1d"))
    assert 1.0 <= solution.wall_time < 10 and 0 < solution.config["steps"] < 10**6
    assert solver.history.rows[-1]["step"] == solution.config["steps"]  # the last step is logged


def small(**options):
    return LPINN(**{"adam_steps": 40, "n_interior": 128, "n_boundary": 16, "width": 8, "depth": 2, "resample": "uniform",
                    "resample_every": 10, "log_every": 5, "checkpoint_every": 10, "progress": False, **options})


def test_resume_continues_bit_for_bit(resumes_bit_for_bit):
    resumes_bit_for_bit(small, get_case("burgers1d"))


def test_config_errors_name_the_choices():
    with pytest.raises(ValueError, match="unknown LPINN option 'widht'; valid options: .*width"):
        LPINN(widht=3)
    with pytest.raises(ValueError, match="valid choices: none, uniform"):
        LPINN(resample="rad")


def test_cli_solves_with_lpinn(tmp_path, capsys):
    out = tmp_path / "c.nc"
    args = ["solve", "convection1d", "--param", "beta=10", "--solver", "lpinn", "--option", "adam_steps=20",
            "--option", "n_interior=64", "--option", "width=8", "--option", "depth=2", "--no-recipe", "--quiet",
            "--resolution", "33", "--times", "5", "--out", str(out)]
    assert main(args) == 0
    result = load(out)
    assert result.dataset.attrs["solver"] == "lpinn" and json.loads(result.dataset.attrs["config"])["steps"] == 20
    assert np.isfinite(result.dataset["u"].values).all()
    assert "against the exact solution" in capsys.readouterr().out


@pytest.mark.slow
def test_convection_at_beta_50_reaches_the_issue_goal():
    problem = get_case("convection1d", beta=50.0)
    solution = LPINN(adam_steps=1000, n_interior=2048, sampling="sobol", progress=False).solve(problem)
    exact = problem.exact_solution
    grid = np.stack(np.meshgrid(np.linspace(0, 2 * np.pi, 128), np.linspace(0, 1, 21)), axis=-1).reshape(-1, 2)
    error = np.linalg.norm(solution(grid) - exact(grid)) / np.linalg.norm(exact(grid))
    assert error <= 1e-2
