"""What the operator benchmarks share: training in turns, inference timing, the zero-padding ablation."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import torch


class TakeTurns:
    """Trains operators in threads of one process, one epoch per turn, one at a time; the next turn
    goes to the one with the least training time so far (the loop leaves the waiting out of it)."""

    def __init__(self):
        self.condition = threading.Condition()
        self.turn, self.used, self.done, self.errors, self.load = None, {}, set(), {}, []

    def _hand_back(self, name: str, row: dict):
        with self.condition:
            self.used[name] = row["wall_time"]
            self.load.append(os.getloadavg()[0])
            self.turn = None
            self.condition.notify_all()
            self.condition.wait_for(lambda: self.turn == name)

    def run(self, jobs: dict):
        """``jobs``: name -> ``job(on_epoch)`` that trains (calling ``on_epoch(row)`` after each epoch)."""
        def work(name, job):
            with self.condition:
                self.condition.wait_for(lambda: self.turn == name)
            try:
                job(lambda row: self._hand_back(name, row))
            except BaseException as error:  # noqa: BLE001 - raised again in the main thread
                self.errors[name] = error
            with self.condition:
                self.done.add(name)
                self.turn = None
                self.condition.notify_all()

        self.used, self.done, self.errors = {name: 0.0 for name in jobs}, set(), {}
        threads = [threading.Thread(target=work, args=item, daemon=True) for item in jobs.items()]
        for thread in threads:
            thread.start()
        while True:
            with self.condition:
                waiting = [name for name in jobs if name not in self.done]
                if not waiting:
                    break
                self.turn = min(waiting, key=self.used.get)
                self.condition.notify_all()
                self.condition.wait_for(lambda: self.turn is None)
        for thread in threads:
            thread.join()
        if self.errors:
            name, error = next(iter(self.errors.items()))
            raise RuntimeError(f"training {name} failed") from error


def inference_ms(operator, inputs: np.ndarray, repeats: int = 3) -> float:
    """Milliseconds per sample of the network on a batch of 100 (the best of ``repeats``, after a warm-up)."""
    x = torch.as_tensor(inputs[:100], dtype=operator.dtype)
    times = []
    with torch.no_grad():
        operator.model(x[:2])
        for _ in range(repeats):
            start = time.perf_counter()
            operator.model(x)
            times.append(time.perf_counter() - start)
    return 1000 * min(times) / len(x)



def zero_padded(operator_class):
    """``operator_class`` padded with zeros on every side whatever the Problem says (the ablation)."""

    class ZeroPadded(operator_class):
        name = f"{operator_class.name}_zero_padding"

        def _network(self, meta):
            sides = {side: "dirichlet" for side in meta["structure"]["sides"]}
            return super()._network({**meta, "structure": {**meta["structure"], "sides": sides}})

    return ZeroPadded
