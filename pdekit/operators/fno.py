"""The Fourier neural operator of the ``neuraloperator`` package (2.x), as a peer for benchmarks.

Only a wrapper: the network is ``neuralop.models.FNO``, imported when one is built (``pip install
pdekit[peers]``), and it trains through pdekit's loop, so it shares the data, normalisers, losses
and interface of every other operator.  The defaults are the package's documented Darcy example
(``examples/models/plot_FNO_darcy.py``): 16 modes per axis, 32 hidden channels, projection ratio
2, the grid positional embedding (here over the Problem's box), AdamW at 8e-3 with weight decay
1e-4 on a cosine schedule, H1 training loss.  The FNO treats every axis as periodic whatever the
Problem says: that is the model, not pdekit's padding.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

import torch

from .base import GridOperator, GridTraining

__all__ = ["FNO", "FNOConfig", "fno_available"]


def fno_available() -> bool:
    """Whether ``neuraloperator`` (the ``peers`` extra) is installed."""
    return importlib.util.find_spec("neuralop") is not None


def _neuralop():
    if not fno_available():
        raise ImportError("the FNO operator wraps the neuraloperator package, which is not installed: "
                          "pip install 'pdekit[peers]' (or: pip install neuraloperator==2.0.0)")
    import neuralop.layers.embeddings
    import neuralop.models

    return neuralop


@dataclass(frozen=True)
class FNOConfig(GridTraining):
    """FNO settings: ``modes`` Fourier modes kept per axis, ``hidden_channels``, ``layers`` Fourier layers,
    ``projection_channel_ratio`` (the projection's hidden width over ``hidden_channels``)."""

    modes: int = 16
    hidden_channels: int = 32
    layers: int = 4
    projection_channel_ratio: int = 2
    lr: float = 8e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    loss: str = "h1"

    def __post_init__(self):
        super().__post_init__()
        if min(self.modes, self.hidden_channels, self.layers, self.projection_channel_ratio) < 1:
            raise ValueError(f"the FNO needs modes, hidden_channels, layers and projection_channel_ratio >= 1, got "
                             f"{self.modes}, {self.hidden_channels}, {self.layers}, {self.projection_channel_ratio}")


class FNO(GridOperator):
    """neuraloperator's FNO as a pdekit operator on a Problem's grid."""

    name = "fno"
    Config = FNOConfig
    embeds_position = True

    def _network(self, meta):
        neuralop, c = _neuralop(), self.config
        structure = meta["structure"]
        dim = structure["dim"]
        embedding = neuralop.layers.embeddings.GridEmbeddingND(
            in_channels=meta["in_channels"], dim=dim,
            grid_boundaries=[[lo, hi] for lo, hi in zip(structure["lower"], structure["upper"])])
        network = neuralop.models.FNO(n_modes=(c.modes,) * dim, in_channels=meta["in_channels"],
                                      out_channels=meta["out_channels"], hidden_channels=c.hidden_channels,
                                      n_layers=c.layers, projection_channel_ratio=c.projection_channel_ratio,
                                      positional_embedding=embedding)
        # neuraloperator's state_dict adds an unprefixed "_metadata" entry, which breaks the state of any
        # module holding the FNO (pdekit's normalisers, checkpoints); pdekit saves the config instead
        network.state_dict = functools.partial(torch.nn.Module.state_dict, network)
        return network
