"""Data-parallel operator training under torchrun.

``torchrun --nproc-per-node=K -m pdekit train ...`` (or ``pdekit run`` of a train config) starts K
processes; :class:`TorchDistributed` joins them (NCCL on GPUs, gloo on CPUs), gives each its share
of every global batch (a :class:`~torch.utils.data.DistributedSampler` with the epoch set),
wraps the model in DistributedDataParallel and averages metrics over ranks; rank 0 alone writes
checkpoints, which hold no world size, so a run resumes under another one.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from ..operators.training import Distribution

__all__ = ["TorchDistributed"]


class TorchDistributed(Distribution):
    """This process as one rank of a torchrun job (reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT)."""

    def __init__(self):
        missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise ValueError(f"not started by torchrun (missing {', '.join(missing)}): launch with "
                             "torchrun --nproc-per-node=K -m pdekit train ...")
        self.cuda = torch.cuda.is_available()
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.cuda:
            torch.cuda.set_device(self.local_rank)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if self.cuda else "gloo")
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self._wrapped = None

    def wrap(self, model):
        from torch.nn.parallel import DistributedDataParallel

        self._wrapped = DistributedDataParallel(model, device_ids=[self.local_rank] if self.cuda else None)
        return self._wrapped

    def average(self, value: float) -> float:
        device = torch.device("cuda", self.local_rank) if self.cuda else torch.device("cpu")
        total = torch.tensor([float(value)], dtype=torch.float64, device=device)
        dist.all_reduce(total)
        return float(total) / self.world

    def close(self):
        """Leave the group cleanly (without the barrier a gloo rank aborts at exit)."""
        self._wrapped = None
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
