"""Operator datasets: layout, resume after a kill, failed samples, shards, workers, splits, views."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import pdekit
from pdekit import data
from pdekit.data import generation
from pdekit.results import FunctionSolution


def arrays(path) -> dict:
    """Every variable of a dataset file but the timings (which differ between runs)."""
    with h5py.File(path, "r") as f:
        return {name: f[name][()] for name in f if f[name].attrs.get("role") != "diagnostic"}


def assert_same_arrays(a, b):
    first, second = arrays(a), arrays(b)
    assert sorted(first) == sorted(second)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)


def antiderivative(tmp_path, name="a.h5", n=6, **options):
    return data.generate(pdekit.get_case("antiderivative"), n, out=tmp_path / name, grid=21, progress=False,
                         **options)


def test_layout_per_field_float32_one_sample_per_chunk_and_attributes(tmp_path):
    path = antiderivative(tmp_path)
    with h5py.File(path, "r") as f:
        assert f["u"].shape == (6, 21, 1) and f["u"].dtype == np.float32 and f["u"].chunks == (1, 21, 1)
        assert f["f"].shape == (6, 21, 1) and f["f"].attrs["role"] == b"input" or f["f"].attrs["role"] == "input"
        np.testing.assert_array_equal(f["seed"][()], np.arange(6))
    attributes = data.read_attributes(path)
    assert attributes["problem"] == "antiderivative" and attributes["solver"] == "exact"
    assert attributes["family"]["GaussianRandomField"]["length_scale"] == 0.2
    assert {"torch", "numpy", "python"} <= set(attributes["versions"])
    dataset = data.open(path)
    assert dataset.sizes["sample"] == 6 and "seed" in dataset.coords
    problem = pdekit.get_case("antiderivative").sample_input(4)
    x = dataset["x"].values
    np.testing.assert_allclose(dataset["u"].isel(sample=4).values[:, 0], problem.exact_solution(x[:, None])[:, 0],
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dataset["f"].isel(sample=4).values[:, 0], problem.params["f"](x[None]), rtol=1e-6)


def test_a_killed_generation_continues_and_writes_the_same_file(tmp_path, monkeypatch):
    whole = antiderivative(tmp_path, "whole.h5")
    calls = {"n": 0}
    original = generation._record

    def killed(*args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # killed while solving the fourth sample
        return original(*args)

    monkeypatch.setattr(generation, "_record", killed)
    with pytest.raises(KeyboardInterrupt):
        antiderivative(tmp_path, "run.h5")
    assert not (tmp_path / "run.h5").exists()
    assert len(list((tmp_path / ".run.h5.parts").glob("*.npz"))) == 3
    monkeypatch.setattr(generation, "_record", original)
    resumed = antiderivative(tmp_path, "run.h5")
    assert_same_arrays(whole, resumed)
    assert not (tmp_path / ".run.h5.parts").exists()


def test_a_finished_file_is_kept_and_other_settings_are_refused(tmp_path):
    path = antiderivative(tmp_path)
    before = path.stat().st_mtime_ns
    assert antiderivative(tmp_path) == path and path.stat().st_mtime_ns == before
    with pytest.raises(ValueError, match=r"other settings \(coords: \{x: 21 points.* there, \{x: 11 points"):
        data.generate(pdekit.get_case("antiderivative"), 6, out=path, grid=11, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        antiderivative(tmp_path, n=7)


def test_a_failing_sample_is_recorded_with_its_reason_and_left_out(tmp_path):
    def flaky(problem):
        value = float(problem.params["f"](np.array([[0.5]]))[0])
        if value > 0:
            raise RuntimeError(f"diverged (f(0.5) = {value:.3f})")
        return FunctionSolution(problem, problem.exact_solution, "exact")

    problem = pdekit.get_case("antiderivative")
    signs = [float(problem.sample_input(s).params["f"](np.array([[0.5]]))[0]) > 0 for s in range(8)]
    path = data.generate(problem, 8, out=tmp_path / "f.h5", grid=11, solver=flaky, progress=False)
    dataset = data.open(path)
    np.testing.assert_array_equal(dataset["seed"].values, [s for s in range(8) if not signs[s]])
    failed = data.read_attributes(path)["failed"]
    assert [f["seed"] for f in failed] == [s for s in range(8) if signs[s]]
    assert all(f["reason"].startswith("RuntimeError: diverged") for f in failed)
    assert "failed: " + str(sum(signs)) in data.info(path)


def test_non_finite_solutions_are_failures_not_data(tmp_path):
    def broken(problem):
        return FunctionSolution(problem, lambda x: np.full((len(x), 1), np.nan), "broken")

    path = data.generate(pdekit.get_case("antiderivative"), 2, out=tmp_path / "n.h5", grid=11, solver=broken,
                         progress=False)
    assert data.open(path).sizes["sample"] == 0
    assert "non-finite" in data.read_attributes(path)["failed"][0]["reason"]


def test_shards_merge_into_the_serial_file_and_workers_change_nothing(tmp_path):
    serial = antiderivative(tmp_path, "serial.h5", n=7)
    for i in range(3):
        assert antiderivative(tmp_path, "sharded.h5", n=7, shard=(i, 3)).name == f"sharded.shard{i}of3.h5"
    merged = data.merge(tmp_path / "sharded.h5")
    assert_same_arrays(serial, merged)
    assert data.read_attributes(merged)["generation"] == data.read_attributes(serial)["generation"]
    assert_same_arrays(serial, antiderivative(tmp_path, "forked.h5", n=7, workers=2))
    (tmp_path / "sharded.shard1of3.h5").unlink()
    with pytest.raises(ValueError, match=r"shards \[1\] of 3 are missing"):
        data.merge(tmp_path / "sharded.h5", [tmp_path / "sharded.shard0of3.h5", tmp_path / "sharded.shard2of3.h5"])


def test_splits_draw_from_disjoint_seed_ranges(tmp_path):
    test = antiderivative(tmp_path, "test.h5", n=3, split="test")
    np.testing.assert_array_equal(data.open(test)["seed"].values, data.SPLITS["test"] + np.arange(3))
    with pytest.raises(ValueError, match="leave the train split's range"):
        antiderivative(tmp_path, "bad.h5", n=3, seed=data.SPLITS["validation"] - 1)
    with pytest.raises(ValueError, match="valid splits: train, validation, test"):
        antiderivative(tmp_path, "bad.h5", split="holdout")


def test_bad_requests_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ValueError, match="has no input_family"):
        data.generate(pdekit.get_case("heat2d"), 2, out=tmp_path / "h.h5")
    with pytest.raises(ValueError, match="unknown solver 'spectrum'; valid solvers: auto, fenics, exact"):
        antiderivative(tmp_path, solver="spectrum")
    with pytest.raises(ValueError, match="the exact solver takes no options"):
        antiderivative(tmp_path, solver="exact", options={"degree": 2})
    (tmp_path / "other.h5").write_text("not a dataset")
    with pytest.raises(ValueError, match="exists and is not a pdekit dataset"):
        antiderivative(tmp_path, "other.h5")


@pytest.mark.fenics
def test_fenics_generation_of_darcy_and_an_evolution_problem(tmp_path):
    darcy = data.generate(pdekit.get_case("darcy2d"), 2, out=tmp_path / "d.h5", grid=9, progress=False)
    attributes = data.read_attributes(darcy)
    assert attributes["solver_options"] == {"degree": 1, "cells": 16}  # the recipe: P1, mesh aligned with the grid
    with h5py.File(darcy, "r") as f:
        assert set(np.unique(f["a"][()])) <= {3.0, 12.0} and f["u"].shape == (2, 9, 9, 1)
        assert np.all(np.abs(f["u"][()][:, [0, -1], :]) < 1e-12) and np.all(f["u"][()][:, 1:-1, 1:-1] > 0)
    evolution = data.generate(pdekit.get_case("diffusion_reaction1d"), 2, out=tmp_path / "r.h5", grid=11, times=6,
                              progress=False)
    dataset = data.open(evolution)
    assert dataset["u"].dims == ("sample", "t", "x", "u_component") and dataset["u"].shape == (2, 6, 11, 1)
    assert data.read_attributes(evolution)["solver_options"]["saves"] == 5
    np.testing.assert_array_equal(dataset["u"].isel(t=0).values, 0.0)


def test_views_agree_with_the_stored_arrays(tmp_path):
    from pdekit.data import GridPairs, PointTriplets

    path = antiderivative(tmp_path, n=4)
    dataset = data.open(path)
    u, f, x = dataset["u"].values, dataset["f"].values, dataset["x"].values
    inputs, outputs = GridPairs(path)[2]
    np.testing.assert_array_equal(inputs.numpy(), f[2].T)
    np.testing.assert_array_equal(outputs.numpy(), u[2].T)
    triplets = PointTriplets(path, sensors=11, points_per_sample=3, seed=1)
    assert len(triplets) == 12
    branch, point, value = triplets[7]  # sample 2, its second query point
    np.testing.assert_array_equal(branch.numpy(), f[2, ::2, 0])
    k = int(np.argmin(np.abs(x - float(point[0]))))
    assert value.item() == u[2, k, 0] and float(point[0]) == pytest.approx(x[k])
    b, trunk, values = PointTriplets(path, sensors=11).cartesian()
    assert b.shape == (4, 11) and trunk.shape == (21, 1) and values.shape == (4, 21, 1)
    with pytest.raises(ValueError, match="between 2 and the grid's 21 nodes"):
        PointTriplets(path, sensors=40)
    with pytest.raises(ValueError, match="unknown output field 'v'; this dataset has: u"):
        GridPairs(path, outputs="v")


def test_time_windows_and_evolution_triplets(tmp_path):
    from pdekit.data import PointTriplets, TimeWindows

    def drift(problem):  # u(x, t) = f(x) (1 + t): an evolution dataset without a solve
        f = problem.params["f"]
        return FunctionSolution(problem, lambda p: (f(p[:, :1].T) * (1 + p[:, 1]))[:, None], "drift")

    problem = pdekit.get_case("diffusion_reaction1d")
    path = data.generate(problem, 2, out=tmp_path / "w.h5", grid=8, times=5, solver=drift, progress=False)
    u = data.open(path)["u"].values  # (2, 5, 8, 1)
    windows = TimeWindows(path, history=2)
    assert len(windows) == 2 * 3
    history, target = windows[4]  # sample 1, start 1
    np.testing.assert_array_equal(history.numpy(), u[1, 1:3, :, 0])
    np.testing.assert_array_equal(target.numpy(), u[1, 3:4, :, 0])
    _, point, value = PointTriplets(path)[8 + 3]  # sample 0, t index 1, x index 3: (x, t) with time last
    t, x = data.open(path)["t"].values, data.open(path)["x"].values
    assert point.tolist() == pytest.approx([x[3], t[1]]) and value.item() == u[0, 1, 3, 0]
    with pytest.raises(ValueError, match="history must be between 1 and 4"):
        TimeWindows(path, history=5)


def test_cli_generates_merges_and_describes(tmp_path, capsys):
    from pdekit.cli import main

    out = str(tmp_path / "c.h5")
    for i in range(2):
        assert main(["data", "generate", "antiderivative", "--n", "4", "--out", out, "--resolution", "11",
                     "--shard", f"{i}/2", "--quiet"]) == 0
    assert main(["data", "merge", out]) == 0
    assert main(["data", "info", out]) == 0
    text = capsys.readouterr().out
    assert "samples: 4 of seeds 0..3 (train split)" in text and "output     u: (4, 11, 1) float32" in text
    assert main(["data", "generate", "antiderivative", "--n", "2", "--out", out, "--shard", "2of3"]) == 2
    assert "--shard expects I/N" in capsys.readouterr().err
    assert json.loads(json.dumps(data.read_attributes(out)["generation"]))["shard"] is None


def test_a_dataset_is_the_same_dataset_under_another_thread_count(tmp_path):
    """The key of a dataset leaves out the problem's default draw of its input, whose last bits follow
    the BLAS threads: a file made with two threads is recognised (not refused) by a run with one,
    as a job resumed or sharded on another allocation would be."""
    import os
    import subprocess
    import sys

    out = tmp_path / "anti.h5"
    command = [sys.executable, "-m", "pdekit.cli", "data", "generate", "antiderivative", "--n", "2", "--out", str(out),
               "--resolution", "50", "--quiet"]
    for threads in ("2", "1"):
        environment = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
        result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
    assert len(data.open(out)["sample"]) == 2
