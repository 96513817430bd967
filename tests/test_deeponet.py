"""DeepONet and the physics-informed DeepONet: forms, jets, the physics loss, variants, resume, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pdekit
from pdekit import data
from pdekit.derivatives.jet import Jet
from pdekit.operators import DeepONet, PIDeepONet, load
from pdekit.operators.deeponet import DeepONetConfig, DeepONetNetwork, Envelope
from pdekit.operators.physics import FunctionSamples, PhysicsLoss


@pytest.fixture(scope="module")
def anti(tmp_path_factory):
    """Antiderivative data (exact solutions) on 21 nodes: training, validation and test splits."""
    folder = tmp_path_factory.mktemp("anti")
    problem = pdekit.get_case("antiderivative")
    return {split: data.generate(problem, n, out=folder / f"{split}.h5", grid=21, split=split, progress=False)
            for split, n in (("train", 40), ("validation", 8), ("test", 8))}


def small(cls=DeepONet, **options):
    settings = {"sensors": 11, "basis": 8, "branch_width": 16, "trunk_width": 16, "epochs": 6, "batch_size": 10,
                "progress": False, "device": "cpu", "dtype": "float64", **options}
    return cls(**settings)


# -- the two forms ------------------------------------------------------------------------------
def test_cartesian_and_pointwise_forms_agree(anti):
    operator = small().build(anti["train"])
    branch, points, values = operator._tensors(data.OperatorData(anti["train"]), training=True)
    assert branch.shape == (40, 1, 11) and points.shape == (21, 1) and values.shape == (40, 1, 21)
    model = operator.model
    cartesian = model(branch, points)  # one trunk pass, one product
    per_function = model(branch, points.expand(40, -1, -1))  # each function's own copy of the points
    triplets = model(branch.repeat_interleave(21, 0), points.repeat(40, 1)[:, None])  # one query per function
    np.testing.assert_allclose(per_function.detach().numpy(), cartesian.detach().numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(triplets.reshape(40, 21).detach().numpy(), cartesian[:, 0].detach().numpy(),
                               rtol=1e-13, atol=1e-13)
    # trained on the shared loop, the forms follow the same path (the loss is a mean over the same pairs)
    whole = small().fit(anti["train"])
    pointwise = small(points_per_sample=21).fit(anti["train"])
    np.testing.assert_allclose([r["train_loss"] for r in pointwise.history], [r["train_loss"] for r in whole.history],
                               rtol=1e-10)
    test = data.OperatorData(anti["test"])
    np.testing.assert_allclose(pointwise.evaluate(test)["mse"], whole.evaluate(test)["mse"], rtol=1e-9)


def test_unaligned_training_draws_its_query_points_per_function(anti):
    operator = small(points_per_sample=3)
    operator.build(anti["train"])
    branch, points, values = operator._tensors(data.OperatorData(anti["train"]), training=True)
    assert points.shape == (40, 3, 1) and values.shape == (40, 1, 3)
    full = data.OperatorData(anti["train"])
    x = full.coords["x"]
    for n in (0, 17):  # each value is the solution at that function's own point
        for q in range(3):
            k = int(np.argmin(np.abs(x - points[n, q, 0].item())))
            assert values[n, 0, q].item() == pytest.approx(float(full.outputs["u"][n, k, 0]), rel=1e-6)
    assert len({tuple(points[n, :, 0].tolist()) for n in range(40)}) > 1
    evaluation = operator._tensors(full, training=False)  # evaluation uses every point
    assert evaluation[1].shape == (21, 1)
    shared = small(points_per_sample=3, shared_points=True)
    shared.build(anti["train"])
    branch, points, values = shared._batch(shared._tensors(full, training=True), torch.tensor([5, 2]))
    assert points.shape == (3, 1) and values.shape == (2, 1, 3)  # the first function's points, for both
    nodes = [int(np.argmin(np.abs(x - v))) for v in points[:, 0].tolist()]
    np.testing.assert_allclose(values[1, 0].numpy(), full.outputs["u"][2, nodes, 0], rtol=1e-6)


# -- derivatives through the trunk --------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, {"fourier_features": 6, "fourier_scale": 2.0}, {"periodic_modes": 3},
                                     {"outputs": "independent"}, {"outputs": "split_branch"},
                                     {"outputs": "split_trunk"}, {"trunk_output_activation": False, "activation": "sin"},
                                     {"hard_constraints": True}],
                         ids=["plain", "fourier", "periodic", "independent", "split_branch", "split_trunk", "sin",
                              "envelope"])
def test_trunk_jets_match_nested_autograd_in_float64(options):
    torch.manual_seed(0)
    options = {"activation": "tanh", **options}
    outputs = 2 if "outputs" in options else 1
    config = DeepONetConfig(trunk_depth=2, basis=6, trunk_width=8, branch_width=8, **options)
    envelope = Envelope([(0, 0.0, 2.0)], (1, 0.0, 1.0)) if config.hard_constraints else None
    network = DeepONetNetwork([1], (5,), outputs, [0.0, 0.0], [2.0, 1.0], [0], config, envelope=envelope).double()
    coefficients = network.coefficients(torch.randn(3, 1, 5, dtype=torch.float64))
    points = torch.rand(3, 4, 2, dtype=torch.float64) * torch.tensor([2.0, 1.0], dtype=torch.float64)
    pairs = ((0, 0), (0, 1), (1, 1))
    stack = network.jets(coefficients, points, pairs)  # (B, C, 1 + D + P, Q)
    shared = network.jets(coefficients, points[0], pairs)  # points shared by the batch: one trunk pass
    np.testing.assert_allclose(shared[0].detach().numpy(), stack[0].detach().numpy(), rtol=0, atol=1e-13)
    x = points.clone().requires_grad_(True)
    out = network.evaluate(coefficients, x)
    np.testing.assert_allclose(stack[:, :, 0].detach().numpy(), out.detach().numpy(), rtol=0, atol=1e-13)
    for c in range(outputs):
        gradient = torch.autograd.grad(out[:, c].sum(), x, create_graph=True)[0]
        np.testing.assert_allclose(stack[:, c, 1:3].detach().numpy(), gradient.permute(0, 2, 1).detach().numpy(),
                                   rtol=0, atol=1e-12)
        for k, (i, j) in enumerate(pairs):
            second = torch.autograd.grad(gradient[..., i].sum(), x, retain_graph=True)[0][..., j]
            np.testing.assert_allclose(stack[:, c, 3 + k].detach().numpy(), second.numpy(), rtol=0, atol=1e-12)


def test_periodic_features_make_the_trunk_periodic():
    config = DeepONetConfig(periodic_modes=2, basis=4, trunk_width=8)
    network = DeepONetNetwork([1], (5,), 1, [0.0, 0.0], [2.0, 1.0], [0], config).double()
    coefficients = network.coefficients(torch.randn(2, 1, 5, dtype=torch.float64))
    t = torch.rand(7, dtype=torch.float64)
    ends = [torch.stack([torch.full_like(t, x), t], 1) for x in (0.0, 2.0)]
    np.testing.assert_allclose(network.evaluate(coefficients, ends[0]).detach().numpy(),
                               network.evaluate(coefficients, ends[1]).detach().numpy(), atol=1e-12)


def test_hard_constraints_hold_zero_dirichlet_and_initial_data_exactly():
    problem = pdekit.get_case("diffusion_reaction1d")
    operator = small(PIDeepONet, hard_constraints=True, trunk_depth=2, n_functions=20, n_interior=10, n_boundary=0,
                     n_initial=0, batch_size=5, epochs=2, shared_points=True)
    operator.fit(problem=problem)
    t = np.linspace(0, 1, 7)
    sides = np.concatenate([np.stack([np.full(7, x), t], 1) for x in (0.0, 1.0)] + [np.stack([t, np.zeros(7)], 1)])
    solution = operator.solve(problem.sample_input(3))
    assert np.abs(solution(sides)).max() == 0.0
    assert np.abs(solution(np.array([[0.5, 0.5]]))).max() > 0.0
    heated = pdekit.Problem(name="heated", geometry=pdekit.Interval(0, 1), time=pdekit.TimeInterval(0, 1),
                            params={"f": problem.params["f"]}, input_family=problem.input_family,
                            equation=pdekit.Equation(flux=lambda u, du, x, t, p: [-0.01 * du[0]],
                                                     source=lambda u, du, x, t, p: p.f(x)),
                            conditions=[pdekit.Dirichlet(1.0, on="right"), pdekit.Dirichlet(0.0, on="left"),
                                        pdekit.Initial(0.0)])
    with pytest.raises(ValueError, match="Dirichlet data .* are not zero"):
        small(PIDeepONet, hard_constraints=True, n_functions=4, batch_size=2).fit(problem=heated)


# -- the physics loss ---------------------------------------------------------------------------
def exact_field(functions, solution):
    """A ``field(points, pairs)`` of the physics loss from per-function values and derivatives."""

    def field(points, pairs):
        parts = [solution(f, points[b].numpy(), pairs) for b, f in enumerate(functions)]
        value = torch.tensor(np.concatenate([v for v, _, _ in parts]))
        if pairs is None:
            return value[:, None]
        grad = torch.tensor(np.concatenate([g for _, g, _ in parts]))
        hess = torch.tensor(np.concatenate([h for _, _, h in parts])) if pairs else None
        return [Jet(value, grad, hess, pairs)]

    return field


def physics(problem, seeds, **counts):
    config = DeepONetConfig(activation="tanh", weight_residual=1.0, **counts)
    samples = FunctionSamples(problem, seeds, {"x": np.linspace(0, 1, 11)}, config, torch.float64, "cpu")
    return samples, PhysicsLoss(problem, samples, {"residual": 1.0, "boundary": 1.0, "initial": 1.0})


def test_the_physics_loss_vanishes_on_the_exact_antiderivative():
    problem = pdekit.get_case("antiderivative")
    samples, loss = physics(problem, [3, 5, 8], n_interior=50, n_boundary=10)
    batch = loss.batch(torch.tensor([2, 0]))
    functions = [samples.functions["f"][i] for i in (2, 0)]

    def antiderivative(f, x, pairs):  # u = int_0^x f, u' = f, evaluated per function (not batched)
        return f.cumulative_integral(x[:, 0]), f(x.T)[:, None], None

    terms = loss.terms(exact_field(functions, antiderivative), batch)
    assert set(terms) == {"residual", "dirichlet"}
    assert float(terms["residual"]) < 1e-28 and float(terms["dirichlet"]) < 1e-28
    wrong = [samples.functions["f"][i] for i in (0, 2)]  # the other function's solution: the blocks matter
    assert float(loss.terms(exact_field(wrong, antiderivative), batch)["residual"]) > 1e-2


def test_shared_and_own_collocation_points_give_the_same_physics_loss():
    problem = pdekit.get_case("diffusion_reaction1d")
    samples, own = physics(problem, [0, 1, 2], n_interior=30, n_boundary=12, n_initial=8)
    for name in samples.sets:  # every function gets the first one's points: the two forms must agree
        samples.sets[name] = samples.sets[name][:1].repeat(3, 1, 1)
    samples.normals, samples.masks = samples.normals[:1].repeat(3, 1, 1), [m[:1].repeat(3, 1) for m in samples.masks]
    shared = PhysicsLoss(problem, samples, own.weights, shared=True)
    operator = small(PIDeepONet, trunk_depth=2)
    operator.problem = problem
    operator.build(None)
    index = torch.tensor([0, 2, 1])
    batch = shared.batch(index)
    assert batch["sets"]["interior"].stride(0) == 0  # one trunk pass over the shared points
    a, b = own(operator.model, own.batch(index)), shared(operator.model, batch)
    assert b.item() == pytest.approx(a.item(), rel=1e-12)
    (grad_own,) = torch.autograd.grad(a, [operator.model.network.bias])
    (grad_shared,) = torch.autograd.grad(b, [operator.model.network.bias])
    np.testing.assert_allclose(grad_shared.numpy(), grad_own.numpy(), rtol=1e-10)


def autograd_field(u):
    """A ``field(points, pairs)`` of the physics loss from a torch function ``u(points)`` (nested autograd)."""

    def field(points, pairs):
        x = points.reshape(-1, points.shape[-1]).detach().clone().requires_grad_(True)
        value = u(x)
        if pairs is None:
            return value.detach()[:, None]
        grad = torch.autograd.grad(value.sum(), x, create_graph=True)[0]
        second = (lambda i, j: torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, j]) \
            if grad.requires_grad else (lambda i, j: torch.zeros_like(value))  # noqa: E731 - linear: no curvature
        hess = torch.stack([second(i, j) for i, j in pairs], 1) if pairs else None
        return [Jet(value.detach(), grad.detach(), None if hess is None else hess.detach(), pairs)]

    return field


def test_neumann_periodic_and_initial_rate_terms_measure_their_misfits():
    family = pdekit.GaussianRandomField("f", length_scale=0.2, periodic=False)
    geometry = pdekit.Interval(0.0, 1.0)

    def rod(*conditions, **extra):
        return pdekit.Problem(name="rod", geometry=geometry, params={"f": family.draw(geometry, 0)["f"]},
                              equation=pdekit.Equation(flux=lambda u, du, x, t, p: [-du[0]],
                                                       source=lambda u, du, x, t, p: p.f(x), **extra.pop("eq", {})),
                              conditions=list(conditions), input_family=family, **extra)

    def terms(problem, u):
        samples, loss = physics(problem, [0, 1], n_interior=5, n_boundary=40, n_initial=30)
        return {k: float(v) for k, v in loss.terms(autograd_field(u), loss.batch(torch.tensor([1, 0]))).items()}

    sine = lambda x: torch.sin(x[:, 0])  # noqa: E731 - u' = cos x: the flux -u' leaves through x = 1 as cos(1)
    right = terms(rod(pdekit.Dirichlet(0.0, on="left"), pdekit.Neumann(np.cos(1.0), on="right")), sine)
    assert right["dirichlet"] < 1e-28 and right["neumann"] < 1e-28
    wrong = terms(rod(pdekit.Dirichlet(0.0, on="left"), pdekit.Neumann(0.0, on="right")), sine)
    assert wrong["neumann"] == pytest.approx(np.cos(1.0) ** 2, rel=1e-12)
    periodic = rod(pdekit.Periodic(0))
    assert terms(periodic, lambda x: torch.sin(2 * np.pi * x[:, 0]))["periodic"] < 1e-28
    assert terms(periodic, lambda x: x[:, 0])["periodic"] == pytest.approx(1.0, rel=1e-12)
    wave = dict(time=pdekit.TimeInterval(0.0, 1.0), eq={"second_time_coefficient": 1.0})
    plucked = lambda x: x[:, 1] * torch.sin(x[:, 0])  # noqa: E731 - zero at t = 0, rate sin x
    started = terms(rod(pdekit.Dirichlet(0.0), pdekit.Initial(0.0),
                        pdekit.Initial(lambda x, t, p: np.sin(x[0]) if isinstance(x, np.ndarray) else torch.sin(x[0]),
                                       derivative=1), **wave), plucked)
    assert started["initial"] < 1e-28 and started["initial_rate"] < 1e-28
    still = terms(rod(pdekit.Dirichlet(0.0), pdekit.Initial(0.0), pdekit.Initial(0.0, derivative=1), **wave), plucked)
    assert 0.05 < still["initial_rate"] < 0.5  # the mean of sin(x)^2 over the initial points


@pytest.mark.fenics
def test_the_physics_loss_vanishes_on_fenics_solutions_as_they_converge():
    from scipy.interpolate import RectBivariateSpline

    problem = pdekit.get_case("diffusion_reaction1d")
    samples, loss = physics(problem, [0, 1], n_interior=300, n_boundary=40, n_initial=40)
    batch = loss.batch(torch.tensor([0, 1]))
    functions = [samples.functions["f"][i] for i in (0, 1)]
    t, x = np.linspace(0, 1, 101), np.linspace(0, 1, 201)
    residuals = []
    for cells, dt in ((16, 0.05), (32, 0.02)):
        splines = {}
        for f in functions:
            solution = pdekit.reference.solve(problem.with_params(f=f), degree=2, cells=cells, dt=dt, saves=100,
                                              cache=False, progress=False)
            values = solution.to_xarray(coords={"t": t, "x": x})["u"].values
            splines[id(f)] = RectBivariateSpline(t, x, values, kx=5, ky=5, s=0)  # smooth: derivatives of the data

        def spline(f, points, pairs, splines=splines):
            s = splines[id(f)]
            ev = lambda **k: s.ev(points[:, 1], points[:, 0], **k)  # noqa: E731 - (t, x) order
            hess = np.stack([ev(dy=2) if pair == (0, 0) else ev(dx=1, dy=1) for pair in pairs or ()], 1) \
                if pairs else None
            return ev(), np.stack([ev(dy=1), ev(dx=1)], 1), hess

        terms = loss.terms(exact_field(functions, spline), batch)
        assert float(terms["dirichlet"]) < 1e-20 and float(terms["initial"]) < 1e-20  # zero data, held exactly
        residuals.append(float(terms["residual"]))
    scale = float(torch.cat([f(batch["sets"]["interior"][b, :, :1].T) for b, f in enumerate(functions)])
                  .square().mean())
    assert residuals[1] < 0.3 * residuals[0]  # falls with the discretisation error
    assert residuals[1] < 1e-2 * scale


# -- training -----------------------------------------------------------------------------------
def test_deeponet_learns_the_antiderivative_and_round_trips(anti, tmp_path):
    operator = small(epochs=300, batch_size=40, lr=1e-2, activation="tanh").fit(anti["train"],
                                                                                validation=anti["validation"])
    assert operator.history[-1]["train_loss"] < 0.02 * operator.history[0]["train_loss"]
    metrics = operator.evaluate(anti["test"])
    assert metrics["rel_l2"] < 0.25 and set(metrics) == {"rel_l2", "mse"}  # 40 functions: learnt, not converged
    best = min(row["val_rel_l2"] for row in operator.history)
    assert operator.evaluate(anti["validation"])["rel_l2"] == pytest.approx(best, rel=1e-9)  # keep="best"
    again = load(operator.save(tmp_path / "d.pt"))
    test = data.OperatorData(anti["test"])
    inputs = test.input_channels()[:, :, ::2]
    points = test.coords["x"][:, None]
    np.testing.assert_array_equal(again.predict(inputs, points), operator.predict(inputs, points))
    problem = pdekit.get_case("antiderivative").sample_input(int(test.seeds[3]))
    solution = operator.solve(problem)  # evaluable anywhere, not only on the grid
    branch = operator.sensor_values(problem)
    np.testing.assert_allclose(branch, inputs[3:4], rtol=1e-6, atol=1e-6)  # the data's (float32) sensor values
    anywhere = np.array([[0.0], [0.123], [0.5], [0.987]])
    np.testing.assert_allclose(solution(anywhere)[:, 0], operator.predict(branch, anywhere)[0, 0], rtol=1e-12)
    assert solution.solver == "deeponet"
    truth = problem.exact_solution(points)[:, 0]
    assert np.linalg.norm(solution(points)[:, 0] - truth) / np.linalg.norm(truth) < 0.5


def test_the_physics_informed_deeponet_learns_without_data(anti):
    problem = pdekit.get_case("antiderivative")
    operator = small(PIDeepONet, epochs=40, batch_size=10, n_functions=40, n_interior=20, n_boundary=4, lr=1e-2,
                     trunk_depth=2, branch_depth=2)
    operator.fit(problem=problem, validation=anti["validation"])
    assert operator.meta["sensors"]["x"] == pytest.approx(np.linspace(0, 1, 11).tolist())
    assert operator.history[-1]["train_loss"] < 0.15 * operator.history[0]["train_loss"]
    assert operator.evaluate(anti["test"])["rel_l2"] < 0.45  # never saw a solution
    combined = small(PIDeepONet, epochs=3, n_interior=10, n_boundary=4, trunk_depth=2, branch_depth=2)
    combined.fit(anti["train"], problem=problem)  # data and physics: the data's functions, both losses
    assert len(combined.history) == 3 and np.isfinite(combined.history[-1]["train_loss"])


def test_several_outputs_inputs_and_branches_have_their_shapes():
    for strategy, branch_out, trunk_out in (("split_both", 2 * 8, 2 * 8), ("split_branch", 2 * 8, 8),
                                            ("split_trunk", 8, 2 * 8), ("independent", 8, 8)):
        network = DeepONetNetwork([1, 2], (9,), 2, [0.0], [1.0], [], DeepONetConfig(basis=8, outputs=strategy))
        assert network.branches[0][0].output.out_features == branch_out
        assert network.trunks[0].mlp.output.out_features == trunk_out
        assert len(network.branches) == (2 if strategy == "independent" else 1)
        assert len(network.branches[0]) == 2  # MIONet: a branch per input function
        assert network(torch.randn(4, 3, 9), torch.rand(7, 1)).shape == (4, 2, 7)
        assert network(torch.randn(4, 3, 9), torch.rand(4, 5, 1)).shape == (4, 2, 5)
    cnn = DeepONetNetwork([1], (16, 12), 1, [0.0, 0.0], [1.0, 1.0], [], DeepONetConfig(branch="cnn", branch_depth=2))
    assert cnn(torch.randn(3, 1, 16, 12), torch.rand(10, 2)).shape == (3, 1, 10)


def test_mionet_merges_the_branches_by_a_product():
    network = DeepONetNetwork([1, 1], (4,), 1, [0.0], [1.0], [], DeepONetConfig(basis=3, activation="tanh"))
    inputs = torch.randn(2, 2, 4)
    first, second = network.branches[0]
    np.testing.assert_allclose(network.coefficients(inputs)[:, 0].detach().numpy(),
                               (first(inputs[:, 0]) * second(inputs[:, 1])).detach().numpy(), rtol=1e-6)


def test_pod_deeponet_uses_the_data_modes(anti):
    operator = small(pod_modes=4, epochs=60, batch_size=40, lr=3e-3, activation="tanh").fit(anti["train"])
    network = operator.model.network
    assert not len(network.trunks) and network.pod_basis.shape == (21, 1, 4)
    modes = network.pod_basis[:, 0].numpy() / np.sqrt(21)
    np.testing.assert_allclose(modes.T @ modes, np.eye(4), atol=1e-10)  # orthonormal over the grid
    assert operator.evaluate(anti["test"])["rel_l2"] < 0.5
    solution = operator.solve(pdekit.get_case("antiderivative").sample_input(3))
    assert solution(np.array([[0.5]])).shape == (1, 1)
    with pytest.raises(ValueError, match="training grid only"):
        operator.predict(np.zeros((1, 1, 11)), np.zeros((5, 1)))


def test_training_resumes_bit_for_bit(anti, tmp_path, killed_after_two_checkpoints):
    problem = pdekit.get_case("antiderivative")
    for name, make, fit in (
            ("data", lambda: small(points_per_sample=2), lambda op, **k: op.fit(anti["train"], **k)),
            ("physics", lambda: small(PIDeepONet, n_functions=30, n_interior=8, n_boundary=4, trunk_depth=2,
                                      branch_depth=2), lambda op, **k: op.fit(problem=problem, **k))):
        whole = fit(make(), checkpoint=tmp_path / f"{name}-whole.pt")
        with killed_after_two_checkpoints():
            fit(make(), checkpoint=tmp_path / f"{name}.pt")
        resumed = fit(make(), checkpoint=tmp_path / f"{name}.pt", resume=True)
        assert [r["train_loss"] for r in resumed.history] == [r["train_loss"] for r in whole.history], name
        for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
            assert torch.equal(a, b), name


# -- errors -------------------------------------------------------------------------------------
def test_wrong_sensors_or_shapes_are_refused_with_the_reason(anti, tmp_path):
    operator = small(epochs=1).fit(anti["train"])
    with pytest.raises(ValueError, match=r"inputs must have shape \(N, 1, 11\): 1 input channel\(s\) at 11 sensors"):
        operator.predict(np.zeros((2, 1, 10)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"inputs must have shape \(N, 1, 11\)"):
        operator.predict(np.zeros((2, 11)), np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"points must have shape \(P, 1\) \(shared\) or \(2, Q, 1\)"):
        operator.predict(np.zeros((2, 1, 11)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="sensors must be between 2 and the grid's 21 nodes"):
        small(sensors=30).fit(anti["train"])
    coarse = data.generate(pdekit.get_case("antiderivative"), 4, out=tmp_path / "c.h5", grid=16, split="test",
                           progress=False)
    with pytest.raises(ValueError, match=r"this data's sensors .* are not the operator's"):
        operator.evaluate(coarse)
    with pytest.raises(ValueError, match="give problem="):
        PIDeepONet().fit(anti["train"])
    with pytest.raises(ValueError, match="ReLU has no curvature"):
        PIDeepONet(activation="relu")
    with pytest.raises(ValueError, match="valid: split_both, split_branch, split_trunk, independent"):
        DeepONet(outputs="shared")
    with pytest.raises(ValueError, match="unknown deeponet option 'sensor'"):
        DeepONet(sensor=10)


def test_the_cli_trains_both_variants(anti, tmp_path, capsys):
    from pdekit.cli import main

    model = str(tmp_path / "d.pt")
    assert main(["train", "antiderivative", "--model", "deeponet", "--data", str(anti["train"]), "--out", model,
                 "--option", "epochs=2", "--option", "sensors=11", "--option", "points_per_sample=1", "--quiet"]) == 0
    assert "trained deeponet" in capsys.readouterr().out
    assert main(["predict", model, "--data", str(anti["test"])]) == 0
    assert "rel_l2" in capsys.readouterr().out
    assert main(["train", "antiderivative", "--model", "pi_deeponet", "--out", str(tmp_path / "p.pt"), "--option",
                 "epochs=1", "--option", "n_functions=10", "--option", "sensors=11", "--quiet"]) == 0
    assert "trained pi_deeponet" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "p.pt"), "--data", str(anti["test"])]) == 0  # loads, reads the sensors
    assert "rel_l2" in capsys.readouterr().out
    assert main(["train", "antiderivative", "--model", "deeponet", "--out", model]) == 2
    assert "--data" in capsys.readouterr().err


def test_compiled_training_takes_the_eager_steps(anti, caplog):
    """Compiled, the loss and its gradient (jets through the trunk included) are one graph: the same steps."""
    problem = pdekit.get_case("antiderivative")
    settings = dict(epochs=3, n_functions=20, n_interior=10, n_boundary=4, trunk_depth=2, branch_depth=2)
    eager = small(PIDeepONet, **settings).fit(problem=problem)
    with caplog.at_level("WARNING", logger="pdekit"):
        compiled = small(PIDeepONet, compile=True, **settings).fit(problem=problem)
    assert not [r for r in caplog.records if "torch.compile" in r.getMessage()]  # no fallback to eager
    np.testing.assert_allclose([r["train_loss"] for r in compiled.history], [r["train_loss"] for r in eager.history],
                               rtol=1e-9)
    assert compiled.evaluate(anti["test"])["rel_l2"] == pytest.approx(eager.evaluate(anti["test"])["rel_l2"], rel=1e-8)
