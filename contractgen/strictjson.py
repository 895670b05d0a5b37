"""Read a deal sheet as strict JSON: the first failure is an ``InputError`` (exit 3).

UTF-8 only (a UTF-8 byte-order mark is dropped, UTF-16 refused), at most ``MAX_BYTES``, no
duplicate keys, no NaN or Infinity, no huge integers, nesting at most ``MAX_DEPTH`` deep, no
lone surrogates. Messages name the line and column.
"""

from __future__ import annotations

import codecs
import json
import math
import pickle
import re
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from contractgen.errors import InputError
from contractgen.wording import JsonPath, quote, shorten

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_INT_DIGITS = 15

class _Rejected(Exception):
    """A JSON token that parses but that a deal sheet must not contain."""

    def __init__(self, message: str, token: str):
        super().__init__(message)
        self.message = message
        self.token = token


class _DuplicateKey(Exception):
    """An object repeats a key."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


_STRING = r'"(?:[^"\\]++|\\.)*+"'
_NESTING_TOKEN = re.compile(_STRING + r"|[\[\]{}]")
_ANY_TOKEN = re.compile(_STRING + r'|[\[\]{}:,]|[^\s"\[\]{}:,]++')
_SURROGATE = re.compile("[\ud800-\udfff]")
# Decoded UTF-8 holds no surrogates: only \uD800-\uDFFF escapes can make them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def load_json(path: Path) -> Any:
    """Read ``path`` as strict UTF-8 JSON, raising InputError on any doubt."""
    return parse_json(read_json_bytes(path), str(path))


def read_json_bytes(path: Path) -> bytes:
    """Return the bytes of the file at ``path``, refusing unreadable or oversized files."""
    return _read_bytes(path, str(path))


def parse_json(data: bytes, name: str) -> Any:
    """Parse a file's bytes as strict UTF-8 JSON (``name`` names it in messages)."""
    text = _decode(data, name)
    _check_depth(text, name, data)
    data = _parse(text, name)
    if _SURROGATE_ESCAPE.search(text):
        _check_surrogates(data, name)
    return data


def _read_bytes(path: Path, name: str) -> bytes:
    """Return the file's bytes, refusing unreadable or oversized files."""
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except IsADirectoryError:
        raise InputError(f"{name}: cannot read: it is a directory") from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise InputError(f"{name}: cannot read: {reason}") from error
    if len(data) > MAX_BYTES:
        raise InputError(f"{name}: file is larger than {MAX_BYTES // 1024} KiB")
    return data


def _decode(data: bytes, name: str) -> str:
    """Decode UTF-8 (an optional BOM is dropped), naming the first bad byte."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{name}: not valid UTF-8: the file is UTF-16; save it as UTF-8")
    skip = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[skip:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = skip + error.start
        line = data.count(b"\n", 0, offset) + 1
        raise InputError(
            f"{name}: not valid UTF-8: byte 0x{data[offset]:02x} at byte offset {offset} "
            f"(line {line})"
        ) from None


def _check_depth(text: str, name: str, data: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the recursive parser sees it (``data``:
    the text's UTF-8 bytes)."""
    if not _shallow(data):
        _walk_depth(text, name)


def _walk_depth(text: str, name: str) -> None:
    """Walk the brackets outside strings one by one; refuse the first deeper than
    MAX_DEPTH, naming where it is."""
    depth = 0
    for match in _NESTING_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                where = _line_column(text, match.start())
                raise InputError(f"{name}: {where}: nested deeper than {MAX_DEPTH} levels")
        elif token in "]}":
            depth -= 1


# Every byte but brackets and quotes (in UTF-8, no byte of a multi-byte character is ASCII).
_NOT_BRACKET_OR_QUOTE = bytes(byte for byte in range(256) if byte not in b'[]{}"')


def _shallow(data: bytes) -> bool:
    """Whether the brackets outside strings pair up, nested at most MAX_DEPTH deep, in a
    UTF-8 text given as bytes: bytes operations only, at C speed (a deal sheet has
    thousands of brackets).

    Escaped backslashes, then escaped quotes, are dropped; the strings are then the runs
    between pairs of quotes, and what is left of the rest, once all but brackets are
    dropped, is the brackets alone. Each pass drops the innermost pairs, so a text nested
    N deep is empty after N passes. Exact for valid JSON, where a backslash only ever
    starts an escape in a string; for other texts, a no only costs ``_walk_depth``, and a
    yes lets the parser say what is wrong (``_parse``).
    """
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    parts = data.translate(None, _NOT_BRACKET_OR_QUOTE).split(b'"')
    if len(parts) % 2 == 0:  # a string that does not end
        return False
    brackets = b"".join(parts[::2])
    for _ in range(MAX_DEPTH):
        if not brackets:
            return True
        brackets = brackets.replace(b"[]", b"").replace(b"{}", b"")
    return not brackets


def _parse(text: str, name: str) -> Any:
    """Parse strict JSON: no duplicate keys, no NaN or Infinity, no huge numbers."""
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:  # nested deeper than the parser goes (not valid JSON either)
        _walk_depth(text, name)
        raise InputError(f"{name}: not valid JSON: nested too deeply to read") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{name}: not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except _DuplicateKey as error:
        where = _duplicate_key_location(text)
        raise InputError(
            f"{name}: not valid JSON: {where}duplicate key {quote(error.key)}"
        ) from None
    except _Rejected as error:
        where = _bare_token_location(text, error.token)
        raise InputError(f"{name}: not valid JSON: {where}{error.message}") from None


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build an object, refusing a repeated key."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _reject_constant(token: str) -> Any:
    """Refuse NaN, Infinity and -Infinity, which strict JSON does not have."""
    raise _Rejected(f"{token} is not allowed in JSON; write a number", token)


def _finite_float(token: str) -> float:
    """Parse a float, refusing one too large to represent."""
    value = float(token)
    if not math.isfinite(value):
        raise _Rejected(f"number {shorten(token)} is too large", token)
    return value


def _bounded_int(token: str) -> int:
    """Parse an integer, refusing absurdly long ones."""
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        raise _Rejected(f"number {shorten(token)} has more than {MAX_INT_DIGITS} digits", token)
    return int(token)


def _line_column(text: str, offset: int) -> str:
    """Describe a character offset as 'line L, column C'."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _bare_token_location(text: str, token: str) -> str:
    """Return 'line L, column C: ' for the first bare token equal to ``token``."""
    for match in _ANY_TOKEN.finditer(text):
        if match.group() == token:
            return _line_column(text, match.start()) + ": "
    return ""


def _duplicate_key_location(text: str) -> str:
    """Return 'line L, column C: ' for the first key repeated within its object."""
    tokens = list(_ANY_TOKEN.finditer(text))
    stack: list[set[str] | None] = []
    for index, match in enumerate(tokens):
        token = match.group()
        if token == "{":
            stack.append(set())
        elif token == "[":
            stack.append(None)
        elif token in "]}" and stack:
            stack.pop()
        elif token.startswith('"') and stack and stack[-1] is not None:
            if index + 1 < len(tokens) and tokens[index + 1].group() == ":":
                key = json.loads(token)
                if key in stack[-1]:
                    return _line_column(text, match.start()) + ": "
                stack[-1].add(key)
    return ""


def _check_surrogates(data: Any, name: str) -> None:
    """Refuse lone UTF-16 surrogates (from \\ud800-style escapes) in keys and strings."""
    for path, text in strings_in(data, include_keys=True):
        found = _SURROGATE.search(text)
        if found:
            code = f"U+{ord(found.group()):04X}"
            raise InputError(f"{name}: {path}: text contains a lone surrogate {code}")


def strings_in(data: Any, *, include_keys: bool = False,
               path: JsonPath = "$") -> Iterator[tuple[JsonPath, str]]:
    """Yield (JSON path, text) for every string in ``data`` (found at ``path``), without
    recursion."""
    stack: list[tuple[JsonPath, Any]] = [(path, data)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            yield where, node
        elif isinstance(node, dict):
            for key, value in reversed(node.items()):
                if include_keys:
                    yield where, key
                stack.append((f"{where}.{key}", value))
        elif isinstance(node, list):
            stack.extend((f"{where}[{i}]", item) for i, item in reversed(list(enumerate(node))))


# Values promised never to change (``share``), by identity: (the value, its key).
_SHARED: OrderedDict[int, tuple[Any, bytes]] = OrderedDict()
_SHARED_KEPT = 64  # the deal sheet's sections, normalised, of four contracts or so


def share(value: Any) -> None:
    """Promise that ``value``, a JSON value, is never changed: its key is taken now, and
    ``value_key`` gives it for this very object without encoding the value again (the
    normalised sections of a deal sheet, which the deals of a process share)."""
    _SHARED[id(value)] = (value, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    _SHARED.move_to_end(id(value))
    while len(_SHARED) > _SHARED_KEPT:
        _SHARED.popitem(last=False)


def clear_shared() -> None:
    """Forget the values promised never to change (for tests and benchmarks)."""
    _SHARED.clear()


def value_key(value: Any) -> bytes:
    """Return a key for a JSON value: equal keys mean equal values, of equal types at every
    level (1, 1.0 and true differ) and with their keys in the same order.

    Pickled, which is a lossless encoding (what it decodes to is the value again), and three
    times as fast as ``json.dumps`` for a deal's sections. Equal values may still get
    different keys when they share objects differently (pickle writes an object met twice
    as a reference); a key is only ever used to find what was computed for an equal value,
    so that costs a recomputation, never a wrong result. A value given to ``share`` gets
    the key taken then.
    """
    known = _SHARED.get(id(value))
    if known is not None and known[0] is value:  # the entry holds the value: the id is its own
        return known[1]
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
