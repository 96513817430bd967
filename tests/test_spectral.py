"""The spectral reference: exact solutions, convergence rates, budgets, batching, refusals, results."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import pdekit
from pdekit import Equation, Initial, Interval, Periodic, Problem, Rectangle, TimeInterval, WhittleMaternField, get_case
from pdekit import math as pm
from pdekit.pde_cases.ns2d_vorticity import forcing
from pdekit.pde_cases.taylor_green import flux as navier_stokes_flux
from pdekit.reference import choose_method, spectral
from pdekit.reference.spectral import SpectralSettings

TWO_PI = 2 * np.pi


@pytest.fixture(autouse=True)
def one_thread():
    """These small FFTs gain nothing from threads, and on a busy machine every threaded call waits for a core."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def grid_points(problem, n, t):
    axes = [np.linspace(lo, hi, n, endpoint=False) for lo, hi in zip(problem.geometry.lower, problem.geometry.upper)]
    space = np.stack([a.ravel() for a in np.meshgrid(*axes, indexing="ij")], axis=1)
    return np.concatenate([space, np.full((len(space), 1), t)], axis=1)


def relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def observed_order(sizes, errors):
    return np.polyfit(np.log(sizes), np.log(errors), 1)[0]


def periodic_burgers(nu=0.1, t1=1.0):
    """``u_t + (u^2 / 2)_x = nu u_xx`` on ``[0, 2 pi]`` periodic: smooth for this ``nu`` up to ``t1``."""
    return Problem(name="burgers_periodic", geometry=Interval(0.0, TWO_PI), time=TimeInterval(0.0, t1),
                   params={"nu": nu}, equation=Equation(flux=lambda u, du, x, t, p: [0.5 * u**2 - p.nu * du[0]]),
                   conditions=[Periodic(0), Initial(lambda x, t, p: pm.sin(x[0]) + 0.5 * pm.cos(2 * x[0]))])


def kolmogorov(nu=1.0, k=2, amplitude=2.0, t1=10.0):
    """Velocity-pressure Navier-Stokes forced by ``(amplitude sin(k y), 0)``, from the Taylor-Green vortex."""
    def source(u, du, x, t, p):
        return [p.amplitude * pm.sin(p.k * x[1]), 0.0, 0.0]

    vortex = get_case("taylor_green")
    return dataclasses.replace(vortex, name="kolmogorov", time=TimeInterval(0.0, t1), exact=None,
                               params={"nu": nu, "k": float(k), "amplitude": amplitude},
                               equation=Equation(flux=navier_stokes_flux, source=source,
                                                 time_coefficient=(1.0, 1.0, 0.0)))


# -- exact solutions ---------------------------------------------------------------------------
def test_taylor_green_velocity_and_pressure_are_exact():
    problem = get_case("taylor_green")
    solution = spectral.solve(problem, n=16, dt=0.05, saves=5, cache=False)
    assert solution.config["structure"]["multiplier"] == ["p"]
    scattered = np.random.default_rng(1).uniform(0, TWO_PI, (300, 2))
    for t in solution.times:
        for points in (grid_points(problem, 21, t), np.column_stack([scattered, np.full(300, t)])):
            values, truth = solution(points), problem.exact_solution(points)
            # the advection of the vortex is a gradient, which the projection hands to the pressure;
            # the viscous decay is integrated exactly: only rounding is left
            assert np.abs(values[:, :2] - truth[:, :2]).max() < 1e-12
            assert np.abs(values[:, 2] - truth[:, 2]).max() < 1e-12


def test_taylor_green_in_float32():
    problem = get_case("taylor_green")
    solution = spectral.solve(problem, n=16, dt=0.05, saves=2, dtype="float32", cache=False)
    points = grid_points(problem, 16, 1.0)
    assert solution.coefficients.dtype == np.complex64
    assert 1e-9 < np.abs(solution(points) - problem.exact_solution(points)).max() < 1e-5


def test_kolmogorov_flow_settles_on_its_laminar_state():
    problem = kolmogorov()  # U = amplitude / (nu k^2) = 0.5, Re = U / (nu k) = 0.25: below the instability
    solution = spectral.solve(problem, n=16, dt=0.1, saves=4, cache=False)
    points = grid_points(problem, 16, problem.time.t1)
    values = solution(points)
    laminar = 0.5 * np.sin(2 * points[:, 1])
    assert np.abs(values[:, 0] - laminar).max() < 1e-7 * np.abs(laminar).max()
    assert np.abs(values[:, 1]).max() < 1e-7 and np.abs(values[:, 2]).max() < 1e-7  # no cross flow, no pressure
    start = solution(grid_points(problem, 16, 0.0))
    assert np.abs(start[:, 0] - laminar).max() > 0.1  # it started far from it


# -- convergence -------------------------------------------------------------------------------
def test_spectral_convergence_in_space():
    problem = periodic_burgers(nu=0.5)
    points = grid_points(problem, 200, 1.0)
    fine = spectral.solve(problem, n=64, dt=1e-2, saves=1, cache=False)(points)
    modes = np.array([4, 5, 6, 8, 10])  # kept by the 2/3 rule on n = 3 K points
    errors = np.array([relative(spectral.solve(problem, n=3 * int(k), dt=1e-2, saves=1, cache=False)(points), fine)
                       for k in modes])
    # exponential: log error falls linearly in K (measured: by 1.4 per mode), so the algebraic order
    # between successive K keeps growing (measured 6.4, 7.8, 9.9, 12.7)
    assert np.polyfit(modes, np.log(errors), 1)[0] < -1.2, errors
    local = -np.diff(np.log(errors)) / np.diff(np.log(modes))
    assert np.all(np.diff(local) > 0) and local[-1] > 10, (errors, local)
    assert errors[-1] < 1e-6, errors


@pytest.mark.parametrize("scheme, order", [("etdrk4", 4.0), ("cnab2", 2.0)])
def test_time_stepping_converges_at_the_scheme_order(scheme, order):
    problem = periodic_burgers(nu=0.3)
    points = grid_points(problem, 64, 1.0)
    fine = spectral.solve(problem, n=32, dt=1e-3, saves=1, cache=False)(points)
    steps = np.array([0.1, 0.05, 0.025])
    errors = [relative(spectral.solve(problem, n=32, dt=dt, scheme=scheme, saves=1, cache=False)(points), fine)
              for dt in steps]
    observed = observed_order(steps, errors)  # measured: 3.94 and 2.07
    assert order - 0.3 <= observed <= order + 0.6, (errors, observed)


# -- budgets of the vorticity case -------------------------------------------------------------
def band_limited_vorticity(nu=1e-3, t1=1.0, seed=3):
    """ns2d_vorticity with an initial vorticity of wave numbers <= 8, inside the 2/3 band of n = 32,
    so the dealiased (Galerkin) advection conserves energy and enstrophy exactly."""
    problem = get_case("ns2d_vorticity", nu=nu)
    w0 = WhittleMaternField("w0", alpha=2.5, tau=7.0, boundary="periodic", modes=8).draw(problem.geometry, seed)["w0"]
    return dataclasses.replace(problem.with_params(w0=w0), time=TimeInterval(0.0, t1))


def budget_residuals(solution):
    """Energy ``1/2 int psi w`` and enstrophy ``1/2 int w^2`` changes minus the time integrals (Simpson over the
    saves) of ``-nu int w^2 + int psi f`` and ``-nu int |grad w|^2 + int w f``, relative to the changes."""
    problem, n = solution.problem, solution.n
    k = 2 * np.pi * np.fft.fftfreq(n, 1.0 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    axis = np.arange(n) / n
    x = np.meshgrid(axis, axis, indexing="ij")
    force = np.asarray(forcing(x, 0.0, problem.p))
    nu = problem.params["nu"]
    energy, enstrophy, energy_rate, enstrophy_rate = [], [], [], []
    for save in range(len(solution.times)):
        w, psi = solution.on_grid(save)
        w_hat = np.fft.fft2(w)
        gradient2 = (np.abs(np.fft.ifft2(1j * kx * w_hat)) ** 2 + np.abs(np.fft.ifft2(1j * ky * w_hat)) ** 2).mean()
        energy.append(0.5 * (psi * w).mean())
        enstrophy.append(0.5 * (w * w).mean())
        energy_rate.append(-nu * (w * w).mean() + (psi * force).mean())
        enstrophy_rate.append(-nu * gradient2 + (w * force).mean())
    from scipy.integrate import simpson

    residuals = []
    for level, rate in ((energy, energy_rate), (enstrophy, enstrophy_rate)):
        change = level[-1] - level[0]
        residuals.append(abs(change - simpson(rate, x=solution.times)) / abs(change))
    return residuals


def test_energy_and_enstrophy_budgets_close_to_the_time_discretisation_error():
    problem = band_limited_vorticity()
    # a save every step: the residual is then the scheme's error and Simpson's, both fourth order in dt
    # (measured: 6.3e-7 and 4.0e-8 for the enstrophy, 16-fold smaller when dt halves)
    coarse, fine = (budget_residuals(spectral.solve(problem, n=32, dt=dt, saves=round(1 / dt), cache=False))
                    for dt in (1 / 16, 1 / 32))
    assert max(fine) < 2e-7, fine
    assert all(c > 10 * f for c, f in zip(coarse, fine)), (coarse, fine)


# -- batches -----------------------------------------------------------------------------------
def short_vorticity(t1=0.2):
    return dataclasses.replace(get_case("ns2d_vorticity"), time=TimeInterval(0.0, t1))


def test_a_batch_equals_its_samples_solved_one_by_one():
    problem = short_vorticity()
    samples = problem.sample_inputs(3, seed=5)
    samples[2] = samples[2].with_params(nu=2e-2)  # a parameter that differs: its own symbols
    settings = SpectralSettings(n=16, dt=0.02, saves=2, batch=2)  # two calls: 2 samples, then 1
    together = spectral.solve_batch(samples, settings)
    assert [s.config["samples_together"] for s in together] == [2, 2, 1]
    for sample, solution in zip(samples, together):
        alone = spectral.solve(sample, settings, cache=False)
        np.testing.assert_allclose(solution.coefficients, alone.coefficients, rtol=0, atol=1e-13)
    assert np.abs(together[0].coefficients[-1] - together[1].coefficients[-1]).max() > 1e-3  # different inputs


def test_a_batch_keeps_its_finite_samples_when_one_blows_up():
    problem = Problem(name="burgers_amplitude", geometry=Interval(0.0, TWO_PI), time=TimeInterval(0.0, 2.0),
                      params={"a": 0.01}, equation=Equation(flux=lambda u, du, x, t, p: [0.5 * u**2]),
                      conditions=[Periodic(0), Initial(lambda x, t, p: p.a * pm.sin(x[0]))])
    samples = [problem, problem.with_params(a=100.0)]  # at dt = 0.5 the second is far past the explicit limit
    small, large = spectral.solve_batch(samples, n=16, dt=0.5, saves=1, errors="return")
    assert isinstance(large, RuntimeError) and "non-finite" in str(large)
    assert np.isfinite(small.coefficients).all() and np.abs(small.coefficients).max() > 1e-3
    with pytest.raises(RuntimeError, match="became non-finite by t = .*reduce dt"):
        spectral.solve_batch(samples, n=16, dt=0.5, saves=1)


def test_a_random_forcing_differs_per_sample_and_is_integrated_exactly():
    """``u_t = D u_xx + f(x)`` from 0, ``f`` from a family: per mode ``f_k (1 - exp(-D k^2 t)) / (D k^2)``,
    which ETDRK4 integrates exactly (its rest, ``f``, is constant)."""
    family = WhittleMaternField("f", alpha=2.0, tau=3.0, boundary="periodic", modes=4)
    geometry = Interval(0.0, 1.0)
    problem = Problem(name="forced_heat", geometry=geometry, time=TimeInterval(0.0, 0.5),
                      params={"D": 0.1, "f": family.draw(geometry, 0)["f"]}, input_family=family,
                      equation=Equation(flux=lambda u, du, x, t, p: [-p.D * du[0]], source=lambda u, du, x, t, p: p.f(x)),
                      conditions=[Periodic(0), Initial(0.0)])
    samples = problem.sample_inputs(3, seed=7)
    solutions = spectral.solve_batch(samples, n=16, dt=0.25, saves=2)
    assert solutions[0].config["structure"]["pointwise"] == []  # f is the whole rest of the row
    k = 2 * np.pi * np.fft.rfftfreq(16, 1 / 16)
    growth = np.where(k > 0, (1 - np.exp(-0.1 * k**2 * 0.5)) / (0.1 * np.where(k > 0, k, 1) ** 2), 0.5)
    for sample, solution in zip(samples, solutions):
        forcing = np.fft.rfft(sample.params["f"](np.arange(16)[None] / 16))
        forcing[-1] = 0  # the Nyquist mode
        np.testing.assert_allclose(solution.on_grid(2)[0], np.fft.irfft(forcing * growth, 16), atol=1e-13)
    assert np.abs(solutions[0].on_grid(2) - solutions[1].on_grid(2)).max() > 1e-3


def test_samples_of_different_problems_are_refused():
    with pytest.raises(ValueError, match="only parameters may vary"):
        spectral.solve_batch([periodic_burgers(), get_case("convection1d")], n=16)


# -- what is recognised, what is refused -------------------------------------------------------
def test_the_structure_found_by_probing():
    vorticity = spectral.solve(short_vorticity(0.04), n=16, dt=0.02, saves=1, cache=False).config["structure"]
    assert vorticity == {"evolving": ["w"], "poisson": ["psi"], "multiplier": [],
                         "exact_linear_part": {"w": ["dw/dx", "dw/dy"]}, "pointwise": ["w", "dpsi/dx", "dpsi/dy"]}
    convection = spectral.solve(get_case("convection1d", nu=0.1), n=16, saves=1, cache=False).config["structure"]
    assert convection["exact_linear_part"] == {"u": ["u", "du/dx"]} and convection["pointwise"] == []


def constrained(constraint_flux, momentum_flux=navier_stokes_flux):
    """The Taylor-Green problem with its continuity row (row 2) or its momentum flux replaced."""
    def flux(u, du, x, t, p):
        rows = momentum_flux(u, du, x, t, p)
        return [rows[0], rows[1], constraint_flux(u, du, x, t, p)]

    vortex = get_case("taylor_green")
    return dataclasses.replace(vortex, equation=dataclasses.replace(vortex.equation, flux=flux))


@pytest.mark.parametrize("problem, words", [
    (get_case("heat2d"), "not periodic along axis 0, 1 (every axis must be)"),
    (get_case("poisson2d"), "not periodic along axis 0, 1"),
    (dataclasses.replace(get_case("convection1d"), time=None, exact=None, conditions=(Periodic(0),)), "it is steady"),
    (constrained(lambda u, du, x, t, p: [u[0] * u[0], u[1]]),
     "constraint row of 'p' is not linear with constant coefficients in u_0"),
    (constrained(lambda u, du, x, t, p: [u[0] + pm.sin(x[0]), u[1]]), "constraint row of 'p' is inhomogeneous"),
    (dataclasses.replace(get_case("ns2d_vorticity"), equation=Equation(
        flux=get_case("ns2d_vorticity").equation.flux, time_coefficient=(1.0, 0.0),
        source=lambda u, du, x, t, p: [0.0, u[0] + 4 * pm.pi**2 * u[1]])),  # -lap psi - 4 pi^2 psi = w
     "the Poisson row of 'psi' is singular at a nonzero wave number"),
    (constrained(lambda u, du, x, t, p: [u[0], u[1]],
                 lambda u, du, x, t, p: [[u[0] * u[0] + u[2] ** 2, u[0] * u[1]], [u[1] * u[0], u[1] * u[1] + u[2]]]),
     "the multiplier 'p' enters an evolution row nonlinearly"),
])
def test_refusals_say_why_and_what_is_recognised(problem, words):
    with pytest.raises(ValueError, match="the spectral reference cannot solve") as info:
        spectral.solve(problem, n=8, dt=0.1, saves=1, cache=False)
    assert words in str(info.value)


def test_a_forced_poisson_row_coupled_back_into_the_evolution():
    """``u_t = D u_xx - a q``, ``-q_xx = u + cos 2x``, ``u0 = sin x``: the sin x mode decays at ``D + a``,
    the cos 2x mode follows ``A' = -(4 D + a / 4) A - a / 4``, and ``q = u_1 sin x + (A + 1) / 4 cos 2x``."""
    D, a = 0.5, 0.3

    def flux(u, du, x, t, p):
        return [[-p.D * du[0][0]], [-du[1][0]]]

    def source(u, du, x, t, p):
        return [-p.a * u[1], u[0] + pm.cos(2 * x[0])]

    problem = Problem(name="coupled_poisson", geometry=Interval(0.0, TWO_PI), time=TimeInterval(0.0, 1.0),
                      fields=["u", "q"], params={"D": D, "a": a},
                      equation=Equation(flux=flux, source=source, time_coefficient=(1.0, 0.0)),
                      conditions=[Periodic(0), Initial(lambda x, t, p: pm.sin(x[0]), field="u")])
    solution = spectral.solve(problem, n=16, dt=0.01, saves=1, cache=False)
    assert solution.config["structure"]["poisson"] == ["q"]
    x = np.linspace(0, TWO_PI, 50)
    rate = 4 * D + a / 4
    amplitude = -(a / 4) / rate * (1 - np.exp(-rate))
    u = np.exp(-(D + a)) * np.sin(x) + amplitude * np.cos(2 * x)
    q = np.exp(-(D + a)) * np.sin(x) + (amplitude + 1) / 4 * np.cos(2 * x)
    values = solution(np.column_stack([x, np.ones_like(x)]))
    np.testing.assert_allclose(values[:, 0], u, atol=1e-10)
    np.testing.assert_allclose(values[:, 1], q, atol=1e-10)


def test_unequal_viscosities_under_one_constraint_are_refused():
    def momentum(u, du, x, t, p):
        rows = navier_stokes_flux(u, du, x, t, p)
        return [[rows[0][0] - p.nu * du[0][0], rows[0][1] - p.nu * du[0][1]], rows[1]]  # twice the viscosity in u_0

    with pytest.raises(ValueError, match="projection of the constraint of 'p' does not commute"):
        spectral.solve(constrained(lambda u, du, x, t, p: [u[0], u[1]], momentum), n=8, dt=0.1, saves=1, cache=False)


def test_bad_settings_name_the_valid_choices():
    with pytest.raises(ValueError, match="unknown time scheme 'rk4'; valid schemes: etdrk4, cnab2"):
        SpectralSettings(scheme="rk4")
    with pytest.raises(ValueError, match="unknown spectral option 'cells'; valid options: n, dt"):
        spectral.solve(get_case("taylor_green"), cells=8)
    with pytest.raises(ValueError, match="valid dtypes: float64, float32"):
        SpectralSettings(dtype="float16")


def test_auto_method_takes_spectral_only_where_fenics_cannot():
    assert choose_method(get_case("taylor_green")) == "spectral"
    assert choose_method(get_case("ns2d_vorticity")) == "spectral"
    assert choose_method(get_case("convection1d")) == "fenics"  # periodic, but FEniCS solves it
    assert choose_method(get_case("heat2d")) == "fenics"
    assert choose_method(get_case("convection1d"), "spectral") == "spectral"
    with pytest.raises(ValueError, match="valid methods: auto, fenics, spectral"):
        choose_method(get_case("heat2d"), "finite_volume")


# -- the solution ------------------------------------------------------------------------------
def test_fourier_interpolation_is_exact_at_any_point_and_linear_between_saves():
    problem = get_case("convection1d", beta=1.0, nu=0.5)  # exp(-nu t) sin(x - beta t): a linear problem
    solution = spectral.solve(problem, n=8, dt=0.25, saves=4, cache=False)
    rng = np.random.default_rng(0)
    at_saves = np.column_stack([rng.uniform(0, TWO_PI, 50), rng.choice(solution.times, 50)])
    np.testing.assert_allclose(solution(at_saves), problem.exact_solution(at_saves), atol=1e-13)
    between = np.column_stack([rng.uniform(0, TWO_PI, 50), rng.uniform(0, 1, 50)])
    interpolation_error = np.abs(solution(between) - problem.exact_solution(between)).max()
    assert 1e-4 < interpolation_error < 0.1  # linear in time between saves 0.25 apart
    with pytest.raises(ValueError, match=r"times must lie in the solved interval \[0.0, 1.0\]"):
        solution(np.array([[1.0, 1.5]]))


def test_solution_saves_loads_and_is_cached(tmp_path):
    problem = get_case("taylor_green")
    first = spectral.solve(problem, n=16, dt=0.05, saves=4)
    again = pdekit.reference.solve(problem, n=16, dt=0.05, saves=4)  # method auto -> spectral, from the cache
    assert again.config["cached"] and not first.config.get("cached")
    np.testing.assert_array_equal(first.coefficients, again.coefficients)
    path = first.save(tmp_path / "tg.nc", resolution=9, times=5)
    loaded = pdekit.load(path)
    assert list(loaded.dataset.data_vars) == ["u_0", "u_1", "p"] and loaded.dataset.attrs["solver"] == "spectral"
    assert json.loads(loaded.dataset.attrs["config"])["structure"]["multiplier"] == ["p"]
    on_file = {d: loaded.dataset[d].values for d in ("t", "x", "y")}
    comparison = pdekit.compare(loaded, pdekit.FunctionSolution(problem, problem.exact_solution, "exact"), coords=on_file)
    assert float(comparison.metrics["u_0_rel_l2"]) < 1e-12 and float(comparison.metrics["p_rel_l2"]) < 1e-12


# -- datasets and the command line ---------------------------------------------------------------
def test_dataset_generation_solves_a_batch_per_call(tmp_path):
    from pdekit import data

    problem = short_vorticity()
    out = data.generate(problem, 3, out=tmp_path / "ns.h5", grid=16, times=3, solver="spectral",
                        options={"n": 16, "dt": 0.02, "batch": 2}, progress=False)
    dataset = data.open(out)
    try:
        assert dataset["w"].shape == (3, 3, 16, 16, 1) and dataset["psi"].shape == (3, 3, 16, 16, 1)
        assert dataset["w0"].shape == (3, 16, 16, 1)
        assert data.read_attributes(out)["solver_options"]["batch"] == 2
        samples = [problem.sample_input(int(seed)) for seed in dataset["seed"].values]
        expected = spectral.solve_batch(samples, n=16, dt=0.02, saves=2)
        for i, solution in enumerate(expected):
            grid = solution.on_grid(2)  # t = 0.2 on the solver's grid, which is the dataset's
            np.testing.assert_allclose(dataset["w"][i, 2, ..., 0].values, grid[0], atol=1e-6)
            # at t = 0 the input, less its Nyquist modes (they have no derivative on the grid: the solver drops them)
            w0 = np.fft.fft2(dataset["w0"][i, ..., 0].values)
            w0[8, :] = w0[:, 8] = 0
            np.testing.assert_allclose(dataset["w"][i, 0, ..., 0].values, np.fft.ifft2(w0).real, atol=1e-6)
    finally:
        dataset.close()


def test_reference_command_solves_taylor_green_spectrally(tmp_path, capsys):
    from pdekit.cli import main

    out = tmp_path / "tg.nc"
    assert main(["reference", "taylor_green", "--option", "n=16", "--option", "dt=0.05", "--option", "saves=4",
                 "--quiet", "--resolution", "9", "--times", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "solved with spectral" in printed and "against the exact solution" in printed
    assert pdekit.load(out).dataset.attrs["solver"] == "spectral"
    assert main(["solve", "convection1d", "--solver", "spectral", "--option", "n=16", "--quiet",
                 "--out", str(tmp_path / "c.nc")]) == 0
    assert main(["reference", "heat2d", "--option", "method=spectral", "--out", str(tmp_path / "h.nc")]) == 2
    assert "not periodic along axis 0, 1" in capsys.readouterr().err


def test_reference_command_says_why_the_spectral_method_cannot_take_a_bounded_box(tmp_path, capsys):
    from pdekit.cli import main

    assert main(["reference", "heat2d", "--option", "method=spectral", "--out", str(tmp_path / "x.nc")]) == 2
    assert "not periodic along axis 0, 1 (every axis must be); use method='fenics'" in capsys.readouterr().err


# -- against the FEniCS reference --------------------------------------------------------------
@pytest.mark.fenics
def test_periodic_burgers_agrees_with_fenics_which_converges_to_it():
    from pdekit.reference import fenics

    problem = dataclasses.replace(get_case("burgers1d", nu=0.05), time=TimeInterval(0.0, 0.5),
                                  conditions=(Periodic(0), get_case("burgers1d").conditions_of(Initial)[0]))
    final = {"t": np.array([0.5]), "x": np.linspace(-1, 1, 401)}
    exact = spectral.solve(problem, n=128, dt=1e-3, saves=1, cache=False)
    cells = np.array([32, 64])
    errors = [float(pdekit.compare(fenics.solve(problem, degree=2, cells=int(c), dt=1e-3, saves=1, cache=False),
                                   exact, coords=final).metrics["u_rel_l2"]) for c in cells]
    assert errors[-1] < 2e-4, errors  # measured 6.0e-4 and 7.8e-5: P2 converges to the spectral solution at order 3
    assert observed_order(2.0 / cells, errors) > 2.5, errors


@pytest.mark.fenics
def test_variable_coefficient_convection_diffusion_agrees_with_fenics():
    from pdekit.reference import fenics

    def flux(u, du, x, t, p):
        return [(1 + 0.5 * pm.sin(x[1])) * u - p.D * du[0], 0.5 * pm.cos(x[0]) * u - p.D * du[1]]

    problem = Problem(name="convection_diffusion2d", geometry=Rectangle((0, 0), (TWO_PI, TWO_PI)),
                      time=TimeInterval(0.0, 1.0), params={"D": 0.05}, equation=Equation(flux=flux),
                      conditions=[Periodic(0), Periodic(1),
                                  Initial(lambda x, t, p: pm.sin(x[0]) * pm.cos(x[1]) + 0.5 * pm.cos(2 * x[0] + x[1]))])
    solution = spectral.solve(problem, n=32, dt=1e-2, saves=4, cache=False)
    assert solution.config["structure"]["pointwise"] == ["u"]  # the variable advection is explicit
    reference = fenics.solve(problem, degree=2, cells=32, dt=1e-2, saves=4, cache=False)
    grid = {"t": solution.times, "x": np.linspace(0, TWO_PI, 33), "y": np.linspace(0, TWO_PI, 33)}
    error = float(pdekit.compare(solution, reference, coords=grid).metrics["u_rel_l2"])
    assert error < 2e-3, error
