"""MPI ranks (``mpirun -n N pdekit ...``): dataset generation and sweeps share their work over them."""

from __future__ import annotations

import os

__all__ = ["mpi_world"]


def mpi_world():
    """``(rank, size, comm)`` when started by mpirun with more than one rank, else ``None``.

    Read from the launcher's environment first, so that a plain run never initialises MPI.
    """
    if not any(key in os.environ for key in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK")):
        return None
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    return (comm.rank, comm.size, comm) if comm.size > 1 else None
