"""``pdekit reference`` end to end: flags, config files, results, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pdekit import anchors, compare, get_case, load
from pdekit.cli import main

pytestmark = pytest.mark.fenics

FAST = ["--option", "degree=1", "--option", "cells=8", "--option", "dt=0.1", "--option", "saves=10", "--quiet"]


def test_reference_writes_a_result_named_after_the_fields(tmp_path, capsys):
    out = tmp_path / "heat.nc"
    assert main(["reference", "heat2d", "--param", "kappa=0.2", *FAST, "--resolution", "9", "--times", "5",
                 "--out", str(out)]) == 0
    result = load(out)
    assert list(result.dataset.data_vars) == ["u"]
    assert result.dataset.u.dims == ("t", "x", "y") and result.dataset.u.shape == (5, 9, 9)
    assert json.loads(result.dataset.attrs["params"]) == {"kappa": 0.2}
    assert json.loads(result.dataset.attrs["config"])["cells"] == 8
    assert result.dataset.attrs["solver"] == "fenics"
    assert "against the exact solution" in capsys.readouterr().out


def test_config_file_and_flags_override_it(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('case = "allen_cahn1d"\n[params]\ndiffusion = 0.002\n[options]\ndegree = 1\ncells = 16\n'
                      'dt = 0.05\nsaves = 10\n')
    out = tmp_path / "ac.nc"
    assert main(["reference", "--config", str(config), "--option", "cells=32", "--quiet", "--out", str(out)]) == 0
    attrs = load(out).dataset.attrs
    assert json.loads(attrs["params"])["diffusion"] == 0.002
    assert json.loads(attrs["config"])["cells"] == 32


def test_compare_two_reference_results(tmp_path, capsys):
    coarse, fine = tmp_path / "coarse.nc", tmp_path / "fine.nc"
    assert main(["reference", "poisson2d", "--option", "cells=4", "--quiet", "--out", str(coarse)]) == 0
    assert main(["reference", "poisson2d", "--option", "cells=16", "--quiet", "--out", str(fine)]) == 0
    metrics = tmp_path / "m.json"
    assert main(["compare", str(coarse), str(fine), "--json", str(metrics)]) == 0
    assert 1e-4 < json.loads(metrics.read_text())["u_rel_l2"] < 0.1


def test_unknown_option_lists_the_valid_ones(tmp_path, capsys):
    assert main(["reference", "heat2d", "--option", "degre=1", "--out", str(tmp_path / "x.nc")]) == 2
    error = capsys.readouterr().err
    assert "unknown reference option 'degre'" in error and "valid options: degree, cells" in error
    assert not (tmp_path / "x.nc").exists()


def test_default_file_keeps_the_saved_times_and_the_nodes(tmp_path):
    """P1 on 16 cells, dt = 0.05 on [0, 1]: every step saved (21 times), the 17 nodes in space."""
    out = tmp_path / "ac.nc"
    options = ["--option", "degree=1", "--option", "cells=16", "--option", "dt=0.05", "--quiet"]
    assert main(["reference", "allen_cahn1d", *options, "--out", str(out)]) == 0
    dataset = load(out).dataset
    np.testing.assert_allclose(dataset.t.values, np.linspace(0, 1, 21), rtol=0, atol=1e-15)
    np.testing.assert_allclose(dataset.x.values, np.linspace(-1, 1, 17), rtol=0, atol=1e-15)
    assert dataset.attrs["grid"] == "space: the element's nodes; time: the solver's saved times"
    from pdekit import reference  # DOLFINx: imported where the fenics marker has let the test run

    solution = reference.solve(get_case("allen_cahn1d"), degree=1, cells=16, dt=0.05)
    np.testing.assert_allclose(dataset.u.values, solution.snapshots, rtol=0, atol=1e-14)  # P1 nodes: exact
    assert json.loads(dataset.attrs["interpolation_error"])["u"] > 0


@pytest.mark.parametrize("case, loader, bound", [("burgers1d", anchors.burgers, 1e-4),
                                                 ("allen_cahn1d", anchors.allen_cahn, 1e-3)])
def test_default_file_is_as_close_to_the_public_data_as_the_solve(tmp_path, case, loader, bound):
    """At its defaults, ``pdekit reference CASE --out F`` read back and interpolated linearly to
    DeepXDE's grid (measured: Burgers 5.5e-5, Allen-Cahn 1.5e-4)."""
    try:
        anchor = loader()
    except FileNotFoundError as missing:
        pytest.skip(str(missing))
    out = tmp_path / f"{case}.nc"
    assert main(["reference", case, "--quiet", "--out", str(out)]) == 0
    comparison = compare(load(out), anchor)
    assert float(comparison.metrics["u_rel_l2"]) <= bound
    assert comparison.notes == []  # the file's interpolation is not what the error is made of
