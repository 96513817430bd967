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


@pytest.mark.fenics
def test_demo_runs_and_prints_no_compiler_logs(tmp_path):
    """``make demo``'s pipeline at tiny settings, with an empty FFCx cache so that every form is
    compiled: the output is the demo's table, not the C compiler's command lines."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PDEKIT_DATA": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "pdekit.demo", "--fast", "--out", str(tmp_path / "results")],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "gcc" not in output and "INFO" not in output and "building 'libffcx" not in output, output[:2000]
    assert "what each solver ran:" in result.stdout and "fenics" in result.stdout and "pinn" in result.stdout
    for name in ("burgers1d_fenics.nc", "burgers1d_pinn.nc", "burgers1d.png"):
        assert (tmp_path / "results" / name).exists(), name
