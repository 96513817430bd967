"""Speed against a peer, measured so that machine noise hits every contender alike: alternating
rounds of fresh runs (the order reversed every other round), the median per contender, and the
machine's load recorded around every round."""

from __future__ import annotations

import os
import statistics
from typing import Callable


def load_now() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    return [round(v, 2) for v in os.getloadavg()]


def alternating_rounds(contenders: dict[str, Callable[[int], float]], rounds: int) -> dict:
    """``contenders``: name -> ``rate(round)`` (one fresh timed run, its rate).  Returns per contender
    ``{"median", "rounds"}``, and ``"load"``: the load averages before each round and after the last."""
    rates, load = {name: [] for name in contenders}, []
    for r in range(rounds):
        load.append(load_now())
        for name in (list(contenders) if r % 2 == 0 else list(reversed(contenders))):
            rates[name].append(contenders[name](r))
    load.append(load_now())
    return {**{name: {"median": statistics.median(values), "rounds": values} for name, values in rates.items()},
            "load": load}
