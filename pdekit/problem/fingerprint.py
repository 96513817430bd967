"""Stable fingerprints of problems and settings, the keys of the on-disk caches."""

from __future__ import annotations

import hashlib
import json
import types

import numpy as np

__all__ = ["fingerprint", "family_fingerprint", "describe"]


def describe(value):
    """A JSON-able description that changes whenever the value's behaviour can change."""
    if isinstance(value, types.FunctionType):
        code = value.__code__
        closure = [c.cell_contents for c in value.__closure__ or ()]
        return {"code": _code(code), "defaults": describe(value.__defaults__), "closure": describe(closure)}
    if isinstance(value, types.ModuleType):  # a closure over an imported module: its name, not its contents
        return {"module": value.__name__}
    if isinstance(value, type):
        return {"class": f"{value.__module__}.{value.__qualname__}"}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    if isinstance(value, dict) or hasattr(value, "items") and callable(value.items):
        return {str(k): describe(v) for k, v in sorted(value.items())}
    if isinstance(value, np.ndarray):
        return {"array": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(), "shape": value.shape}
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    if hasattr(value, "__dataclass_fields__"):
        return {type(value).__name__: {k: describe(getattr(value, k)) for k in value.__dataclass_fields__
                                       if not k.startswith("_")}}
    if hasattr(value, "__dict__"):  # private attributes are derived state (and may cycle)
        return {type(value).__name__: describe({k: v for k, v in vars(value).items() if not k.startswith("_")})}
    return repr(value)


def _code(code: types.CodeType):
    consts = [_code(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return [code.co_code.hex(), consts, list(code.co_names)]


def fingerprint(*values) -> str:
    """A short hex digest of the values (problems, settings dicts, ...)."""
    return _digest(describe(list(values)))


def family_fingerprint(problem) -> str:
    """The fingerprint of a problem as the family its datasets sample: the parameters its input
    family draws are left out (every sample has its own, and the family is described apart), so
    the key does not hang on the bits of the default draw, which vary with the BLAS threads."""
    description = describe(problem)
    drawn = problem.input_family.params if problem.input_family is not None else ()
    params = description["Problem"]["params"]
    description["Problem"]["params"] = {name: value for name, value in params.items() if name not in drawn}
    return _digest([description])


def _digest(description) -> str:
    text = json.dumps(description, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
