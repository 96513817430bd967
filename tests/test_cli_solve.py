"""``pdekit solve CASE --solver pinn``: results, checkpoints and resume from the command line."""

from __future__ import annotations

import json

import pytest
import torch

import pdekit
from pdekit import load
from pdekit.cli import main

FAST = ["--option", "n_interior=64", "--option", "n_boundary=8", "--option", "n_initial=8", "--option", "width=8",
        "--option", "depth=2", "--option", "log_every=5", "--option", "checkpoint_every=10", "--quiet",
        "--resolution", "17", "--times", "5", "--no-recipe"]


def test_pinn_writes_a_result_and_resumes_from_its_checkpoint(tmp_path, capsys):
    out, checkpoint = tmp_path / "b.nc", tmp_path / "b.pt"
    args = ["solve", "burgers1d", "--solver", "pinn", *FAST, "--checkpoint", str(checkpoint), "--out", str(out)]
    assert main([*args, "--option", "adam_steps=20"]) == 0
    result = load(out)
    assert list(result.dataset.data_vars) == ["u"] and result.dataset.attrs["solver"] == "pinn"
    assert json.loads(result.dataset.attrs["config"])["steps"] == 20
    assert main([*args, "--option", "adam_steps=30", "--resume"]) == 0  # 10 more steps
    assert torch.load(checkpoint, weights_only=False)["step"] == 30
    assert json.loads(load(out).dataset.attrs["config"])["steps"] == 30


def test_existing_checkpoint_without_resume_is_an_error(tmp_path, capsys):
    checkpoint = tmp_path / "b.pt"
    args = ["solve", "burgers1d", "--solver", "pinn", *FAST, "--option", "adam_steps=10",
            "--checkpoint", str(checkpoint), "--out", str(tmp_path / "b.nc")]
    assert main(args) == 0
    assert main(args) == 2
    assert "pass resume=True" in capsys.readouterr().err


def test_unknown_solver_and_option_list_the_choices(tmp_path, capsys):
    assert main(["solve", "burgers1d", "--solver", "pinnn", "--out", str(tmp_path / "x.nc")]) == 2
    assert "valid solvers: fenics, pinn" in capsys.readouterr().err
    assert main(["solve", "burgers1d", "--solver", "pinn", "--option", "epochs=3", "--out", str(tmp_path / "x.nc")]) == 2
    assert "unknown PINN option 'epochs'; valid options:" in capsys.readouterr().err


def test_the_model_option_names_the_model(tmp_path):
    """``--option model=mlp`` is the config's model name, not a ready network."""
    out = tmp_path / "m.nc"
    args = ["solve", "burgers1d", "--solver", "pinn", *FAST, "--option", "model=mlp", "--option", "adam_steps=3",
            "--out", str(out)]
    assert main(args) == 0 and load(out).dataset.attrs["solver"] == "pinn"


def test_solve_starts_from_the_case_recipe_and_options_override_it(tmp_path):
    out = tmp_path / "r.nc"
    cheap = ["--option", "adam_steps=3", "--option", "lbfgs_steps=0", "--option", "n_interior=64",
             "--option", "compile=false", "--quiet", "--resolution", "9", "--times", "3"]
    assert main(["solve", "burgers1d", "--solver", "pinn", *cheap, "--out", str(out)]) == 0
    config = json.loads(load(out).dataset.attrs["config"])
    recipe = pdekit.pde_cases.recipe("burgers1d", "pinn")
    assert (config["width"], config["depth"], config["resample"]) == (recipe["width"], recipe["depth"], "rad") != (20, 3, "none")
    assert (config["adam_steps"], config["n_interior"], config["compile"]) == (3, 64, False)  # the options win
    assert main(["solve", "burgers1d", "--solver", "pinn", *cheap, "--no-recipe", "--out", str(out)]) == 0
    config = json.loads(load(out).dataset.attrs["config"])
    assert (config["width"], config["depth"], config["resample"]) == (20, 3, "none")  # the generic defaults


def test_every_recipe_is_a_valid_configuration_of_its_solver():
    from pdekit.solvers import SOLVERS, get_solver

    found = 0
    for case in pdekit.pde_cases.CASES:
        for name in SOLVERS:
            if pdekit.pde_cases.recipe(case, name):
                found += 1
                solver = get_solver(name, case)
                assert all(getattr(solver.config, k) == v for k, v in pdekit.pde_cases.recipe(case, name).items())
    assert found >= 8
    assert get_solver("pinn", "a user's own problem").config.width == 20  # no recipe: the generic defaults
    with pytest.raises(ValueError, match="valid choices: none, zero_dirichlet, initial_dirichlet, initial_value"):
        get_solver("pinn", hard_constraints="dirichlet")


def test_the_readme_lists_every_recipe():
    from pathlib import Path

    from pdekit.solvers import SOLVERS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = {tuple(cell.strip() for cell in line.split("|")[1:3]) for line in readme.splitlines()
            if line.startswith("| ") and line.count("|") > 6}
    recipes = {(case, name) for case in pdekit.pde_cases.CASES for name in SOLVERS
               if pdekit.pde_cases.recipe(case, name)}
    assert recipes <= rows, f"recipes missing from the README's table: {sorted(recipes - rows)}"
