"""Per-channel normalisation fitted on the training split and saved with the model.

Per channel (not per grid point, as FNO's ``UnitGaussianNormalizer``), so a model trained on one
grid applies unchanged on another (zero-shot resolution transfer).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ChannelNormaliser", "Normalised"]


class ChannelNormaliser(nn.Module):
    """``(x - mean) / std`` per channel (axis 1 of ``(N, C, ...)``), with its inverse."""

    def __init__(self, channels: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def fit(self, values: torch.Tensor) -> "ChannelNormaliser":
        """Mean and standard deviation of each channel over samples and grid (constant channels keep std 1)."""
        flat = values.transpose(0, 1).reshape(values.shape[1], -1).double()
        std = flat.std(dim=1)
        self.mean.copy_(flat.mean(dim=1))
        self.std.copy_(torch.where(std > 1e-12 * flat.abs().amax(dim=1).clamp_min(1e-30), std, torch.ones_like(std)))
        return self

    def _shape(self, values):
        return (1, -1) + (1,) * (values.ndim - 2)

    def encode(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean.view(self._shape(values))) / self.std.view(self._shape(values))

    def decode(self, values: torch.Tensor) -> torch.Tensor:
        return values * self.std.view(self._shape(values)) + self.mean.view(self._shape(values))


class Normalised(nn.Module):
    """A network between normalised spaces, seen from outside in physical units.

    The first input is normalised; further inputs (DeepONet's query points) pass unchanged.
    """

    def __init__(self, network: nn.Module, inputs: int, outputs: int):
        super().__init__()
        self.network = network
        self.inputs = ChannelNormaliser(inputs)
        self.outputs = ChannelNormaliser(outputs)

    def forward(self, x: torch.Tensor, *rest) -> torch.Tensor:
        return self.outputs.decode(self.network(self.inputs.encode(x), *rest))
