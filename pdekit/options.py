"""Settings dataclasses from keyword options: the one place CLI strings become typed values."""

from __future__ import annotations

import dataclasses

__all__ = ["config_from_options", "with_options"]

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _convert(key: str, value, default):
    if not isinstance(value, str) or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool) or default is None and value.lower() in _TRUE + _FALSE:
            if value.lower() not in _TRUE + _FALSE:
                raise ValueError
            return value.lower() in _TRUE
        if isinstance(default, int) or default is None and value.lstrip("-").isdigit():
            return int(value)
        return float(value)
    except ValueError:
        kind = "boolean" if isinstance(default, bool) else type(default).__name__ if default is not None else "number"
        raise ValueError(f"option {key} expects a {kind}, got {value!r}") from None


def config_from_options(cls, options: dict, what: str):
    """``cls(**options)`` with unknown names rejected (listing the valid ones) and strings converted."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [key for key in options if key not in fields]
    if unknown:
        raise ValueError(f"unknown {what} option {unknown[0]!r}; valid options: {', '.join(fields)}")
    return cls(**{key: _convert(key, value, fields[key].default) for key, value in options.items()})


def with_options(config, options: dict, what: str):
    """``config`` with the given options replaced (validated like :func:`config_from_options`)."""
    if not options:
        return config
    given = config_from_options(type(config), options, what)
    return dataclasses.replace(config, **{key: getattr(given, key) for key in options})
