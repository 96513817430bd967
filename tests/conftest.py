"""Shared test set-up: optional dependencies as markers, a private data cache."""

from __future__ import annotations

import importlib.util
import os

import pytest

MISSING = {
    "fenics": ("dolfinx", "dolfinx (FEniCSx) is not installed: apt-get install python3-dolfinx-real "
                          "or conda install -c conda-forge fenics-dolfinx"),
    "deepxde": ("deepxde", "deepxde is not installed: pip install 'pdekit[deepxde]'"),
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
