"""Flat parameters and the one-call loss gradient: the same numbers as the plain autograd path."""

import copy
import logging

import pytest
import torch

from pdekit.solvers.flat_parameters import AdamStep, FlatParameters, LossGradient


def network():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 5, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv2d(5, 3, 3),
                              torch.nn.Flatten(), torch.nn.Linear(3 * 6 * 6, 7))
    return net.to(memory_format=torch.channels_last)


def loss_of(net, x):
    return lambda batch: (net(batch) ** 2).mean() + net[4].weight.square().sum()


def test_flat_views_keep_values_strides_and_collect_the_gradient():
    x = torch.randn(4, 2, 8, 8)
    plain, net = network(), network()
    expected = torch.autograd.grad(loss_of(plain, x)(x), list(plain.parameters()))
    flat = FlatParameters(net)
    assert len(flat.tensors) == 1
    storage = flat.tensors[0].untyped_storage().data_ptr()
    for p, q in zip(plain.parameters(), net.parameters()):
        assert torch.equal(p, q) and p.stride() == q.stride()  # channels-last weights stay channels-last
        assert q.untyped_storage().data_ptr() == storage and q.data_ptr() % 64 == 0
    loss_of(net, x)(x).backward()
    for g, q in zip(expected, net.parameters()):
        torch.testing.assert_close(q.grad, g, rtol=1e-6, atol=1e-7)
    assert flat.tensors[0].grad.abs().sum() > 0
    net.load_state_dict(plain.state_dict())  # state dicts read and write the views
    assert net[0].weight.untyped_storage().data_ptr() == storage


def test_adam_on_the_flat_tensor_takes_the_same_steps():
    x = torch.randn(4, 2, 8, 8)
    plain, net = network(), network()
    plain_adam = torch.optim.Adam(plain.parameters(), lr=1e-2)
    flat = FlatParameters(net)
    flat_adam = torch.optim.Adam(flat.tensors, lr=1e-2)
    gradient = LossGradient(flat, loss_of(net, x), compile=False)
    for _ in range(5):
        plain_adam.zero_grad()
        loss_of(plain, x)(x).backward()
        plain_adam.step()
        gradient(x)
        flat_adam.step()
    for p, q in zip(plain.parameters(), net.parameters()):
        torch.testing.assert_close(q, p, rtol=1e-6, atol=1e-7)


def test_the_compiled_gradient_is_the_eager_one_in_one_graph(caplog):
    x = torch.randn(4, 2, 8, 8, dtype=torch.float64)
    nets = [network().double() for _ in range(2)]
    flats = [FlatParameters(net) for net in nets]

    def with_terms(net):
        return lambda batch: (loss_of(net, batch)(batch), {"weights": net[4].weight.square().sum()})

    eager = LossGradient(flats[0], with_terms(nets[0]), compile=False)
    with caplog.at_level(logging.WARNING, logger="pdekit"):
        compiled = LossGradient(flats[1], with_terms(nets[1]), compile=True)
        for _ in range(2):  # the second call reuses the compiled graph
            value, terms = compiled(x)
    assert compiled.compiled and not caplog.records
    expected_value, expected_terms = eager(x)
    torch.testing.assert_close(value, expected_value.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(terms["weights"], expected_terms["weights"].detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(flats[1].tensors[0].grad, flats[0].tensors[0].grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("optimizer, options", [(torch.optim.Adam, {}), (torch.optim.AdamW, {"weight_decay": 0.1})])
def test_the_compiled_adam_step_takes_the_eager_steps(caplog, optimizer, options):
    """Loss, gradient and Adam's update in one graph: the parameters, the gradient and Adam's state
    after each step are those of ``gradient`` then ``adam.step()``, through a change of rate."""
    x = torch.randn(4, 2, 8, 8, dtype=torch.float64)
    nets = [network().double() for _ in range(2)]
    flats = [FlatParameters(net) for net in nets]
    adams = [optimizer(flat.tensors, lr=1e-2, **options) for flat in flats]
    eager = AdamStep(LossGradient(flats[0], loss_of(nets[0], x), compile=False), adams[0])
    with caplog.at_level(logging.WARNING, logger="pdekit"):
        compiled = AdamStep(LossGradient(flats[1], loss_of(nets[1], x), compile=True), adams[1])
        for step in range(6):
            if step == 3:
                for adam in adams:
                    adam.param_groups[0]["lr"] = 3e-3
            value, expected = compiled(x), eager(x)
            torch.testing.assert_close(value, expected.detach(), rtol=1e-12, atol=0)
    assert compiled._compiled is not None and not caplog.records
    eager_state, compiled_state = adams[0].state[flats[0].tensors[0]], adams[1].state[flats[1].tensors[0]]
    assert float(compiled_state["step"]) == 6 and compiled_state["step"].dtype == eager_state["step"].dtype
    for name in ("exp_avg", "exp_avg_sq"):
        torch.testing.assert_close(compiled_state[name], eager_state[name], rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(flats[1].tensors[0], flats[0].tensors[0], rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(flats[1].tensors[0].grad, flats[0].tensors[0].grad, rtol=1e-10, atol=1e-14)


def test_a_loss_that_cannot_be_compiled_falls_back_to_eager_with_one_warning(caplog):
    net = network()
    flat = FlatParameters(net)
    x = torch.randn(4, 2, 8, 8)

    def numpy_loss(batch):  # leaves torch: no graph of its gradient can be traced
        return net(batch).sum() * float(net(batch).detach().numpy().sum() != 0)

    reference = copy.deepcopy(net)
    expected = torch.autograd.grad(reference(x).sum(), list(reference.parameters()))
    gradient = LossGradient(flat, numpy_loss, compile=True)
    with caplog.at_level(logging.WARNING, logger="pdekit"):
        gradient(x)
        gradient(x)
    assert not gradient.compiled
    assert [r.message for r in caplog.records if "falling back to eager" in r.message]
    assert len(caplog.records) == 1
    for g, q in zip(expected, net.parameters()):
        torch.testing.assert_close(q.grad, g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
def test_parameters_of_several_dtypes_get_a_flat_tensor_each(dtype):
    module = torch.nn.Module()
    module.real = torch.nn.Parameter(torch.randn(3))
    module.other = torch.nn.Parameter(torch.randn(2, 2, dtype=dtype))
    module.frozen = torch.nn.Parameter(torch.randn(4), requires_grad=False)
    flat = FlatParameters(module)
    assert len(flat.tensors) == (1 if dtype == torch.float32 else 2)
    assert sorted(flat.views(flat.tensors)) == ["other", "real"]  # the frozen one is left alone
