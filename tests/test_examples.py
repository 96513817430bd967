"""The README's Python example runs as documented and its numbers make sense."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.fenics
def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert (tmp_path / "results" / "ac.nc").exists() and (tmp_path / "results" / "ac.png").exists()
    error = float(namespace["comparison"].metrics["u_rel_l2"])
    assert 1e-4 < error < 0.2  # a coarse solve differs from the fine one, but not wildly
    assert "rel L2" in capsys.readouterr().out
