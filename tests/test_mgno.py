"""MgNO (multigrid neural operator), the FNO peer wrapper, and what they need of the shared loop and base."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pdekit
from pdekit import data
from pdekit.operators import FNO, MgNO, load
from pdekit.operators import training as loop
from pdekit.operators.fno import fno_available
from pdekit.operators.losses import relative_h1
from pdekit.operators.mgno import MgNONetwork, VCycle, coarsest_levels, parameter_count
from pdekit.operators.padding import pad, padding_modes
from pdekit.results import FunctionSolution

ZERO, CIRCULAR = (("constant", "constant"),) * 2, (("circular", "circular"),) * 2
LAPLACE = torch.tensor([[0.0, -1, 0], [-1, 4, -1], [0, -1, 0]], dtype=torch.float64)


def laplace(u, modes):
    return torch.nn.functional.conv2d(pad(u, 1, modes), LAPLACE.view(1, 1, 3, 3))


def textbook(levels: int, modes, omega: float = 0.8) -> VCycle:
    """A one-channel V-cycle set by hand to geometric multigrid for the 5-point Laplacian: damped Jacobi
    smoothers (``S`` a multiple of the identity), full weighting of the residual, bilinear prolongation,
    coarse grids starting from zero (``Pi = 0``), the Laplacian rediscretised on each level."""
    cycle = VCycle(2, modes, 1, 1, levels, pre_smoothing=1, coarsest_smoothing=2, post_smoothing=1,
                   residual=True).double()
    weighting = torch.outer(*(torch.tensor([1.0, 2, 1], dtype=torch.float64),) * 2) / 16
    bilinear = torch.outer(*(torch.tensor([0.5, 1, 0.5, 0], dtype=torch.float64),) * 2)
    with torch.no_grad():
        for level in range(levels):
            for step in list(cycle.smoothers[level]) + list(cycle.post_smoothers[level] if level < levels - 1 else []):
                step.S.conv.weight.zero_()
                step.S.conv.weight[0, 0, 1, 1] = omega * 4**level / 4
                if step.A is not None:
                    step.A.conv.weight.copy_(LAPLACE / 4**level)
        for level in range(levels - 1):
            cycle.residual[level].conv.weight.copy_(LAPLACE / 4**level)
            cycle.restrict_f[level].conv.weight.copy_(weighting)
            cycle.restrict_u[level].conv.weight.zero_()
            cycle.prolong[level].weight.copy_(bilinear)
    return cycle


def convergence(cycle, modes, n: int = 32, cycles: int = 8) -> list[float]:
    """Residual reduction factors of ``u <- u + V(f - A u)`` from ``u = 0`` (a zero-mean random ``f``)."""
    f = torch.randn(1, 1, n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    f -= f.mean()
    u, norms = torch.zeros_like(f), [f.norm().item()]
    with torch.no_grad():
        for _ in range(cycles):
            u = u + cycle(f - laplace(u, modes))
            norms.append((f - laplace(u, modes)).norm().item())
    return [b / a for a, b in zip(norms, norms[1:])]


# -- the V-cycle ---------------------------------------------------------------------------------
def test_vcycle_with_identity_like_smoothers_is_multigrid():
    levels = coarsest_levels((32, 32))
    assert levels == 5  # 32, 16, 8, 4, 2
    multigrid = convergence(textbook(levels, CIRCULAR), CIRCULAR)
    assert all(rate < 0.4 for rate in multigrid), multigrid  # the residual falls by a grid-independent factor
    smoothing = convergence(textbook(1, CIRCULAR), CIRCULAR)  # the same smoothers without coarse grids
    assert smoothing[-1] > 0.9, smoothing  # stall on the smooth error the coarse grids remove
    finer = convergence(textbook(coarsest_levels((64, 64)), CIRCULAR), CIRCULAR, n=64)
    assert max(finer) < 0.4, finer


def test_padding_follows_the_problem():
    darcy = padding_modes(data.generation.structure(pdekit.get_case("darcy2d")))
    periodic = padding_modes(data.generation.structure(pdekit.get_case("darcy_periodic2d")))
    assert darcy == ZERO and periodic == CIRCULAR
    torch.manual_seed(0)
    net = MgNONetwork(1, 1, 2, periodic, width=4, layers=2, levels=3).double()
    x = torch.randn(2, 1, 16, 12, dtype=torch.float64)
    shift = (4, 8)  # multiples of 2^(levels - 1): the coarse grids shift by whole points
    np.testing.assert_allclose(net(x.roll(shift, dims=(2, 3))).detach().numpy(),
                               net(x).roll(shift, dims=(2, 3)).detach().numpy(), atol=1e-12)
    zero = MgNONetwork(1, 1, 2, darcy, width=4, layers=2, levels=3).double()
    zero.load_state_dict(net.state_dict())  # the same weights, padded with zeros: the seam is a wall
    assert not np.allclose(zero(x.roll(shift, dims=(2, 3))).detach().numpy(),
                           zero(x).roll(shift, dims=(2, 3)).detach().numpy(), atol=1e-3)
    # periodic in x, Dirichlet at the bottom, Neumann (even reflection) at the top: shifts along x commute
    mixed = pdekit.Problem(name="mixed", geometry=pdekit.Rectangle((0, 0), (1, 1)),
                           equation=pdekit.Equation(flux=lambda u, du, x, t, p: [-du[0], -du[1]]),
                           conditions=[pdekit.Periodic(0), pdekit.Dirichlet(0.0, on="bottom"),
                                       pdekit.Neumann(0.0, on="top")])
    modes = padding_modes(data.generation.structure(mixed))
    assert modes == (("circular", "circular"), ("constant", "reflect"))
    net = MgNONetwork(1, 1, 2, modes, width=4, layers=2, levels=3).double()
    np.testing.assert_allclose(net(x.roll(4, dims=2)).detach().numpy(), net(x).roll(4, dims=2).detach().numpy(),
                               atol=1e-12)
    assert not np.allclose(net(x.roll(4, dims=3)).detach().numpy(), net(x).roll(4, dims=3).detach().numpy(),
                           atol=1e-3)


@pytest.mark.parametrize("settings", [
    dict(dim=2, width=24, layers=4, levels=6),  # the paper's Darcy model
    dict(dim=2, width=5, layers=3, levels=4, pre_smoothing=2, coarsest_smoothing=3, post_smoothing=1, residual=True),
    dict(dim=1, width=6, layers=2, levels=3, post_smoothing=2),
    dict(dim=3, width=3, layers=2, levels=2, residual=True),
])
@pytest.mark.parametrize("channels", [(1, 1), (3, 2)])
def test_parameter_count_matches_the_formula(settings, channels):
    dim = settings["dim"]
    net = MgNONetwork(*channels, modes=(("constant", "constant"),) * dim, **settings)
    assert sum(p.numel() for p in net.parameters()) == parameter_count(*channels, **settings)


def test_the_paper_configuration_has_its_size():
    assert parameter_count(1, 1, width=24, layers=4, levels=6) == 572_661  # "0.57M" in the paper
    config = MgNO().config  # the defaults are that model, with levels down to the coarsest grid
    assert (config.width, config.layers, config.pre_smoothing, config.coarsest_smoothing) == (24, 4, 1, 2)
    assert coarsest_levels((64, 64)) == 6 and coarsest_levels((211, 211)) == 8 and coarsest_levels((5, 64)) == 3  # 5, 3, 2


@pytest.mark.parametrize("shape", [(16, 16), (17, 13), (9, 30), (64, 63)])
def test_shapes_for_odd_and_even_grids(shape):
    net = MgNONetwork(2, 3, dim=2, modes=ZERO, width=4, layers=2, levels=coarsest_levels(shape))
    assert net(torch.zeros(2, 2, *shape)).shape == (2, 3, *shape)
    assert MgNONetwork(1, 1, dim=1, modes=(("circular", "circular"),), width=4, layers=1, levels=3)(
        torch.zeros(2, 1, 25)).shape == (2, 1, 25)
    assert MgNONetwork(1, 1, dim=3, modes=(("constant", "reflect"),) * 3, width=2, layers=1, levels=2)(
        torch.zeros(1, 1, 7, 6, 5)).shape == (1, 1, 7, 6, 5)


def test_too_coarse_grids_and_bad_settings_are_refused():
    net = MgNONetwork(1, 1, dim=2, modes=ZERO, width=2, layers=1, levels=4)
    with pytest.raises(ValueError, match=r"too coarse for a V-cycle of 4 levels \(the coarsest grid would have \(1, 2\)"):
        net(torch.zeros(1, 1, 8, 16))
    with pytest.raises(ValueError, match="pre_smoothing >= 1"):
        MgNO(pre_smoothing=0)
    with pytest.raises(ValueError, match="unknown mgno option 'depth'"):
        MgNO(depth=3)


# -- training --------------------------------------------------------------------------------------
def smooth_solver(problem):
    """A fast stand-in for FEniCS: ``u = x (1 - x) y (1 - y) / a(x)`` (the data's map is what is learnt)."""
    return FunctionSolution(problem, lambda p: (p[:, 0] * (1 - p[:, 0]) * p[:, 1] * (1 - p[:, 1])
                                                / problem.params["a"](p.T))[:, None], "smooth")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Darcy inputs with a closed-form stand-in for the solve: 16 x 16 train/validation, 32 x 32 test."""
    folder = tmp_path_factory.mktemp("toy")
    problem = pdekit.get_case("darcy2d")
    return {name: data.generate(problem, n, out=folder / f"{name}.h5", grid=grid, split=split, solver=smooth_solver,
                                progress=False)
            for name, n, grid, split in (("train", 24, 16, "train"), ("validation", 8, 16, "validation"),
                                         ("test32", 8, 32, "test"))}


def small(**options):
    return MgNO(**{"width": 4, "layers": 2, "epochs": 4, "batch_size": 8, "lr": 3e-3, "progress": False,
                   "device": "cpu", **options})


def test_mgno_trains_resumes_bit_for_bit_and_round_trips(toy, tmp_path, killed_after_two_checkpoints):
    def run():
        return small(layers=1, epochs=3)

    whole = run().fit(toy["train"], validation=toy["validation"], checkpoint=tmp_path / "whole.pt")
    assert whole.history[-1]["train_loss"] < whole.history[0]["train_loss"]
    assert len(whole.model.network.cycles[0].smoothers) == coarsest_levels((16, 16)) == 4
    with killed_after_two_checkpoints():
        run().fit(toy["train"], validation=toy["validation"], checkpoint=tmp_path / "run.pt")
    resumed = run().fit(toy["train"], validation=toy["validation"], checkpoint=tmp_path / "run.pt", resume=True)
    assert resumed.history == [{**row, "wall_time": r["wall_time"]} for row, r in zip(whole.history, resumed.history)]
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    again = load(whole.save(tmp_path / "mgno.pt"))
    inputs = data.OperatorData(toy["validation"]).input_channels()
    np.testing.assert_array_equal(again.predict(inputs), whole.predict(inputs))
    assert again.n_parameters == whole.n_parameters == parameter_count(1, 1, width=4, layers=1, levels=4)


def test_evaluation_at_another_resolution_uses_that_grid(toy):
    operator = small(epochs=1).fit(toy["train"])
    test = data.OperatorData(toy["test32"])
    metrics = operator.evaluate(toy["test32"])  # zero-shot: trained on 16 x 16, applied on 32 x 32
    prediction = torch.as_tensor(operator.predict(test.input_channels()))
    target = torch.as_tensor(test.output_channels(), dtype=torch.float64)
    expected = relative_h1(prediction, target, spacing=(1 / 31, 1 / 31), periodic=(False, False))
    assert metrics["rel_h1"] == pytest.approx(float(expected), rel=1e-5)
    assert operator.predict(test.input_channels()).shape == (8, 1, 32, 32)


def test_the_loop_does_not_count_time_spent_between_epochs(toy, monkeypatch):
    clock = {"now": 0.0}

    def tick():
        clock["now"] += 1.0  # every reading of the clock takes a second
        return clock["now"]

    def elsewhere(row):
        clock["now"] += 1000.0  # another contender's epoch

    monkeypatch.setattr(loop.time, "perf_counter", tick)
    seen = []
    history = small(epochs=3, width=2).fit(toy["train"], on_epoch=lambda row: (seen.append(row), elsewhere(row))).history
    assert seen == history and [row["epoch"] for row in seen] == [1, 2, 3]
    assert history[-1]["wall_time"] < 100  # the 3000 s spent in on_epoch are not training time


# -- the FNO peer ------------------------------------------------------------------------------------
def test_fno_without_neuraloperator_says_how_to_install_it(monkeypatch, toy):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "neuralop" else real(name, *a))
    assert not fno_available()
    with pytest.raises(ImportError, match=r"pip install 'pdekit\[peers\]'"):
        FNO(epochs=1).build(toy["train"])


@pytest.mark.peers
def test_fno_trains_through_the_shared_loop(toy, tmp_path):
    operator = FNO(hidden_channels=8, modes=6, epochs=2, batch_size=8, progress=False, device="cpu")
    operator.fit(toy["train"], validation=toy["validation"])
    spectral = [p for p in operator.model.network.parameters() if p.is_complex()]
    assert spectral and all(p.dtype == torch.complex64 for p in spectral)
    real = sum(p.numel() for p in operator.model.network.parameters() if not p.is_complex())
    assert operator.n_parameters == real + 2 * sum(p.numel() for p in spectral)  # real and imaginary parts
    again = load(operator.save(tmp_path / "fno.pt"))
    inputs = data.OperatorData(toy["test32"]).input_channels()
    np.testing.assert_array_equal(again.predict(inputs), operator.predict(inputs))  # and at 32 x 32
    assert operator.evaluate(toy["test32"])["rel_l2"] < 1.0


# -- periodic problems: position channels ----------------------------------------------------------
def placed_solver(problem):
    """A stand-in whose map from ``a`` to ``u`` depends on position: ``u = sin(2 pi x) / a(x)``."""
    return FunctionSolution(problem, lambda p: (np.sin(2 * np.pi * p[:, 0]) / problem.params["a"](p.T))[:, None],
                            "placed")


@pytest.fixture(scope="module")
def torus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torus")
    problem = pdekit.get_case("darcy_periodic2d")
    return {name: data.generate(problem, n, out=folder / f"{name}.h5", grid=16, split=split, solver=placed_solver,
                                progress=False)
            for name, n, split in (("train", 32, "train"), ("validation", 8, "validation"))}


def test_a_circular_mgno_places_a_fixed_forcing_through_its_position_channels(torus):
    """Without position channels a circularly padded MgNO commutes with periodic shifts and cannot
    learn a map that depends on position (it stays at relative L2 ~1); with them it does."""
    errors = {}
    for placed in (True, False):
        operator = small(epochs=30, periodic_position=placed).fit(torus["train"])
        errors[placed] = operator.evaluate(torus["validation"])["rel_l2"]
        inputs = torch.as_tensor(data.OperatorData(torus["validation"]).input_channels(), dtype=torch.float32)
        shifted = operator.predict(inputs.roll((8, 8), dims=(2, 3)))  # a multiple of 2^(levels - 1)
        equivariant = np.allclose(shifted, np.roll(operator.predict(inputs), (8, 8), axis=(2, 3)), atol=1e-5)
        assert equivariant is not placed
    assert errors[False] > 0.9 and errors[True] < 0.3, errors
