"""Shared test set-up: optional dependencies as markers, a private data cache."""

from __future__ import annotations

import importlib.util
import os

import pytest

MISSING = {
    "fenics": ("dolfinx", "dolfinx (FEniCSx) is not installed: apt-get install python3-dolfinx-real "
                          "or conda install -c conda-forge fenics-dolfinx"),
    "deepxde": ("deepxde", "deepxde is not installed: pip install 'pdekit[deepxde]'"),
    "peers": ("neuralop", "neuraloperator (the FNO peer) is not installed: pip install 'pdekit[peers]'"),
}


def pytest_collection_modifyitems(config, items):
    for marker, (module, reason) in MISSING.items():
        if importlib.util.find_spec(module) is None:
            for item in items:
                if marker in item.keywords:
                    item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True, scope="session")
def private_data_cache(tmp_path_factory):
    """References and datasets made by the tests go to a temporary folder, not ./data."""
    folder = tmp_path_factory.mktemp("pdekit-data")
    previous = os.environ.get("PDEKIT_DATA")
    os.environ["PDEKIT_DATA"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("PDEKIT_DATA", None)
    else:
        os.environ["PDEKIT_DATA"] = previous


@pytest.fixture
def resumes_bit_for_bit(tmp_path, monkeypatch):
    """A check: a run killed after its step-20 checkpoint, then resumed, equals the whole run."""
    import torch

    from pdekit.solvers.training import Trainer

    def check(make_solver, problem):
        whole = make_solver().solve(problem, checkpoint=tmp_path / "whole.pt")
        calls = {"n": 0}
        original = Trainer._set_lr

        def interrupt(self):
            calls["n"] += 1
            if calls["n"] == 25:  # killed mid-way, after the checkpoint at step 20
                raise KeyboardInterrupt
            original(self)

        monkeypatch.setattr(Trainer, "_set_lr", interrupt)
        with pytest.raises(KeyboardInterrupt):
            make_solver().solve(problem, checkpoint=tmp_path / "run.pt")
        monkeypatch.setattr(Trainer, "_set_lr", original)
        assert torch.load(tmp_path / "run.pt", weights_only=False)["step"] == 20
        resumed = make_solver().solve(problem, checkpoint=tmp_path / "run.pt", resume=True)
        assert resumed.history.column("loss") == whole.history.column("loss")
        for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values()):
            assert torch.equal(a, b)

    return check


@pytest.fixture
def killed_after_two_checkpoints(monkeypatch):
    """A context in which operator training is killed (``KeyboardInterrupt``) right after its second
    checkpoint, as a scheduler would kill it; the loop is whole again after it."""
    import contextlib

    from pdekit.operators import training as loop

    @contextlib.contextmanager
    def killed():
        original, calls = loop._save, {"n": 0}

        def save_then_die(*args):
            original(*args)
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr(loop, "_save", save_then_die)
        try:
            with pytest.raises(KeyboardInterrupt):
                yield
        finally:
            monkeypatch.setattr(loop, "_save", original)

    return killed
