"""Python values written as Hydra override values, for commands that build overrides (a sweep's
fixed values, a search's sampled parameters)."""

from __future__ import annotations

import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_KEYWORDS = {"null", "true", "false", "nan", "inf"}


def override_value(value: Any) -> str:
    """``value`` in Hydra's override syntax (``null``, ``true``, ``3``, ``'a b'``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _KEYWORDS:
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
