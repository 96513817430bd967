"""Atomic writes: the old file or the new one, never half of one, and no temporary left behind."""

import json
import os

import pytest

from pdekit.atomic import atomic_write, write_json


def test_write_json_round_trips_and_makes_parent_folders(tmp_path):
    target = tmp_path / "deep" / "er" / "result.json"
    assert write_json(target, {"error": 1.5e-3, "rows": [1, 2]}) == target
    assert json.loads(target.read_text()) == {"error": 1.5e-3, "rows": [1, 2]}
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.json"]


def test_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_json(tmp_path / "result.json", {"kept": True})

    def half_then_killed(temporary):
        temporary.write_text('{"kept": fal')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, half_then_killed)
    assert json.loads(target.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_unserialisable_data_touches_no_file(tmp_path):
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json(tmp_path / "result.json", {"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_new_file_gets_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        target = write_json(tmp_path / "result.json", [])
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644
