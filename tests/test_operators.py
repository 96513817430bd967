"""Neural operators: losses, normalisers, padding, the U-Net, the training loop, save/load, solve, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pdekit
from pdekit import data
from pdekit.operators import UNet, get_operator, load
from pdekit.operators.layers import PeriodicPosition
from pdekit.operators.losses import grid_gradient, relative_h1, relative_l2
from pdekit.operators.normaliser import ChannelNormaliser
from pdekit.operators.padding import padding_modes
from pdekit.operators.unet import UNetNetwork


@pytest.fixture(scope="module")
def darcy(tmp_path_factory):
    """A small Darcy set (FEniCS, 16 x 16): training, validation and test splits."""
    pytest.importorskip("dolfinx")
    folder = tmp_path_factory.mktemp("darcy")
    problem = pdekit.get_case("darcy2d")
    return {split: data.generate(problem, n, out=folder / f"{split}.h5", grid=16, split=split, progress=False)
            for split, n in (("train", 48), ("validation", 8), ("test", 8))}


def small(**options):
    return UNet(**{"width": 4, "depth": 2, "epochs": 4, "batch_size": 8, "lr": 3e-3, "progress": False,
                   "device": "cpu", **options})


# -- pieces ------------------------------------------------------------------------------------
def test_relative_losses():
    target = torch.ones(2, 1, 4, 4)
    assert relative_l2(1.1 * target, target).item() == pytest.approx(0.1)
    prediction = target.clone()
    prediction[1] *= 1.3  # the batch mean of per-sample errors
    assert relative_l2(prediction, target).item() == pytest.approx(0.15)
    assert relative_h1(target.double() + 0.1, target.double(), spacing=(0.1, 0.1), periodic=(False, False)).item() \
        == pytest.approx(0.1)  # a constant shift has no gradient


def test_grid_gradient_respects_periodic_and_bounded_axes():
    x = torch.linspace(0, 1, 11, dtype=torch.float64)
    bounded = grid_gradient((x**2)[None, None], (0.1,), (False,))[0][0, 0]
    np.testing.assert_allclose(bounded[1:-1].numpy(), 2 * x[1:-1].numpy(), atol=1e-12)  # central: exact on x^2
    assert bounded[0].item() == pytest.approx(0.1) and bounded[-1].item() == pytest.approx(1.9)  # one-sided ends
    y = torch.arange(16, dtype=torch.float64) / 16
    periodic = grid_gradient(torch.sin(2 * np.pi * y)[None, None], (1 / 16,), (True,))[0][0, 0]
    exact = 2 * np.pi * torch.cos(2 * np.pi * y) * torch.sin(torch.tensor(2 * np.pi / 16)) / (2 * np.pi / 16)
    np.testing.assert_allclose(periodic.numpy(), exact.numpy(), atol=1e-12)  # across the seam too


def test_normaliser_round_trips_and_fits_each_channel():
    values = torch.randn(20, 3, 5, 5, dtype=torch.float64) * torch.tensor([1.0, 10.0, 0.0]).view(1, 3, 1, 1) \
        + torch.tensor([0.0, 5.0, 2.0]).view(1, 3, 1, 1)
    normaliser = ChannelNormaliser(3).double().fit(values)
    encoded = normaliser.encode(values)
    np.testing.assert_allclose(encoded[:, :2].mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(encoded[:, :2].std(dim=(0, 2, 3)).numpy(), 1.0, atol=1e-12)
    assert normaliser.std[2].item() == 1.0  # a constant channel is shifted, not blown up
    np.testing.assert_allclose(normaliser.decode(encoded).numpy(), values.numpy(), atol=1e-12)


def test_padding_follows_the_problem():
    darcy = data.generation.structure(pdekit.get_case("darcy2d"))
    assert padding_modes(darcy) == (("constant", "constant"), ("constant", "constant"))
    periodic = data.generation.structure(pdekit.get_case("taylor_green"))
    assert padding_modes(periodic) == (("circular", "circular"), ("circular", "circular"))
    problem = pdekit.Problem(name="mixed", geometry=pdekit.Rectangle((0, 0), (1, 1)),
                             equation=pdekit.Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]]),
                             conditions=[pdekit.Periodic(0), pdekit.Dirichlet(0.0, on="bottom"),
                                         pdekit.Neumann(0.0, on="top")])
    assert padding_modes(data.generation.structure(problem)) == (("circular", "circular"), ("constant", "reflect"))


def test_unet_with_circular_padding_is_equivariant_to_periodic_shifts():
    torch.manual_seed(0)
    net = UNetNetwork(2, 1, dim=2, modes=(("circular", "circular"),) * 2, width=4, depth=2).double()
    x = torch.randn(1, 2, 16, 12, dtype=torch.float64)
    shift = (4, 8)  # multiples of 2^depth
    np.testing.assert_allclose(net(x.roll(shift, dims=(2, 3))).detach().numpy(),
                               net(x).roll(shift, dims=(2, 3)).detach().numpy(), atol=1e-10)
    zero = UNetNetwork(2, 1, dim=2, modes=(("constant", "constant"),) * 2, width=4, depth=2).double()
    zero.load_state_dict(net.state_dict())
    assert not np.allclose(zero(x.roll(shift, dims=(2, 3))).detach().numpy(),
                           zero(x).roll(shift, dims=(2, 3)).detach().numpy(), atol=1e-3)


def test_periodic_position_channels_are_the_phase_of_the_periodic_axes_only():
    position = PeriodicPosition(lambda x: x, dim=2, axes=(1,))
    out = position(torch.zeros(3, 2, 5, 8, dtype=torch.float64))
    assert out.shape == (3, 4, 5, 8) and torch.equal(out[:, :2], torch.zeros(3, 2, 5, 8, dtype=torch.float64))
    phase = 2 * np.pi * np.arange(8) / 8  # the periodic grid: one period, no repeated end
    np.testing.assert_allclose(out[:, 2].numpy(), np.broadcast_to(np.cos(phase), (3, 5, 8)), atol=1e-15)
    np.testing.assert_allclose(out[:, 3].numpy(), np.broadcast_to(np.sin(phase), (3, 5, 8)), atol=1e-15)
    assert PeriodicPosition(lambda x: x, dim=2, axes=(0, 1))(torch.zeros(1, 1, 6, 4)).shape == (1, 5, 6, 4)


@pytest.mark.parametrize("shape", [(16, 16), (17, 13), (9, 30)])
def test_unet_keeps_odd_and_even_grids(shape):
    net = UNetNetwork(1, 2, dim=2, modes=(("constant", "constant"),) * 2, width=4, depth=3)
    assert net(torch.zeros(3, 1, *shape)).shape == (3, 2, *shape)
    assert UNetNetwork(1, 1, dim=1, modes=(("circular", "circular"),), width=4, depth=2)(
        torch.zeros(2, 1, 25)).shape == (2, 1, 25)


def test_parameter_count_matches_the_architecture():
    net = UNetNetwork(1, 1, dim=2, modes=(("constant", "constant"),) * 2, width=4, depth=1)
    convs = [(1, 4), (4, 4), (4, 8), (8, 8), (12, 4), (4, 4)]  # down: 1->4->4, 4->8->8; up: 8+4->4->4
    expected = sum(9 * a * b + b + 2 * b for a, b in convs) + (4 * 1 + 1)  # 3x3 + bias + GroupNorm; 1x1 head
    assert sum(p.numel() for p in net.parameters()) == expected


# -- training ----------------------------------------------------------------------------------
@pytest.mark.fenics
def test_unet_learns_darcy_and_round_trips(darcy, tmp_path):
    operator = small(epochs=25).fit(darcy["train"], validation=darcy["validation"])
    history = operator.history
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert operator.evaluate(darcy["test"])["rel_l2"] < 0.3  # a 16 x 16 toy set: learnt, not converged
    best = min(row["val_rel_l2"] for row in history)
    assert operator.evaluate(darcy["validation"])["rel_l2"] == pytest.approx(best, rel=1e-5)  # keep="best"
    path = operator.save(tmp_path / "unet.pt")
    again = load(path)
    inputs = data.OperatorData(darcy["test"]).input_channels()
    np.testing.assert_array_equal(again.predict(inputs), operator.predict(inputs))
    assert again.n_parameters == operator.n_parameters
    np.testing.assert_array_equal(again.model.outputs.std.numpy(), operator.model.outputs.std.numpy())


@pytest.mark.fenics
def test_compiled_training_of_a_channels_last_network_takes_the_eager_steps(darcy, caplog):
    eager = small(epochs=2, dtype="float64").fit(darcy["train"])
    with caplog.at_level("WARNING", logger="pdekit"):
        compiled = small(epochs=2, dtype="float64", compile=True).fit(darcy["train"])
    assert not [r for r in caplog.records if "torch.compile" in r.getMessage()]  # no fallback to eager
    np.testing.assert_allclose([r["train_loss"] for r in compiled.history], [r["train_loss"] for r in eager.history],
                               rtol=1e-9)
    assert compiled.model.network.head.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.fenics
def test_solve_answers_with_a_solution_for_a_member_of_the_family(darcy):
    operator = small(epochs=2).fit(darcy["train"])
    test = data.open(darcy["test"])
    seed = int(test["seed"][0])
    problem = pdekit.get_case("darcy2d").sample_input(seed)
    solution = operator.solve(problem)
    np.testing.assert_allclose(solution.to_xarray()["u"].values,
                               operator.predict(data.OperatorData(darcy["test"]).input_channels()[:1])[0, 0],
                               rtol=1e-6, atol=1e-9)
    truth = test["u"].values[0, ..., 0]
    comparison = pdekit.compare(solution, test.isel(sample=0).squeeze("u_component")[["u"]])
    direct = np.linalg.norm(solution.to_xarray()["u"].values - truth) / np.linalg.norm(truth)
    assert float(comparison.metrics["u_rel_l2"]) == pytest.approx(direct, rel=1e-6)
    assert solution.solver == "unet"
    with pytest.raises(ValueError, match="trained on 'darcy2d', not 'heat2d'"):
        operator.solve(pdekit.get_case("heat2d"))


@pytest.mark.fenics
def test_training_resumes_bit_for_bit(darcy, tmp_path, killed_after_two_checkpoints):
    whole = small().fit(darcy["train"], validation=darcy["validation"], checkpoint=tmp_path / "whole.pt")
    with killed_after_two_checkpoints():
        small().fit(darcy["train"], validation=darcy["validation"], checkpoint=tmp_path / "run.pt")
    assert torch.load(tmp_path / "run.pt", weights_only=False)["epoch"] == 2
    resumed = small().fit(darcy["train"], validation=darcy["validation"], checkpoint=tmp_path / "run.pt", resume=True)
    assert resumed.history == [{**row, "wall_time": r["wall_time"]} for row, r in zip(whole.history, resumed.history)]
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="exists: pass resume=True"):
        small().fit(darcy["train"], checkpoint=tmp_path / "run.pt")


@pytest.mark.fenics
def test_bad_input_is_refused_with_the_reason(darcy, tmp_path):
    overlapping = data.generate(pdekit.get_case("darcy2d"), 8, out=tmp_path / "v.h5", grid=16, progress=False)
    with pytest.raises(ValueError, match="shares 8 seed"):
        small().fit(darcy["train"], validation=overlapping)
    with pytest.raises(ValueError, match="unknown operator 'fourier'; valid operators: unet, mgno, fno"):
        get_operator("fourier")
    with pytest.raises(ValueError, match="unknown unet option 'widht'"):
        UNet(widht=3)
    with pytest.raises(ValueError, match="valid schedules: onecycle, cosine, step, constant"):
        UNet(schedule="linear")
    operator = small(epochs=1).fit(darcy["train"])
    with pytest.raises(ValueError, match=r"inputs must have shape \(N, 1, \*grid\)"):
        operator.predict(np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match="not trained"):
        UNet().predict(np.zeros((1, 1, 4, 4)))


def test_grid_operators_refuse_evolution_data(tmp_path):
    from pdekit.results import FunctionSolution

    def still(problem):
        return FunctionSolution(problem, lambda p: np.zeros((len(p), 1)), "still")

    path = data.generate(pdekit.get_case("diffusion_reaction1d"), 2, out=tmp_path / "e.h5", grid=8, times=3,
                         solver=still, progress=False)
    with pytest.raises(ValueError, match="outputs have a time axis"):
        small().fit(path)


@pytest.mark.fenics
def test_cli_trains_and_predicts(darcy, tmp_path, capsys):
    from pdekit.cli import main

    model = str(tmp_path / "m.pt")
    assert main(["train", "darcy2d", "--model", "unet", "--data", str(darcy["train"]), "--validation",
                 str(darcy["validation"]), "--out", model, "--option", "epochs=2", "--option", "width=4",
                 "--option", "device=cpu", "--quiet"]) == 0
    assert "trained unet" in capsys.readouterr().out
    assert main(["predict", model, "--data", str(darcy["test"]), "--json", str(tmp_path / "m.json")]) == 0
    assert "rel_l2" in (tmp_path / "m.json").read_text()
    assert main(["train", "heat2d", "--model", "unet", "--data", str(darcy["train"]), "--out", model]) == 2
    assert "holds data of 'darcy2d', not of 'heat2d'" in capsys.readouterr().err
