"""Solutions as labelled xarray data, saved atomically as netCDF4/HDF5 and loaded back."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest
import xarray as xr

import pdekit
from pdekit import (
    Dirichlet,
    Equation,
    FunctionSolution,
    GridSolution,
    Initial,
    Interval,
    Polygon,
    Problem,
    TimeInterval,
)
from pdekit import math as pm
from pdekit.results import save_dataset

L_SHAPE = [(-1, -1), (1, -1), (1, 0), (0, 0), (0, 1), (-1, 1)]


def linear(x, t, p):
    return 1.0 + 2.0 * x[0] - 3.0 * x[1]


def lshape_problem():
    """A harmonic problem on the L-shape (not a registered case) with a linear exact solution."""
    return Problem(name="lshape_linear", geometry=Polygon(L_SHAPE),
                   equation=Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]], source=lambda u, du, x, t, p: 0.0),
                   conditions=[Dirichlet(linear)], exact=linear, description="linear on the L-shape")


def wave1d():
    """A 1D evolution problem (not a registered case) with an exact solution."""
    exact = lambda x, t, p: pm.sin(pm.pi * x[0]) * pm.exp(-p.decay * t)  # noqa: E731
    return Problem(name="decay1d", geometry=Interval(0.0, 1.0), time=TimeInterval(0.0, 0.5), params={"decay": 2.0},
                   equation=Equation(flux=lambda u, du, x, t, p: [-du[0]], source=lambda u, du, x, t, p: 0.0),
                   conditions=[Dirichlet(0.0), Initial(exact)], exact=exact)


def exact_solution(problem, **config):
    return FunctionSolution(problem, problem.exact_solution, "exact", config=config, wall_time=1.25)


# -- to_xarray --------------------------------------------------------------------------------
def test_steady_2d_dataset_layout():
    problem = pdekit.get_case("poisson2d")
    ds = exact_solution(problem).to_xarray(resolution=9)
    assert list(ds.data_vars) == ["u"]
    assert ds["u"].dims == ("x", "y")
    assert set(ds.coords) == {"x", "y"}
    np.testing.assert_allclose(ds["x"], np.linspace(0, 1, 9))
    X, Y = np.meshgrid(ds["x"].values, ds["y"].values, indexing="ij")
    expected = np.sin(np.pi * X) * np.sin(2 * np.pi * Y) + X * Y
    np.testing.assert_allclose(ds["u"].values, expected, rtol=1e-13, atol=1e-14)


def test_evolution_1d_dataset_layout():
    problem = wave1d()
    ds = exact_solution(problem).to_xarray(resolution=11, times=6)
    assert list(ds.data_vars) == ["u"]
    assert ds["u"].dims == ("t", "x")
    assert set(ds.coords) == {"t", "x"}
    np.testing.assert_allclose(ds["t"], np.linspace(0, 0.5, 6))
    T, X = np.meshgrid(ds["t"].values, ds["x"].values, indexing="ij")
    np.testing.assert_allclose(ds["u"].values, np.sin(np.pi * X) * np.exp(-2 * T), atol=1e-14)


def test_evolution_2d_dataset_layout():
    problem = pdekit.get_case("heat2d")
    ds = exact_solution(problem).to_xarray(resolution=5, times=4)
    assert ds["u"].dims == ("t", "x", "y") and ds["u"].shape == (4, 5, 5)
    value = ds["u"].sel(t=ds["t"][2], x=0.25, y=0.5).item()
    t = float(ds["t"][2])
    assert value == pytest.approx(np.sin(np.pi * 0.25) * np.sin(np.pi * 0.5) * np.cos(2 * t), rel=1e-13)


def test_field_names_of_a_vector_problem():
    problem = Problem(name="vec", geometry=Interval(0, 1), fields=[pdekit.Field("w", 2)],
                      equation=Equation(source=lambda u, du, x, t, p: [0.0, 0.0]), conditions=[Dirichlet(0.0)],
                      exact=lambda x, t, p: [x[0], -x[0]])
    ds = exact_solution(problem).to_xarray(resolution=3)
    assert list(ds.data_vars) == ["w_0", "w_1"]
    np.testing.assert_allclose(ds["w_1"], [-0.0, -0.5, -1.0])


def test_nan_outside_a_non_box_domain():
    problem = lshape_problem()
    ds = exact_solution(problem).to_xarray(resolution=21)
    u = ds["u"]
    X, Y = np.meshgrid(ds["x"].values, ds["y"].values, indexing="ij")
    cut_out = (X > 1e-9) & (Y > 1e-9)  # the removed quadrant (0, 1]^2, open at its edges
    assert np.isnan(u.values[cut_out]).all()
    assert np.isfinite(u.values[~cut_out]).all()
    np.testing.assert_allclose(u.values[~cut_out], 1 + 2 * X[~cut_out] - 3 * Y[~cut_out], atol=1e-13)


def test_explicit_coordinates():
    problem = wave1d()
    coords = {"t": np.array([0.0, 0.25]), "x": np.array([0.5])}
    ds = exact_solution(problem).to_xarray(coords=coords)
    np.testing.assert_allclose(ds["u"].values[:, 0], [1.0, np.exp(-0.5)], rtol=1e-14)


def test_explicit_coordinates_in_any_axis_order():
    """Coordinates given y before x still evaluate u(x, y), not u(y, x)."""
    problem = lshape_problem()
    coords = {"y": np.array([-0.5, 0.0]), "x": np.array([-1.0, -0.5, 0.5])}
    ds = exact_solution(problem).to_xarray(coords=coords)
    assert ds["u"].dims == ("y", "x")
    for y in coords["y"]:
        for x in coords["x"]:
            assert ds["u"].sel(x=x, y=y).item() == pytest.approx(1 + 2 * x - 3 * y)


def test_attributes():
    problem = wave1d()
    ds = exact_solution(problem, cells=64, lr=1e-3).to_xarray(resolution=5, times=3)
    for key in ("problem", "params", "solver", "config", "versions", "wall_time_s", "created", "description"):
        assert key in ds.attrs
    assert ds.attrs["problem"] == "decay1d"
    assert json.loads(ds.attrs["params"]) == {"decay": 2.0}
    assert ds.attrs["solver"] == "exact"
    assert json.loads(ds.attrs["config"]) == {"cells": 64, "lr": 1e-3}
    versions = json.loads(ds.attrs["versions"])
    assert {"python", "numpy", "xarray", "torch"} <= set(versions)
    assert ds.attrs["wall_time_s"] == 1.25


def test_callable_params_are_left_out_of_attributes():
    problem = wave1d()
    problem = Problem(**{**{f: getattr(problem, f) for f in ("name", "geometry", "equation", "conditions", "time",
                                                              "exact")}, "params": {"decay": 2.0, "g": np.sin}})
    assert json.loads(exact_solution(problem).attributes()["params"]) == {"decay": 2.0}


def test_function_solution_checks_point_shape():
    solution = exact_solution(wave1d())
    assert solution(np.array([[0.5, 0.0]])).shape == (1, 1)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        solution(np.array([[0.5]]))


# -- save and load ----------------------------------------------------------------------------
@pytest.mark.parametrize("make", [wave1d, lshape_problem, lambda: pdekit.get_case("heat2d", kappa=0.3)])
def test_save_load_round_trip(make, tmp_path):
    problem = make()
    solution = exact_solution(problem, note="x")
    grid = {"resolution": 7, "times": 4} if problem.is_evolution else {"resolution": 7}
    path = solution.save(tmp_path / "sub" / "result.nc", **grid)
    assert path == tmp_path / "sub" / "result.nc" and path.exists()
    written = solution.to_xarray(**grid)
    loaded = pdekit.load(path)
    assert isinstance(loaded, GridSolution)
    ds = loaded.to_xarray()
    assert list(ds.data_vars) == ["u"]
    assert ds["u"].dims == written["u"].dims
    for name in written.coords:
        np.testing.assert_array_equal(ds[name].values, written[name].values)
    np.testing.assert_array_equal(ds["u"].values, written["u"].values)  # NaN where NaN, bit-equal elsewhere
    for key in ("problem", "params", "solver", "config", "versions", "wall_time_s", "description"):
        assert ds.attrs[key] == written.attrs[key], key
    assert loaded.solver == "exact" and loaded.config == {"note": "x"} and loaded.wall_time == 1.25
    assert loaded.components == ("u",)


def test_saved_file_records_its_interpolation_error(tmp_path):
    """``x^2`` interpolated linearly errs by ``h^2 / 4`` at the midpoints of a grid of spacing ``h``;
    a linear function not at all."""
    square = Problem(name="square", geometry=Interval(0.0, 1.0), exact=lambda x, t, p: x[0] ** 2,
                     equation=Equation(flux=lambda u, du, x, t, p: [-du[0]], source=lambda u, du, x, t, p: 2.0),
                     conditions=[Dirichlet(lambda x, t, p: x[0] ** 2)])
    path = exact_solution(square).save(tmp_path / "square.nc", resolution=9)
    midpoints = (np.arange(8) + 0.5) / 8
    expected = np.linalg.norm(np.full(8, 1 / 8**2 / 4)) / np.linalg.norm(midpoints**2)
    assert json.loads(pdekit.load(path).dataset.attrs["interpolation_error"])["u"] == pytest.approx(expected, rel=1e-9)
    path = exact_solution(lshape_problem()).save(tmp_path / "linear.nc", resolution=9)
    assert json.loads(pdekit.load(path).dataset.attrs["interpolation_error"])["u"] < 1e-14


def test_load_rebuilds_a_registered_case_with_its_params(tmp_path):
    problem = pdekit.get_case("heat2d", kappa=0.3)
    path = exact_solution(problem).save(tmp_path / "heat.nc", resolution=5, times=3)
    loaded = pdekit.load(path)
    assert loaded.problem is not None and loaded.problem.name == "heat2d"
    assert loaded.problem.params["kappa"] == 0.3
    unregistered = pdekit.load(exact_solution(wave1d()).save(tmp_path / "w.nc", resolution=5, times=3))
    assert unregistered.problem is None


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def _failing_to_netcdf(monkeypatch, error=KeyboardInterrupt):
    """Make every netCDF write put a partial file at the path it is given, then fail."""
    calls = []

    def partial_write(self, path=None, *args, **kwargs):
        calls.append(path)
        with open(path, "wb") as handle:
            handle.write(b"\x89HDF\r\n\x1a\n partial")
        raise error("interrupted while writing")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", partial_write)
    return calls


def test_interrupted_write_leaves_nothing(tmp_path, monkeypatch):
    solution = exact_solution(wave1d())
    ds = solution.to_xarray(resolution=5, times=3)
    calls = _failing_to_netcdf(monkeypatch)
    target = tmp_path / "result.nc"
    with pytest.raises(KeyboardInterrupt):
        save_dataset(ds, target)
    assert calls, "the write was not attempted"
    assert not target.exists()
    assert _listing(tmp_path) == []
    with pytest.raises(KeyboardInterrupt):
        solution.save(target, resolution=5, times=3)
    assert _listing(tmp_path) == []


def test_failed_write_over_existing_file_keeps_old_content(tmp_path, monkeypatch):
    problem = wave1d()
    target = tmp_path / "result.nc"
    exact_solution(problem).save(target, resolution=5, times=3)
    before = target.read_bytes()
    doubled = FunctionSolution(problem, lambda pts: 2 * problem.exact_solution(pts), "doubled")
    _failing_to_netcdf(monkeypatch, error=OSError)
    with pytest.raises(OSError):
        doubled.save(target, resolution=5, times=3)
    assert target.read_bytes() == before
    assert _listing(tmp_path) == ["result.nc"]
    monkeypatch.undo()
    assert pdekit.load(target).solver == "exact"


def test_saving_over_an_existing_file_replaces_it(tmp_path):
    problem = wave1d()
    target = tmp_path / "result.nc"
    exact_solution(problem).save(target, resolution=5, times=3)
    doubled = FunctionSolution(problem, lambda pts: 2 * problem.exact_solution(pts), "doubled")
    doubled.save(target, resolution=5, times=3)
    loaded = pdekit.load(target).to_xarray()
    assert loaded.attrs["solver"] == "doubled"
    np.testing.assert_allclose(loaded["u"].values, 2 * exact_solution(problem).to_xarray(resolution=5, times=3)["u"])
    assert _listing(tmp_path) == ["result.nc"]


def test_saved_file_permissions_follow_umask(tmp_path):
    """A result is an ordinary file: readable by the group/others as the umask allows (not 0600)."""
    previous = os.umask(0o022)
    try:
        path = exact_solution(wave1d()).save(tmp_path / "result.nc", resolution=5, times=3)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


# -- GridSolution -----------------------------------------------------------------------------
def test_grid_solution_reproduces_linear_function_exactly():
    x, y, t = np.linspace(-1, 1, 5), np.linspace(0, 2, 4), np.linspace(0, 1, 3)
    T, X, Y = np.meshgrid(t, x, y, indexing="ij")
    ds = xr.Dataset({"u": (("t", "x", "y"), 2 * X - Y + 0.5 * T + 3)}, coords={"t": t, "x": x, "y": y})
    solution = GridSolution(ds)
    points = np.random.default_rng(0).random((50, 3)) * [2, 2, 1] + [-1, 0, 0]  # space first, time last
    expected = 2 * points[:, 0] - points[:, 1] + 0.5 * points[:, 2] + 3
    np.testing.assert_allclose(solution(points)[:, 0], expected, rtol=1e-13, atol=1e-13)


def test_grid_solution_orders_points_space_then_time_whatever_the_dims():
    x, t = np.linspace(0, 1, 3), np.linspace(0, 2, 5)
    X, T = np.meshgrid(x, t, indexing="ij")
    ds = xr.Dataset({"u": (("x", "t"), X + 10 * T)}, coords={"x": x, "t": t})
    assert GridSolution(ds)(np.array([[0.5, 1.5]]))[0, 0] == pytest.approx(15.5)


def test_grid_solution_nan_outside_and_shape_errors():
    x = np.linspace(0, 1, 3)
    solution = GridSolution(xr.Dataset({"u": (("x",), x)}, coords={"x": x}))
    assert np.isnan(solution(np.array([[1.5]]))[0, 0])
    with pytest.raises(ValueError, match=r"\(N, 1\)"):
        solution(np.array([[0.5, 0.5]]))


def test_grid_solution_keeps_values_next_to_nan(tmp_path):
    """Inside points next to the cut-out quadrant of the L-shape keep their values when re-evaluated."""
    problem = lshape_problem()
    written = exact_solution(problem).to_xarray(resolution=11)
    loaded = pdekit.load(exact_solution(problem).save(tmp_path / "l.nc", resolution=11))
    regridded = loaded.to_xarray(coords={"x": written["x"].values, "y": written["y"].values})
    np.testing.assert_allclose(regridded["u"].values, written["u"].values, rtol=1e-13, atol=1e-13)  # NaN == NaN
    assert loaded(np.array([[0.0, 0.5], [0.5, 0.0]])) == pytest.approx(np.array([[-0.5], [2.0]]))


def test_grid_solution_regrid_needs_problem_only_for_default_grid():
    x = np.linspace(0, 1, 5)
    solution = GridSolution(xr.Dataset({"u": (("x",), 2 * x)}, coords={"x": x}))
    assert solution.to_xarray() is solution.dataset
    with pytest.raises(ValueError, match="no problem.*give coords"):
        solution.to_xarray(resolution=3)
    regridded = solution.to_xarray(coords={"x": np.array([0.125, 0.5])})
    np.testing.assert_allclose(regridded["u"].values, [0.25, 1.0])
