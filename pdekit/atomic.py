"""Atomic file writes: write to a temporary file beside the target, then rename it over the target.

A reader (or a rerun after a kill) sees the old file or the new one, never half of one, and an
interrupted write leaves no temporary file behind.  Results, datasets, checkpoints and the
benchmarks' JSON all go through :func:`atomic_write`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "write_json"]


def atomic_write(path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary)`` to fill a new file beside ``path``, then rename it to ``path``.

    The temporary file is created like any new file (mode ``0o666`` less the umask) and
    exclusively, so concurrent writers never share one; parent folders are made as needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_json(path, data, indent: int | None = 2) -> Path:
    """Write ``data`` as JSON to ``path``, atomically."""
    text = json.dumps(data, indent=indent)  # serialise first: a failure here touches no file
    return atomic_write(path, lambda temporary: temporary.write_text(text))
