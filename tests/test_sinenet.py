"""SineNet and the autoregressive grid operators: parameter matching, periodic equivariance,
rollout, training on time windows, resume, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import pdekit
from pdekit import data
from pdekit.operators import SineNet, UNet
from pdekit.operators.sinenet import SineNetNetwork, matched_multiplier
from pdekit.results import FunctionSolution
from pdekit.solvers.models import parameter_count

CIRCULAR = (("circular", "circular"),) * 2
ZEROS = (("constant", "constant"),) * 2


def transport():
    """Periodic transport of a random field at velocity (1, 1/2): trajectories known exactly."""
    family = pdekit.WhittleMaternField("u0", alpha=2.5, tau=5.0, boundary="periodic", modes=6)
    geometry = pdekit.Rectangle((0, 0), (1, 1))
    return pdekit.Problem(
        name="transport2d", geometry=geometry, time=pdekit.TimeInterval(0, 1), params={"u0": family.draw(geometry, 0)["u0"]},
        equation=pdekit.Equation(flux=lambda u, du, x, t, p: [u, 0.5 * u]),
        conditions=[pdekit.Periodic(0), pdekit.Periodic(1), pdekit.Initial(lambda x, t, p: p.u0(x))],
        input_family=family)


def exact(problem):
    f = problem.params["u0"]
    return FunctionSolution(problem, lambda p: f(np.stack([(p[:, 0] - p[:, 2]) % 1, (p[:, 1] - 0.5 * p[:, 2]) % 1]))
                            [:, None], "exact")


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory):
    folder = tmp_path_factory.mktemp("transport")
    problem = transport()
    return {split: data.generate(problem, n, out=folder / f"{split}.h5", grid=16, times=7, solver=exact, split=split,
                                 progress=False) for split, n in (("train", 24), ("validation", 6))}


def small(**options):
    return SineNet(**{"waves": 2, "width": 6, "mult": 1.5, "levels": 2, "history": 2, "epochs": 3, "batch_size": 16,
                      "lr": 3e-3, "device": "cpu", "progress": False, **options})


def test_multipliers_match_parameters_across_waves():
    counts = []
    for waves in (1, 2, 4, 8):
        mult = matched_multiplier(400_000, waves, 8, 10, 1)
        counts.append(parameter_count(SineNetNetwork(10, 1, 2, ZEROS, waves, 8, mult)))
    assert max(counts) / min(counts) < 1.03 and all(abs(c - 400_000) / 400_000 < 0.03 for c in counts)
    with pytest.raises(ValueError, match="exceed 1000 parameters even with mult 1"):
        matched_multiplier(1000, 8, 8, 10, 1)


def test_circular_padding_makes_sinenet_equivariant_to_periodic_shifts():
    torch.manual_seed(0)
    network = SineNetNetwork(3, 1, 2, CIRCULAR, waves=2, width=6, mult=1.5, levels=3).double()
    x = torch.randn(2, 3, 32, 24, dtype=torch.float64)
    for shift in ((8, 16), (24, 8)):  # multiples of 2^levels
        np.testing.assert_allclose(network(x.roll(shift, dims=(2, 3))).detach().numpy(),
                                   network(x).roll(shift, dims=(2, 3)).detach().numpy(), atol=1e-10)
    zero = SineNetNetwork(3, 1, 2, ZEROS, waves=2, width=6, mult=1.5, levels=3).double()
    zero.load_state_dict(network.state_dict())
    assert not np.allclose(zero(x.roll((8, 16), dims=(2, 3))).detach().numpy(),
                           zero(x).roll((8, 16), dims=(2, 3)).detach().numpy(), atol=1e-3)


@pytest.mark.parametrize("shape", [(16, 16), (17, 13), (20, 9)])
def test_sinenet_keeps_odd_and_even_grids(shape):
    network = SineNetNetwork(4, 2, 2, ZEROS, waves=2, width=4, mult=1.5, levels=3)
    assert network(torch.zeros(2, 4, *shape)).shape == (2, 2, *shape)


class LastFrame(nn.Module):
    """A 'model' that returns the last of its input frames."""

    def __init__(self, components):
        super().__init__()
        self.components = components
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x[:, -self.components:]


def test_a_rollout_of_the_last_frame_model_repeats_the_last_input(trajectories):
    operator = small().build(trajectories["train"])  # normalisers untouched: identity
    operator.model.network = LastFrame(1)
    history = np.random.default_rng(0).standard_normal((3, 2, 1, 16, 16))
    rolled = operator.rollout(history, 5)
    assert rolled.shape == (3, 5, 1, 16, 16)
    np.testing.assert_allclose(rolled, np.repeat(history[:, -1:], 5, axis=1), atol=1e-6)
    with pytest.raises(ValueError, match=r"history must have shape \(N, 2, 1, \*grid\)"):
        operator.rollout(history[:, :1], 2)


def test_sinenet_learns_a_transport_step_and_rolls_out(trajectories):
    operator = small(epochs=12).fit(trajectories["train"], validation=trajectories["validation"])
    metrics = operator.evaluate(trajectories["validation"])
    assert metrics["rel_l2"] < 0.3  # one step of a 16^2 toy set: learnt, not converged
    errors = operator.rollout_errors(trajectories["validation"])
    assert len(errors) == 5 and metrics["rollout_rel_l2"] == pytest.approx(errors.mean())
    assert errors[-1] > errors[0]  # errors accumulate along the rollout
    frames = data.open(trajectories["validation"])["u"].values[0, :2].transpose(0, 3, 1, 2)
    seed = int(data.open(trajectories["validation"])["seed"][0])
    solution = operator.solve(transport().sample_input(seed), history=frames)
    values = solution.to_xarray()["u"].values
    np.testing.assert_allclose(values[:2], frames[:, 0], atol=1e-6)  # the given history, then the rollout
    assert values.shape == (7, 16, 16) and solution.solver == "sinenet"


def test_the_unet_rolls_out_too_from_the_initial_value(trajectories):
    operator = UNet(width=4, depth=1, history=1, epochs=2, batch_size=16, device="cpu", progress=False)
    operator.fit(trajectories["train"])
    assert {"rollout_rel_l2", "rollout_rel_l2_last"} <= set(operator.evaluate(trajectories["validation"]))
    problem = transport().sample_input(3)
    values = operator.solve(problem).to_xarray()["u"].values
    x = np.arange(16) / 16
    grid = np.stack(np.meshgrid(x, x, indexing="ij")).reshape(2, -1)
    np.testing.assert_allclose(values[0], problem.params["u0"](grid).reshape(16, 16), atol=1e-12)


def test_windowed_training_resumes_bit_for_bit(trajectories, tmp_path, killed_after_two_checkpoints):
    whole = small().fit(trajectories["train"], checkpoint=tmp_path / "whole.pt")
    with killed_after_two_checkpoints():
        small().fit(trajectories["train"], checkpoint=tmp_path / "cut.pt")
    resumed = small().fit(trajectories["train"], checkpoint=tmp_path / "cut.pt", resume=True)
    assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history]
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_history_is_checked_against_the_data(trajectories, tmp_path):
    with pytest.raises(ValueError, match="history=7 leaves no frame to predict: the data has 7 saved times"):
        small(history=7).fit(trajectories["train"])
    with pytest.raises(ValueError, match="outputs have a time axis: give history=h"):
        UNet(epochs=1, progress=False).fit(trajectories["train"])
    steady = data.generate(pdekit.get_case("antiderivative"), 4, out=tmp_path / "a.h5", grid=16, progress=False)
    with pytest.raises(ValueError, match="history=2 needs an evolution dataset"):
        UNet(history=2, epochs=1, progress=False).fit(steady)
    with pytest.raises(ValueError, match="SineNet steps in time: history must be >= 1"):
        SineNet(history=0)
    with pytest.raises(ValueError, match="a rollout from the initial value alone needs history=1"):
        small().fit(trajectories["train"]).solve(transport())
