"""A network's trainable parameters as views of one buffer per dtype, and a loss's gradient in one call.

On the small networks of neural fields and DeepONets a training step's arithmetic takes tens of
microseconds, and the fixed costs around it take more: the optimiser's per-parameter work (state
lookups, step counters, one launch per tensor), the autograd engine walking the graph, the
gradient accumulation per parameter.  With the parameters flattened the optimiser sees one tensor
per dtype (Adam's update is elementwise: the result is the same).  Compiled, the loss and its
gradient with respect to the flat parameters are one graph (``torch.func.grad_and_value`` through
``functional_call``): one call per step, with no autograd engine in it; an Adam step can join that
graph too (:class:`AdamStep`).
"""

from __future__ import annotations

import logging
from typing import Callable

import torch
from torch.func import functional_call, grad_and_value
from torch.optim.adam import adam as adam_update  # PyTorch's functional Adam (what Adam.step runs)

__all__ = ["FlatParameters", "LossGradient", "AdamStep"]

log = logging.getLogger("pdekit")


class FlatParameters:
    """Rebind ``module``'s trainable parameters (in order) to views of one flat
    :class:`torch.nn.Parameter` per ``(dtype, device)``, their gradients to views of its gradient.

    Give the optimiser :attr:`tensors`.  The module keeps working as before: its ``state_dict`` and
    ``load_state_dict`` read and write the views, and backward accumulates into the gradient views
    in place, so the flat gradient is complete after it.
    """

    def __init__(self, module: torch.nn.Module):
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        groups: dict[tuple, list[tuple[str, torch.nn.Parameter]]] = {}
        for name, p in named:
            groups.setdefault((p.dtype, p.device), []).append((name, p))
        self.module, self.tensors, self.layout = module, [], []  # (flat index, name, (shape, strides, offset))
        for index, members in enumerate(groups.values()):
            # each view starts on a 64-byte boundary, as a tensor of its own does: kernels (oneDNN's
            # convolutions) choose their code by alignment, and a saved model must compute the same
            align, offsets, size = max(1, 64 // members[0][1].element_size()), [], 0
            for _, p in members:
                offsets.append(size)
                size += p.numel() + (-p.numel()) % align
            flat = torch.nn.Parameter(members[0][1].new_zeros(size))  # padding: zero, with zero gradient
            flat.grad = torch.zeros_like(flat)
            for (name, p), offset in zip(members, offsets):
                layout = (p.shape, p.stride(), offset)  # the parameter's own strides (channels-last stays so)
                view = flat.data.as_strided(*layout)
                view.copy_(p.detach())
                p.data, p.grad = view, flat.grad.as_strided(*layout)
                self.layout.append((index, name, layout))
            self.tensors.append(flat)

    def views(self, tensors) -> dict[str, torch.Tensor]:
        """The module's parameters, by name, as views of ``tensors`` (flat tensors laid out as :attr:`tensors`)."""
        return {name: tensors[index].as_strided(*layout) for index, name, layout in self.layout}

    def zero_grad(self):
        for flat in self.tensors:
            flat.grad.zero_()


class _Loss(torch.nn.Module):
    """``loss(batch)`` as a module holding the network, so that ``functional_call`` can swap its parameters."""

    def __init__(self, module, loss):
        super().__init__()
        self.module, self.loss = module, loss

    def forward(self, batch):
        return self.loss(batch)


class LossGradient:
    """``gradient(batch) -> loss``: evaluates ``loss(batch)`` (a scalar, or ``(scalar, aux)``) and leaves
    its gradient in the flat parameters' ``.grad``.

    Compiled: ``torch.func.grad_and_value`` of the loss as a function of the flat tensors, under
    ``torch.compile``, one graph for value and gradient; if that fails, the eager path, with one
    logged reason.  Eager (and for a distributed wrapper, whose hooks need it): ``backward()``.
    ``loss`` must reach the parameters through ``parameters.module`` (any wrapper of it is fine).
    """

    def __init__(self, parameters: FlatParameters, loss: Callable, compile: bool):
        self.parameters, self.loss, self.compiled = parameters, loss, False
        if not compile:
            return
        holder = _Loss(parameters.module, loss)

        def value_of(tensors, batch):
            out = functional_call(holder, {f"module.{k}": v for k, v in parameters.views(tensors).items()}, (batch,))
            return (out[0], out) if isinstance(out, tuple) else (out, out)

        self.value_and_gradient = grad_and_value(value_of, has_aux=True)  # (tensors, batch) -> (grads, (loss, out))
        try:
            self._compiled = torch.compile(self.value_and_gradient, dynamic=False, fullgraph=True)
        except Exception as error:  # noqa: BLE001 - any failure means: run eagerly
            log.warning("torch.compile unavailable (%s: %s); training eagerly", type(error).__name__, error)
            return
        self.compiled = True

    def __call__(self, batch):
        if self.compiled:
            try:
                grads, (_, out) = self._compiled(tuple(t.detach() for t in self.parameters.tensors), batch)
            except Exception as error:  # noqa: BLE001
                log.warning("torch.compile failed (%s: %s); falling back to eager", type(error).__name__,
                            str(error).splitlines()[0] if str(error) else "")
                self.compiled = False
            else:
                for flat, grad in zip(self.parameters.tensors, grads):
                    flat.grad.copy_(grad)
                return out
        self.parameters.zero_grad()
        out = self.loss(batch)
        (out[0] if isinstance(out, tuple) else out).backward()
        return out


class AdamStep:
    """``step(batch) -> loss``: one step of ``adam`` (:class:`torch.optim.Adam` or ``AdamW``, one
    parameter group, over the flat tensors) on the loss of ``gradient``.

    Compiled, the loss, its gradient and PyTorch's own Adam update (the functional
    ``torch.optim.adam.adam``, on Adam's state tensors in place; the learning rate passed as a
    tensor, so a schedule does not recompile) run as one graph.  Between two compiled calls, an
    optimiser step costs about 130 µs of Python: 10% of a compiled burgers1d PINN step here.
    Eager, on the first step (Adam creates its state there), and after a failure (logged): the
    gradient, then ``adam.step()``.  Either way the flat gradient holds the step's gradient after it.
    """

    def __init__(self, gradient: LossGradient, adam: torch.optim.Optimizer):
        self.gradient, self.adam, self._compiled = gradient, adam, None
        if not gradient.compiled or len(adam.param_groups) != 1:
            return
        value_and_gradient = gradient.value_and_gradient

        def step(tensors, batch, states, lr, hyper):  # a closure, not a method: later models reuse the graph
            grads, (_, out) = value_and_gradient(tensors, batch)
            amsgrad = hyper["amsgrad"]
            # the step counts in float64, as the fused kernel of Adam.step takes them (its state keeps
            # float32): in float32 the bias corrections would differ from it by 1e-7
            steps = [s["step"].to(torch.float64) for s in states]
            adam_update(
                list(tensors), list(grads), [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states],
                [s["max_exp_avg_sq"] for s in states] if amsgrad else [], steps,
                foreach=False, fused=False, capturable=False, decoupled_weight_decay=hyper["decoupled_weight_decay"],
                amsgrad=amsgrad, beta1=hyper["betas"][0], beta2=hyper["betas"][1], lr=lr,
                weight_decay=hyper["weight_decay"], eps=hyper["eps"], maximize=hyper["maximize"])
            for state, count in zip(states, steps):
                state["step"].copy_(count)
            return grads, out

        self._lr = torch.zeros((), dtype=torch.float64, device=gradient.parameters.tensors[0].device)
        self._compiled = torch.compile(step, dynamic=False, fullgraph=True)

    def __call__(self, batch):
        tensors = self.gradient.parameters.tensors
        states = [self.adam.state.get(flat) for flat in tensors]
        if self._compiled is not None and self.gradient.compiled and all(states):
            group = self.adam.param_groups[0]
            self._lr.fill_(group["lr"])
            hyper = {k: group.get(k, False) for k in ("betas", "eps", "weight_decay", "amsgrad", "maximize",
                                                      "decoupled_weight_decay")}
            try:
                grads, out = self._compiled(tuple(t.detach() for t in tensors), batch, states, self._lr, hyper)
            except Exception as error:  # noqa: BLE001 - any failure means: the two calls
                log.warning("torch.compile failed for the Adam step (%s: %s); its update runs eagerly",
                            type(error).__name__, str(error).splitlines()[0] if str(error) else "")
                self._compiled = None
            else:
                for flat, grad in zip(tensors, grads):
                    flat.grad.copy_(grad)
                return out
        out = self.gradient(batch)
        self.adam.step()
        return out
