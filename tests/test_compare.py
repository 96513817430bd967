"""compare(): relative L2 and max errors, per-time errors, summary table, figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import pdekit  # noqa: E402
from pdekit import (  # noqa: E402
    Comparison,
    Dirichlet,
    Equation,
    FunctionSolution,
    GridSolution,
    Initial,
    Interval,
    Polygon,
    Problem,
    TimeInterval,
    compare,
    relative_l2,
)
from pdekit import math as pm  # noqa: E402

L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]


def decay1d():
    exact = lambda x, t, p: pm.sin(pm.pi * x[0]) * pm.exp(-t) + 0.5  # noqa: E731
    return Problem(name="decay1d", geometry=Interval(0.0, 1.0), time=TimeInterval(0.0, 1.0),
                   equation=Equation(flux=lambda u, du, x, t, p: [-du[0]], source=lambda u, du, x, t, p: 0.0),
                   conditions=[Dirichlet(0.5), Initial(exact)], exact=exact)


def lshape():
    exact = lambda x, t, p: 1.0 + x[0] - 2 * x[1]  # noqa: E731
    return Problem(name="lshape_linear", geometry=Polygon(L_SHAPE),
                   equation=Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]], source=lambda u, du, x, t, p: 0.0),
                   conditions=[Dirichlet(exact)], exact=exact)


def exact(problem):
    return FunctionSolution(problem, problem.exact_solution, "exact")


def scaled(problem, factor):
    return FunctionSolution(problem, lambda points: factor * problem.exact_solution(points), f"x{factor}")


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# -- relative_l2 ------------------------------------------------------------------------------
def test_relative_l2_of_known_arrays():
    reference = xr.DataArray(np.array([3.0, 4.0]), dims="x")
    values = xr.DataArray(np.array([3.0, 4.5]), dims="x")
    assert float(relative_l2(values, reference)) == pytest.approx(0.5 / 5.0, rel=1e-15)
    assert float(relative_l2(reference, reference)) == 0.0


def test_a_solution_missing_where_the_reference_has_values_is_not_accurate():
    reference = xr.DataArray(np.array([1.0, 2.0, np.nan]), dims="x")  # nan: outside the domain
    assert np.isnan(float(relative_l2(xr.DataArray(np.array([1.0, np.nan, 5.0]), dims="x"), reference)))
    assert np.isnan(float(relative_l2(xr.full_like(reference, np.nan), reference)))  # was 0: all NaN read as exact
    inside = xr.DataArray(np.array([True, False, False]), dims="x")
    assert float(relative_l2(xr.DataArray(np.array([1.5, np.nan, 5.0]), dims="x"), reference, inside=inside)) == 0.5


def test_relative_l2_leaves_out_points_without_a_reference_and_reduces_over_dims():
    reference = xr.DataArray(np.array([[1.0, np.nan], [2.0, 2.0]]), dims=("t", "x"))
    values = xr.DataArray(np.array([[2.0, np.nan], [2.0, 3.0]]), dims=("t", "x"))
    assert float(relative_l2(values, reference)) == pytest.approx(np.sqrt(2.0 / 9.0))
    per_t = relative_l2(values, reference, dims=["x"])
    assert per_t.dims == ("t",)
    np.testing.assert_allclose(per_t.values, [1.0, np.sqrt(1.0 / 8.0)])


# -- compare ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [decay1d, lshape, lambda: pdekit.get_case("heat2d")])
def test_compare_exact_with_itself_is_zero(make):
    problem = make()
    coords = pdekit.results.default_grid(problem, resolution=17, times=9)
    result = compare(exact(problem), exact(problem), coords=coords)
    assert isinstance(result, Comparison)
    assert float(result.metrics["u_rel_l2"]) == 0.0
    assert float(result.metrics["u_max_error"]) == 0.0


def test_compare_on_default_grid():
    problem = pdekit.get_case("poisson2d")
    result = compare(scaled(problem, 1.01), exact(problem))
    assert result.reference["u"].shape == (101, 101)
    assert float(result.metrics["u_rel_l2"]) == pytest.approx(0.01, abs=1e-12)


@pytest.mark.parametrize("make", [decay1d, lshape, lambda: pdekit.get_case("heat2d")])
def test_scaled_solution_has_relative_error_of_the_scale(make):
    problem = make()
    coords = pdekit.results.default_grid(problem, resolution=17, times=9)
    result = compare(scaled(problem, 1.01), exact(problem), coords=coords)
    assert float(result.metrics["u_rel_l2"]) == pytest.approx(0.01, abs=1e-12)
    reference = result.reference["u"]
    assert float(result.metrics["u_max_error"]) == pytest.approx(0.01 * float(abs(reference).max()), rel=1e-10)
    assert not np.isnan(float(result.metrics["u_rel_l2"]))  # NaN outside the L-shape is skipped


def test_rel_l2_t_for_evolution_problems():
    problem = decay1d()
    coords = pdekit.results.default_grid(problem, resolution=33, times=7)
    result = compare(scaled(problem, 0.98), exact(problem), coords=coords)
    per_t = result.metrics["u_rel_l2_t"]
    assert per_t.dims == ("t",) and len(per_t) == 7
    np.testing.assert_allclose(per_t.values, 0.02, rtol=1e-10)
    np.testing.assert_allclose(per_t["t"].values, coords["t"])


def test_rel_l2_t_tracks_error_growing_in_time():
    problem = decay1d()
    drifting = FunctionSolution(problem, lambda pts: problem.exact_solution(pts) + 0.1 * pts[:, 1:2], "drift")
    result = compare(drifting, exact(problem), coords=pdekit.results.default_grid(problem, 33, 5))
    per_t = result.metrics["u_rel_l2_t"].values
    assert per_t[0] == 0.0
    assert np.all(np.diff(per_t) > 0)


def test_no_rel_l2_t_for_steady_problems():
    problem = lshape()
    result = compare(exact(problem), exact(problem), coords=pdekit.results.default_grid(problem, 9))
    assert "u_rel_l2_t" not in result.metrics
    assert "t" not in result.metrics.dims


def test_compare_against_a_dataset_uses_its_grid():
    problem = decay1d()
    reference = exact(problem).to_xarray(resolution=12, times=5)
    result = compare(scaled(problem, 1.01), reference)
    assert result.solution["u"].shape == (5, 12)
    np.testing.assert_array_equal(result.solution["x"].values, reference["x"].values)
    assert float(result.metrics["u_rel_l2"]) == pytest.approx(0.01, abs=1e-12)


def test_compare_against_a_dataset_with_y_before_x():
    """A hand-built reference stored (y, x), as image-like data often is, is compared point by point."""
    problem = lshape()
    y, x = np.linspace(-1, 1, 9), np.linspace(-1, 1, 11)
    Y, X = np.meshgrid(y, x, indexing="ij")
    values = np.where((X > 0) & (Y > 0), np.nan, 1.0 + X - 2 * Y)
    reference = xr.Dataset({"u": (("y", "x"), values)}, coords={"y": y, "x": x})
    result = compare(exact(problem), reference)
    assert float(result.metrics["u_rel_l2"]) == pytest.approx(0.0, abs=1e-15)


def test_compare_loaded_results(tmp_path):
    problem = decay1d()  # not a registered case: loaded without its problem
    a = scaled(problem, 1.01).save(tmp_path / "a.nc", resolution=9, times=4)
    b = exact(problem).save(tmp_path / "b.nc", resolution=9, times=4)
    result = compare(pdekit.load(a), pdekit.load(b))
    assert float(result.metrics["u_rel_l2"]) == pytest.approx(0.01, abs=1e-12)
    assert len(result.metrics["u_rel_l2_t"]) == 4


def test_compare_loaded_results_on_the_lshape(tmp_path):
    problem = lshape()
    a = scaled(problem, 1.01).save(tmp_path / "a.nc", resolution=11)
    b = exact(problem).save(tmp_path / "b.nc", resolution=11)
    result = compare(pdekit.load(a), pdekit.load(b))
    assert float(result.metrics["u_rel_l2"]) == pytest.approx(0.01, abs=1e-12)
    # every grid point of the domain takes part, including those next to the cut-out quadrant
    assert int(np.isfinite(result.error["u"]).sum()) == int(np.isfinite(result.reference["u"]).sum()) == 11 * 11 - 25


def test_error_property():
    problem = decay1d()
    result = compare(scaled(problem, 2.0), exact(problem), coords=pdekit.results.default_grid(problem, 5, 3))
    np.testing.assert_allclose(result.error["u"].values, result.reference["u"].values, rtol=1e-14)


def test_missing_field_error():
    problem = decay1d()
    reference = exact(problem).to_xarray(resolution=5, times=3)
    other = reference.rename({"u": "v"})
    with pytest.raises(ValueError, match=r"lacks fields \['u'\]; it has: v"):
        compare(other, reference)


def test_extra_solution_fields_are_ignored():
    problem = decay1d()
    reference = exact(problem).to_xarray(resolution=5, times=3)
    solution = reference.assign(v=reference["u"] * 3)
    result = compare(solution, reference)
    assert list(result.solution.data_vars) == ["u"]
    assert float(result.metrics["u_rel_l2"]) == 0.0


# -- interpolation of a saved grid ------------------------------------------------------------
def test_compare_says_when_interpolating_a_coarse_grid_dominates_the_error():
    """The exact solution saved on a 9 x 5 grid, compared with itself on a fine grid: all the error
    is interpolation, which the estimate from second differences measures within 25%."""
    problem = decay1d()
    coarse = GridSolution(exact(problem).to_xarray(resolution=9, times=5), problem)
    result = compare(coarse, exact(problem), coords=pdekit.results.default_grid(problem, 201, 101))
    reported, estimate = float(result.metrics["u_rel_l2"]), float(result.metrics["u_interpolation_solution"])
    assert 0.75 < estimate / reported < 1.25, (estimate, reported)
    assert len(result.notes) == 1 and "interpolating the solution's grid linearly along t, x" in result.notes[0]
    assert result.summary().splitlines()[-1].startswith("note: u: interpolating the solution's grid")


def test_compare_is_silent_when_interpolation_is_a_small_part():
    problem = decay1d()
    fine = GridSolution(scaled(problem, 1.01).to_xarray(resolution=201, times=101), problem)
    result = compare(fine, exact(problem), coords=pdekit.results.default_grid(problem, 37, 23))
    assert float(result.metrics["u_interpolation_solution"]) < 0.1 * float(result.metrics["u_rel_l2"])
    assert result.notes == [] and "note" not in result.summary()


def test_no_interpolation_estimate_on_the_grid_itself():
    problem = decay1d()
    saved = GridSolution(exact(problem).to_xarray(resolution=9, times=5), problem)
    result = compare(scaled(problem, 1.01), saved)
    assert "u_interpolation_reference" not in result.metrics and result.notes == []


# -- summary and figures ----------------------------------------------------------------------
def test_summary_names_fields_and_metrics():
    problem = decay1d()
    result = compare(scaled(problem, 1.01), exact(problem), coords=pdekit.results.default_grid(problem, 9, 3))
    text = result.summary()
    lines = text.splitlines()
    assert len(lines) == 2
    assert "rel L2" in lines[0] and "max error" in lines[0] and "t1" in lines[0]
    assert lines[1].split()[0] == "u"
    assert "1.000e-02" in lines[1]


def test_summary_for_vector_fields():
    problem = Problem(name="vec", geometry=Interval(0, 1), fields=[pdekit.Field("w", 2)],
                      equation=Equation(source=lambda u, du, x, t, p: [0.0, 0.0]), conditions=[Dirichlet(0.0)],
                      exact=lambda x, t, p: [1 + x[0], 2 - x[0]])
    result = compare(exact(problem), exact(problem), coords=pdekit.results.default_grid(problem, 5))
    names = [line.split()[0] for line in result.summary().splitlines()[1:]]
    assert names == ["w_0", "w_1"]
    assert "t1" not in result.summary()


@pytest.mark.parametrize("make, times", [
    (decay1d, 5),                                 # 1D evolution: (x, t) images
    (lshape, None),                               # 2D steady: (x, y) images
    (lambda: pdekit.get_case("heat2d"), 4),       # 2D evolution: rows of (x, y) images over time
    (lambda: pdekit.get_case("poisson2d"), None),
])
def test_figure_returns_a_figure(make, times):
    problem = make()
    coords = pdekit.results.default_grid(problem, 9, times)
    figure = compare(scaled(problem, 1.01), exact(problem), coords=coords).figure()
    assert isinstance(figure, Figure)
    images = [ax for ax in figure.axes if ax.get_title()]
    assert len(images) >= 3
    assert any("error" in ax.get_title() for ax in images)


def test_figure_of_2d_evolution_has_a_row_per_time():
    problem = pdekit.get_case("heat2d")
    result = compare(exact(problem), exact(problem), coords=pdekit.results.default_grid(problem, 9, 5))
    figure = result.figure(times=3)
    titled = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert len(titled) == 9
    times = [title.split("t = ")[1] for title in titled]
    assert sorted(set(times)) == ["0", "0.5", "1"]  # first, middle and last time, 3 panels each
    assert all(times.count(t) == 3 for t in set(times))


def test_figure_of_1d_steady_problem():
    problem = Problem(name="line", geometry=Interval(0, 1), equation=Equation(source=lambda u, du, x, t, p: 0.0),
                      conditions=[Dirichlet(0.0)], exact=lambda x, t, p: x[0] ** 2)
    figure = compare(exact(problem), exact(problem), coords=pdekit.results.default_grid(problem, 9)).figure()
    assert isinstance(figure, Figure)


def test_figure_can_be_saved(tmp_path):
    problem = decay1d()
    figure = compare(exact(problem), exact(problem), coords=pdekit.results.default_grid(problem, 9, 3)).figure("u")
    figure.savefig(tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 1000
