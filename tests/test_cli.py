"""The ``pdekit`` command, run in-process through ``pdekit.cli.main`` (and once as a console script).

Commands that need the FEniCS reference to succeed are tested in test_cli_reference.py; the
errors here are all raised before any solver runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pdekit  # noqa: E402
from pdekit import FunctionSolution  # noqa: E402
from pdekit.cli import SOLVERS, main  # noqa: E402
from pdekit.pde_cases import CASES  # noqa: E402


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_lists_all(text, names):
    for name in names:
        assert name in text, f"{name!r} not listed in: {text}"


# -- cases ------------------------------------------------------------------------------------
def test_cases_lists_every_case_with_description(capsys):
    code, out, err = run(capsys, "cases")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(CASES)
    for line, description in zip(lines, pdekit.list_cases().values()):
        assert description and description in line


def test_console_script_runs():
    script = Path(sys.executable).with_name("pdekit")
    command = [str(script), "cases"] if script.exists() else [sys.executable, "-m", "pdekit.cli", "cases"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert_lists_all(done.stdout, CASES)


# -- errors before solving: exit code 2 and the valid choices ---------------------------------
@pytest.mark.parametrize("command", ["reference", "solve"])
def test_unknown_case(capsys, tmp_path, command):
    extra = ["--solver", "fenics"] if command == "solve" else []
    code, out, err = run(capsys, command, "nope", *extra, "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "unknown case 'nope'" in err
    assert_lists_all(err, CASES)
    assert not (tmp_path / "x.nc").exists()


def test_missing_case(capsys, tmp_path):
    code, out, err = run(capsys, "reference", "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "name a case" in err
    assert_lists_all(err, CASES)


def test_unknown_param_name(capsys, tmp_path):
    code, out, err = run(capsys, "reference", "heat2d", "--param", "kapa=0.2", "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "'kapa'" in err and "kappa" in err


def test_unknown_param_for_case_without_params(capsys, tmp_path):
    code, out, err = run(capsys, "reference", "poisson2d", "--param", "k=1", "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "'k'" in err and "(none)" in err


@pytest.mark.parametrize("param, words", [("kappa", ["NAME=VALUE", "'kappa'"]),
                                          ("kappa=abc", ["kappa", "number", "'abc'"])])
def test_malformed_param(capsys, tmp_path, param, words):
    code, out, err = run(capsys, "reference", "heat2d", "--param", param, "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert_lists_all(err, words)


def test_malformed_option(capsys, tmp_path):
    code, out, err = run(capsys, "reference", "heat2d", "--option", "cells", "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "--option expects NAME=VALUE" in err


def test_unknown_solver(capsys, tmp_path):
    code, out, err = run(capsys, "solve", "heat2d", "--solver", "magic", "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "unknown solver 'magic'" in err
    assert_lists_all(err, SOLVERS)


def test_argparse_errors_exit_with_code_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["solve", "heat2d", "--out", "x.nc"])  # --solver is required
    assert info.value.code == 2
    assert "--solver" in capsys.readouterr().err


# -- config files -----------------------------------------------------------------------------
def test_config_with_unknown_top_level_key(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('case = "heat2d"\nsolvr = "fenics"\n[params]\nkappa = 0.2\n')
    code, out, err = run(capsys, "reference", "--config", str(config), "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "['solvr']" in err and str(config) in err
    assert_lists_all(err, ["case", "solver", "params", "options", "output"])


def test_config_params_are_validated(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('case = "heat2d"\n[params]\nkapa = 0.2\n')
    code, out, err = run(capsys, "reference", "--config", str(config), "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "'kapa'" in err and "kappa" in err


def test_config_case_is_validated(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('case = "nope"\n')
    code, out, err = run(capsys, "reference", "--config", str(config), "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "unknown case 'nope'" in err


def test_malformed_toml(capsys, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("case = \n")
    code, out, err = run(capsys, "reference", "--config", str(config), "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert err.startswith("pdekit: error:")


def test_missing_config_file(capsys, tmp_path):
    code, out, err = run(capsys, "reference", "heat2d", "--config", str(tmp_path / "none.toml"),
                         "--out", str(tmp_path / "x.nc"))
    assert code == 2
    assert "none.toml" in err


# -- compare ----------------------------------------------------------------------------------
def _write_results(tmp_path, problem, factor=1.01, **grid):
    exact = FunctionSolution(problem, problem.exact_solution, "exact")
    scaled = FunctionSolution(problem, lambda pts: factor * problem.exact_solution(pts), "scaled")
    return scaled.save(tmp_path / "result.nc", **grid), exact.save(tmp_path / "reference.nc", **grid)


@pytest.mark.parametrize("case, grid", [("heat2d", {"resolution": 9, "times": 4}),
                                        ("helmholtz2d", {"resolution": 17}),
                                        ("convection1d", {"resolution": 17, "times": 5})])
def test_compare_prints_table_and_writes_json(capsys, tmp_path, case, grid):
    result, reference = _write_results(tmp_path, pdekit.get_case(case), **grid)
    metrics_path = tmp_path / "out" / "metrics.json"  # the folder is created
    code, out, err = run(capsys, "compare", str(result), str(reference), "--json", str(metrics_path))
    assert code == 0, err
    table = out.splitlines()
    assert len(table) == 2
    assert "rel L2" in table[0] and "max error" in table[0]
    assert ("rel L2 at t1" in table[0]) == ("times" in grid)
    row = table[1].split()
    assert row[0] == "u" and float(row[1]) == pytest.approx(0.01, rel=1e-3)
    metrics = json.loads(metrics_path.read_text())
    assert set(metrics) == {"u_rel_l2", "u_max_error"}  # only scalars go to the JSON (not u_rel_l2_t)
    assert metrics["u_rel_l2"] == pytest.approx(0.01, abs=1e-12)
    assert metrics["u_max_error"] > 0


# saving a figure takes a second or more (3 x 3 panels of a 2D evolution problem: several), so one
# figure here; the figures of each kind of problem are checked in test_compare.py
def test_compare_writes_json_and_figure(capsys, tmp_path):
    result, reference = _write_results(tmp_path, pdekit.get_case("convection1d"), resolution=17, times=5)
    metrics_path, figure_path = tmp_path / "metrics.json", tmp_path / "figs" / "compare.png"
    code, out, err = run(capsys, "compare", str(result), str(reference), "--json", str(metrics_path),
                         "--figure", str(figure_path))
    assert code == 0, err
    assert out.splitlines()[1].split()[0] == "u"
    assert f"figure -> {figure_path}" in out
    assert json.loads(metrics_path.read_text())["u_rel_l2"] == pytest.approx(0.01, abs=1e-12)
    assert figure_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_identical_files_gives_zero(capsys, tmp_path):
    result, reference = _write_results(tmp_path, pdekit.get_case("poisson2d"), 1.0,
                                       resolution=9)
    code, out, err = run(capsys, "compare", str(result), str(reference), "--json", str(tmp_path / "m.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "m.json").read_text()) == {"u_rel_l2": 0.0, "u_max_error": 0.0}


def test_compare_results_of_an_unregistered_problem(capsys, tmp_path):
    problem = pdekit.Problem(name="custom", geometry=pdekit.Interval(0, 2),
                             equation=pdekit.Equation(source=lambda u, du, x, t, p: 0.0),
                             conditions=[pdekit.Dirichlet(0.0)], exact=lambda x, t, p: 1 + x[0] ** 2)
    result, reference = _write_results(tmp_path, problem, resolution=21)
    code, out, err = run(capsys, "compare", str(result), str(reference), "--json", str(tmp_path / "m.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "m.json").read_text())["u_rel_l2"] == pytest.approx(0.01, abs=1e-12)


def test_compare_missing_file(capsys, tmp_path):
    _, reference = _write_results(tmp_path, pdekit.get_case("poisson2d"), resolution=5)
    code, out, err = run(capsys, "compare", str(tmp_path / "absent.nc"), str(reference))
    assert code == 2
    assert "absent.nc" in err


def test_compare_missing_field(capsys, tmp_path):
    problem = pdekit.get_case("poisson2d")
    exact = FunctionSolution(problem, problem.exact_solution, "exact")
    reference = exact.save(tmp_path / "reference.nc", resolution=5)
    other = pdekit.results.save_dataset(exact.to_xarray(resolution=5).rename({"u": "v"}), tmp_path / "other.nc")
    code, out, err = run(capsys, "compare", str(other), str(reference))
    assert code == 2
    assert "lacks fields ['u']" in err


def test_compare_values_match_python_api(capsys, tmp_path):
    result, reference = _write_results(tmp_path, pdekit.get_case("heat2d"), 0.97, resolution=7, times=3)
    run(capsys, "compare", str(result), str(reference), "--json", str(tmp_path / "m.json"))
    metrics = json.loads((tmp_path / "m.json").read_text())
    direct = pdekit.compare(pdekit.load(result), pdekit.load(reference)).metrics
    np.testing.assert_allclose([metrics["u_rel_l2"], metrics["u_max_error"]],
                               [float(direct["u_rel_l2"]), float(direct["u_max_error"])], rtol=1e-14)
    assert metrics["u_rel_l2"] == pytest.approx(0.03, abs=1e-12)
