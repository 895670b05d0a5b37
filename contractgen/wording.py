"""How deal-sheet messages show what was found: short, quoted, invisible characters escaped.

Shared by the strict JSON reader, the schema messages and the cross-field rules, so that a
value reads the same in every message.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_SHOWN = 60

JsonPath = str
Finding = tuple[JsonPath, str]  # (JSON path, message)

_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(text: str) -> str:
    """Quote ``text`` for a message: shortened, invisible characters escaped."""
    short = shorten(text)
    escaped = short.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


def described(value: Any) -> str:
    """Describe a found value in a few words."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return shorten(plain_number(value))
    if isinstance(value, dict):
        return "an object { ... }"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    return shorten(repr(value))


def plain_number(value: float) -> str:
    """Write a number the way a person would: 100, not 100.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
