"""Preemption and time limits: a scheduler's warning signal becomes a checkpoint at a safe point.

SLURM (``--signal``) and submitit send ``SIGUSR2`` before a job is preempted or hits its time
limit; ``SIGTERM`` and ``SIGUSR1`` mean the same elsewhere.  :func:`watch` installs handlers that
only note the request; every long loop in pdekit (neural-field training, INSR's time steps, the
FEniCS reference's time stepping, dataset generation, operator training) calls :func:`check` at
its safe points, where state is consistent: there it writes its checkpoint and raises
:class:`Preempted`.  The run is then requeued and resumed from that checkpoint, bit for bit on
CPU.  Under submitit the requeue is submitit's own (the handler it had installed is called once
the checkpoint is written); a plain job exits with :data:`EXIT_CODE` for its script to requeue.
"""

from __future__ import annotations

import contextlib
import signal
from typing import Callable

__all__ = ["Preempted", "watch", "check", "requested", "requeue", "EXIT_CODE", "SIGNALS"]

#: the exit status of a preempted run (EX_TEMPFAIL: "try again")
EXIT_CODE = 75
SIGNALS = ("SIGUSR2", "SIGTERM", "SIGUSR1")

_state: dict = {"signal": None, "previous": {}}


class Preempted(Exception):
    """A run stopped at a safe point after a preemption signal; its checkpoint is written."""

    def __init__(self, where: str, signum: int):
        super().__init__(f"preempted by {signal.Signals(signum).name}: stopped {where}; rerun the same command "
                         "to resume from the checkpoint")
        self.signum = signum


def _note(signum, frame):
    _state["signal"] = signum


@contextlib.contextmanager
def watch():
    """Within this block, the preemption signals are noted instead of ending the process."""
    previous = {}
    _state["signal"] = None
    for name in SIGNALS:
        number = getattr(signal, name)
        previous[number] = signal.signal(number, _note)
    _state["previous"] = previous
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        _state["previous"], _state["signal"] = {}, None


def requested() -> int | None:
    """The preemption signal received (``None`` if none)."""
    return _state["signal"]


def check(where: str, save: Callable[[], object] | None = None):
    """At a safe point: if a preemption was requested, ``save()`` the checkpoint and raise :class:`Preempted`."""
    signum = _state["signal"]
    if signum is None:
        return
    if save is not None:
        save()
    raise Preempted(where, signum)


def requeue(error: Preempted) -> int:
    """After a preempted run, inside :func:`watch`: hand over to the handler the scheduler's
    library had installed (submitit: ``checkpoint()`` of the job's callable, requeue, exit), else
    return the exit status a job script requeues on."""
    handler = _state["previous"].get(error.signum)
    _state["signal"] = None
    if callable(handler) and handler is not _note:
        handler(error.signum, None)
    return EXIT_CODE
