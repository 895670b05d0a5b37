"""Load a deal sheet: path -> strict JSON -> validated, normalised ``Deal``.

Three layers of checks, all reported as ``Problem``s with a JSON path:

* ``load_json``  strict reading: UTF-8, size, duplicate keys, NaN, nesting depth
  (raises ``InputError`` on the first failure; nothing else can be checked then);
* ``validate``   the JSON Schema, text hygiene, money precision and the
  cross-field rules of FIELDS.md (returns every problem found);
* ``normalise``  every field the schema defines is present, absent ones as None.
"""

from __future__ import annotations

import codecs
import functools
import json
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeGuard, cast

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match

from contractgen.errors import InputError, InvalidDealError, LibraryError, Problem
from contractgen.paths import schema_path

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_SHOWN = 60
MAX_INT_DIGITS = 15

JsonPath = str
Finding = tuple[JsonPath, str]


@dataclass(frozen=True)
class Deal:
    """A validated deal sheet: ``data`` is normalised, ``raw`` is as loaded."""

    path: Path
    data: dict[str, Any]
    raw: dict[str, Any]


def load_deal(path: Path, *, root: Path | None = None) -> Deal:
    """Read, validate and normalise the deal sheet at ``path``."""
    raw = load_json(path)
    problems = validate(raw, str(path), root=root)
    if problems:
        raise InvalidDealError(problems)
    return Deal(path=path, data=normalise(raw, load_schema(root)), raw=raw)


# --------------------------------------------------------------------------
# Strict JSON


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
    name = str(path)
    text = _decode(_read_bytes(path, name), name)
    _check_depth(text, name)
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


def _check_depth(text: str, name: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before the recursive parser sees it."""
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
    except json.JSONDecodeError as error:
        raise InputError(
            f"{name}: not valid JSON: line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except _DuplicateKey as error:
        where = _duplicate_key_location(text)
        raise InputError(
            f"{name}: not valid JSON: {where}duplicate key {_quote(error.key)}"
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
        raise _Rejected(f"number {_shorten(token)} is too large", token)
    return value


def _bounded_int(token: str) -> int:
    """Parse an integer, refusing absurdly long ones."""
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        raise _Rejected(f"number {_shorten(token)} has more than {MAX_INT_DIGITS} digits", token)
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
    for path, text in _strings(data, include_keys=True):
        found = _SURROGATE.search(text)
        if found:
            code = f"U+{ord(found.group()):04X}"
            raise InputError(f"{name}: {path}: text contains a lone surrogate {code}")


def _strings(data: Any, *, include_keys: bool = False) -> Iterator[tuple[JsonPath, str]]:
    """Yield (JSON path, text) for every string in ``data``, without recursion."""
    stack: list[tuple[JsonPath, Any]] = [("$", data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, str):
            yield path, node
        elif isinstance(node, dict):
            for key, value in reversed(node.items()):
                if include_keys:
                    yield path, key
                stack.append((f"{path}.{key}", value))
        elif isinstance(node, list):
            stack.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(node))))


# --------------------------------------------------------------------------
# Schema


@functools.lru_cache(maxsize=4)
def load_schema(root: Path | None = None) -> dict[str, Any]:
    """Return the deal-sheet schema (cached; do not mutate it)."""
    path = schema_path(root)
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LibraryError(f"{path}: cannot load the deal-sheet schema: {error}") from error
    if not isinstance(schema, dict):
        raise LibraryError(f"{path}: the deal-sheet schema is not an object")
    return schema


@dataclass(frozen=True, eq=False)
class _Validators:
    """The schema's validator, and one for its top level alone (sections left out)."""

    whole: Draft202012Validator
    top: Draft202012Validator


@functools.lru_cache(maxsize=4)
def _validator(root: Path | None) -> _Validators:
    """Return the compiled validators for the schema under ``root`` (cached)."""
    schema = load_schema(root)
    whole = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    top = dict(schema)
    if isinstance(top.get("properties"), dict):
        top["properties"] = {key: True for key in top["properties"]}
    return _Validators(whole, cast(Draft202012Validator, whole.evolve(schema=top)))


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})",
    re.ASCII,
)

FORMAT_CHECKER = FormatChecker(formats=())


@FORMAT_CHECKER.checks("date")
def is_calendar_date(value: object) -> bool:
    """Return whether ``value`` is a real calendar date written YYYY-MM-DD."""
    return not isinstance(value, str) or _parse_date(value) is not None


@FORMAT_CHECKER.checks("email")
def is_email(value: object) -> bool:
    """Return whether ``value`` is a plausible address: local@domain.tld, ASCII."""
    if not isinstance(value, str):
        return True
    match = _EMAIL.fullmatch(value)
    return match is not None and len(value) <= 254 and len(match["local"]) <= 64


def _parse_date(value: str) -> date | None:
    """Return the date written YYYY-MM-DD in ``value``, or None."""
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


# --------------------------------------------------------------------------
# Validation


def validate(data: Any, file: str, *, root: Path | None = None) -> list[Problem]:
    """Return every problem in ``data`` (schema, text and cross-field), sorted by path."""
    schema = load_schema(root)
    findings = list(_schema_findings(data, schema, _validator(root)))
    flagged = {path for path, _ in findings}
    extra = [*_text_findings(data), *_money_findings(data), *_cross_findings(data)]
    findings += [(path, message) for path, message in extra if path not in flagged]
    unique = {Problem(file, path, message) for path, message in findings}
    return sorted(unique, key=lambda p: (_path_key(p.path), p.message))


def _path_key(path: JsonPath) -> tuple[tuple[int, int | str], ...]:
    """Sort key for a JSON path: list indexes compare as numbers."""
    parts = re.findall(r"\.([^.\[]+)|\[(\d+)\]", path)
    return tuple((1, int(index)) if index else (0, name) for name, index in parts)


def _schema_findings(
    data: Any, schema: dict[str, Any], validators: _Validators
) -> Iterator[Finding]:
    """Yield a plain-words finding for every schema error.

    The top-level sections (agreement, parties, scope, ...) are validated one by one, and
    what jsonschema found in a section is kept, keyed by the section's JSON text: a deal
    sheet validated again after an edit, or the next deal of a batch, re-validates only
    the sections that differ. The errors are those ``iter_errors`` gives for the whole
    sheet: each section goes through ``descend`` as the ``properties`` keyword sends it.
    """
    properties = schema.get("properties")
    if not isinstance(data, dict) or not isinstance(properties, dict):
        yield from _findings(validators.whole.iter_errors(data), schema, data)
        return
    yield from _findings(validators.top.iter_errors(data), schema, data)
    for key, subschema in properties.items():
        if key in data:
            yield from _section_findings(validators.whole, schema, key, subschema, data)


def _findings(errors: Iterable[ValidationError], schema: dict[str, Any],
              data: Any) -> Iterator[Finding]:
    for error in errors:
        if error.context:
            error = best_match(error.context) or error
        for message in _messages(error, schema, data):
            yield error.json_path, message


# (validator id, section, its JSON text) -> (the validator, its findings); a section's
# findings depend on nothing else (paths and messages are read within the section).
_SECTIONS: OrderedDict[tuple[int, str, str], tuple[Draft202012Validator, list[Finding]]] = (
    OrderedDict())


def clear_caches() -> None:
    """Forget the sections validated in this process (for tests and benchmarks)."""
    _SECTIONS.clear()


def _section_findings(validator: Draft202012Validator, schema: dict[str, Any], key: str,
                      subschema: Any, data: dict[str, Any]) -> list[Finding]:
    text = json.dumps(data[key], ensure_ascii=False)
    memo = (id(validator), key, text)
    known = _SECTIONS.get(memo)
    if known is not None and known[0] is validator:
        _SECTIONS.move_to_end(memo)
        return known[1]
    errors = []
    for error in validator.descend(data[key], subschema, path=key, schema_path=key):
        error.schema_path.appendleft("properties")
        errors.append(error)
    findings = list(_findings(errors, schema, data))
    _SECTIONS[memo] = (validator, findings)
    while len(_SECTIONS) > 64:
        _SECTIONS.popitem(last=False)
    return findings


def _messages(error: ValidationError, schema: dict[str, Any], data: Any) -> list[str]:
    """Describe one schema error for a procurement reader."""
    keyword = error.validator
    if keyword is None:
        return _forbidden_messages(error, schema, data)
    if keyword == "required":
        return _required_messages(error, schema)
    if keyword == "additionalProperties":
        return _unknown_field_messages(error)
    describe = _DESCRIBERS.get(str(keyword))
    if describe is None:
        return [_shorten(error.message, 200)]
    return [describe(error)]


def _required_messages(error: ValidationError, schema: dict[str, Any]) -> list[str]:
    """Name each missing field, and the condition that made it required."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    reason = _branch_condition(error, schema)
    suffix = f" (needed when {reason})" if reason else ""
    return [
        f"required field {_quote(name)} is missing{suffix}"
        for name in _as_list(error.validator_value)
        if name not in instance
    ]


def _forbidden_messages(error: ValidationError, schema: dict[str, Any], data: Any) -> list[str]:
    """Name each field that a then/else branch forbids (a ``false`` subschema)."""
    branch = _schema_at(schema, list(error.schema_path))
    instance = _instance_at(data, list(error.absolute_path))
    if not isinstance(branch, dict) or not isinstance(instance, dict):
        return ["this field is not allowed here; remove it"]
    reason = _branch_condition(error, schema) or "in this case"
    return [
        f"field {_quote(name)} is not allowed when {reason}; remove it"
        for name, subschema in branch.items()
        if subschema is False and name in instance
    ]


def _unknown_field_messages(error: ValidationError) -> list[str]:
    """Name each unknown field, suggesting the closest allowed one."""
    import difflib  # only for messages: kept off the start-up path

    allowed = list(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
    instance = error.instance if isinstance(error.instance, dict) else {}
    messages = []
    for name in instance:
        if name in allowed:
            continue
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.75)
        if close:
            advice = f"did you mean {_quote(close[0])}?"
        else:
            advice = "allowed here: " + _shorten(", ".join(allowed), 300)
        messages.append(f"unknown field {_quote(name)} (check the spelling; {advice})")
    return messages


def _branch_condition(error: ValidationError, schema: dict[str, Any]) -> str:
    """Describe the if-condition whose then/else branch raised ``error``."""
    path = list(error.schema_path)
    branches = [i for i, key in enumerate(path) if key in ("then", "else")]
    if not branches:
        return ""
    index = branches[-1]
    parent = _schema_at(schema, path[:index])
    return condition_text(parent, str(path[index])) if isinstance(parent, dict) else ""


def condition_text(node: dict[str, Any], branch: str) -> str:
    """Say when the ``branch`` ("then" or "else") of ``node``'s if-condition applies."""
    condition = node.get("if")
    if not isinstance(condition, dict):
        return ""
    parts = [
        _describe_const(name, sub["const"], negate=branch == "else")
        for name, sub in condition.get("properties", {}).items()
        if isinstance(sub, dict) and "const" in sub
    ]
    return " and ".join(parts)


def _describe_const(name: str, value: Any, *, negate: bool) -> str:
    """Say '"name" is value' (or its negation) in JSON terms."""
    if negate and isinstance(value, bool):
        return f"{_quote(name)} is {json.dumps(not value)}"
    verb = "is not" if negate else "is"
    return f"{_quote(name)} {verb} {json.dumps(value, ensure_ascii=False)}"


def _schema_at(schema: Any, path: list[Any]) -> Any:
    """Follow a jsonschema ``schema_path``, stepping through local $refs."""
    node = schema
    for key in path:
        while isinstance(node, dict) and key not in node and "$ref" in node:
            node = _resolve_ref(schema, node["$ref"])
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return None
    return node


def _resolve_ref(schema: dict[str, Any], ref: str) -> Any:
    """Return the subschema a local ``#/...`` reference points to."""
    if not ref.startswith("#/"):
        raise LibraryError(f"the deal-sheet schema uses a non-local $ref: {ref}")
    node: Any = schema
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _as_list(value: object) -> list[Any]:
    """Return ``value`` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def _instance_at(data: Any, path: list[Any]) -> Any:
    """Return the part of ``data`` at an ``absolute_path``."""
    node = data
    for key in path:
        node = node[key]
    return node


_TYPE_WORDS = {
    "string": "text in quotes",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object { ... }",
    "array": "a list [ ... ]",
    "null": "null",
}

PATTERN_WORDS = {
    "^[A-Z]{2}$": 'a two-letter country code in capitals (ISO 3166-1), such as "US"',
    "^[A-Z]{3}$": 'a three-letter currency code in capitals (ISO 4217), such as "USD"',
    "^[a-z]{2}$": 'a two-letter language code in lowercase (ISO 639-1), such as "en"',
    "^[a-z][a-z0-9_]*$": (
        "a snake_case id (lowercase letters, digits and underscores, starting with a letter)"
    ),
    "^([a-z][a-z0-9_]*|[A-Z][A-Z0-9_]*)$": (
        "an id in snake_case or UPPER_SNAKE (letters, digits and underscores,"
        " starting with a letter)"
    ),
}

FORMAT_WORDS = {
    "date": "a date YYYY-MM-DD",
    "email": "an email address such as name@example.com",
}


def _type_message(error: ValidationError) -> str:
    """Say which JSON type was expected."""
    wanted = error.validator_value
    names = wanted if isinstance(wanted, list) else [wanted]
    expected = " or ".join(_TYPE_WORDS.get(str(name), str(name)) for name in names)
    return f"expected {expected}; found {_found(error.instance)}"


def _enum_message(error: ValidationError) -> str:
    """List the allowed values, suggesting the closest."""
    import difflib

    allowed = [str(value) for value in _as_list(error.validator_value)]
    hint = ""
    if isinstance(error.instance, str):
        close = difflib.get_close_matches(error.instance, allowed, n=1)
        hint = f" (did you mean {_quote(close[0])}?)" if close else ""
    return f"expected one of: {', '.join(allowed)}; found {_found(error.instance)}{hint}"


def _length_message(error: ValidationError) -> str:
    """Describe a text that is too short or too long."""
    limit = error.validator_value
    length = len(error.instance) if isinstance(error.instance, str) else 0
    if error.validator == "minLength":
        if limit == 1:
            return "must not be empty"
        return f"must be at least {limit} characters; found {length}"
    return f"must be at most {limit} characters; found {length:,}"


def _bound_message(error: ValidationError) -> str:
    """Describe a number outside its range."""
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "more than",
        "exclusiveMaximum": "less than",
    }
    bound = f"{words[str(error.validator)]} {error.validator_value}"
    return f"must be {bound}; found {_found(error.instance)}"


def _items_message(error: ValidationError) -> str:
    """Describe a list with too few or too many items."""
    count = len(error.instance) if isinstance(error.instance, list) else 0
    limit = error.validator_value
    if error.validator == "minItems":
        if limit == 1:
            return "must list at least one item; found an empty list"
        return f"must list at least {limit} items; found {count}"
    return f"must list at most {limit} items; found {count}"


def _unique_message(error: ValidationError) -> str:
    """Name the first repeated item of a list."""
    seen: list[Any] = []
    for item in error.instance if isinstance(error.instance, list) else []:
        if item in seen:
            return f"items must not repeat; {_found(item)} appears more than once"
        seen.append(item)
    return "items must not repeat"


def _pattern_message(error: ValidationError) -> str:
    """Say what shape of text was expected."""
    words = PATTERN_WORDS.get(str(error.validator_value))
    expected = words or f"text matching the pattern {error.validator_value}"
    return f"expected {expected}; found {_found(error.instance)}"


def _format_message(error: ValidationError) -> str:
    """Say which format was expected."""
    expected = FORMAT_WORDS.get(str(error.validator_value), f"a {error.validator_value}")
    return f"expected {expected}; found {_found(error.instance)}"


def _const_message(error: ValidationError) -> str:
    """Give the only allowed value."""
    return f"expected {_found(error.validator_value)}; found {_found(error.instance)}"


_DESCRIBERS: dict[str, Callable[[ValidationError], str]] = {
    "type": _type_message,
    "enum": _enum_message,
    "const": _const_message,
    "minLength": _length_message,
    "maxLength": _length_message,
    "minimum": _bound_message,
    "maximum": _bound_message,
    "exclusiveMinimum": _bound_message,
    "exclusiveMaximum": _bound_message,
    "minItems": _items_message,
    "maxItems": _items_message,
    "uniqueItems": _unique_message,
    "pattern": _pattern_message,
    "format": _format_message,
}


# --------------------------------------------------------------------------
# Short, safe renderings of found values

_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str) -> str:
    """Quote ``text`` for a message: shortened, invisible characters escaped."""
    short = _shorten(text)
    escaped = short.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


def _found(value: Any) -> str:
    """Describe a found value in a few words."""
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return _shorten(_number(value))
    if isinstance(value, dict):
        return "an object { ... }"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    return _shorten(repr(value))


def _number(value: float) -> str:
    """Write a number the way a person would: 100, not 100.0."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------
# Text hygiene and money precision

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}


def _text_findings(data: Any) -> Iterator[Finding]:
    """Yield a finding for each string that is not clean, trimmed text."""
    for path, text in _strings(data):
        message = _text_problem(text)
        if message:
            yield path, message


def _text_problem(text: str) -> str:
    """Return what is wrong with one text value, or an empty string."""
    if not text.strip():
        return "must not be empty or blank"
    if text != text.strip():
        return "has spaces at the start or end; remove them"
    control = _CONTROL.search(text)
    if control:
        char = control.group()
        name = _CONTROL_NAMES.get(char, f"the control character U+{ord(char):04X}")
        return f"contains {name} (character {control.start() + 1}); remove it"
    bidi = _BIDI.search(text)
    if bidi:
        return (
            f"contains the invisible text-direction character U+{ord(bidi.group()):04X} "
            f"(character {bidi.start() + 1}); remove it"
        )
    return ""


def _money_findings(data: Any) -> Iterator[Finding]:
    """Yield a finding for each money amount with more than two decimals."""
    for index, rate in _items(data, "commercials", "rates"):
        amount = rate.get("amount")
        if _is_number(amount) and _decimals(amount) > 2:
            path = f"$.commercials.rates[{index}].amount"
            yield path, f"a money amount has at most two decimals; found {_found(amount)}"


def _decimals(value: float) -> int:
    """Return how many decimals the shortest writing of ``value`` needs."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


# --------------------------------------------------------------------------
# Cross-field rules (guarded: they run even where the schema failed elsewhere)


def _get(node: Any, *keys: str) -> Any:
    """Return ``node[k1][k2]...`` or None when any step is missing."""
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _items(node: Any, *keys: str) -> list[tuple[int, dict[str, Any]]]:
    """Return (index, item) for the object items of the list at ``keys``."""
    value = _get(node, *keys)
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, dict)]


def _is_number(value: object) -> TypeGuard[int | float]:
    """Return whether ``value`` is a JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _date(node: Any, *keys: str) -> date | None:
    """Return the date at ``keys``, or None when absent or malformed."""
    value = _get(node, *keys)
    return _parse_date(value) if isinstance(value, str) else None


def _cross_findings(data: Any) -> Iterator[Finding]:
    """Yield the findings of every cross-field rule."""
    for check in _CROSS_CHECKS:
        yield from check(data)


def _check_unique_ids(data: Any) -> Iterator[Finding]:
    """Function ids and service-level ids are each unique."""
    lists = (
        (("scope", "functions"), "function"),
        (("performance", "service_levels"), "service level"),
    )
    for keys, what in lists:
        first: dict[str, int] = {}
        for index, item in _items(data, *keys):
            ident = item.get("id")
            if not isinstance(ident, str):
                continue
            if ident in first:
                path = f"$.{'.'.join(keys)}[{index}].id"
                yield path, f"{what} id {_quote(ident)} is already used by item {first[ident]}"
            else:
                first[ident] = index


def _function_ids(data: Any) -> list[str]:
    """Return the ids of the listed functions."""
    functions = _items(data, "scope", "functions")
    return [item["id"] for _, item in functions if isinstance(item.get("id"), str)]


def _check_function_references(data: Any) -> Iterator[Finding]:
    """Service levels and rates name a listed function."""
    known = _function_ids(data)
    if not known:
        return
    listed = _shorten(", ".join(known), 200)
    for keys in (("performance", "service_levels"), ("commercials", "rates")):
        for index, item in _items(data, *keys):
            name = item.get("function")
            if isinstance(name, str) and name not in known:
                path = f"$.{'.'.join(keys)}[{index}].function"
                message = f"{_quote(name)} is not a function id from scope.functions"
                yield path, f"{message} (listed: {listed})"


def _check_credit_weights(data: Any) -> Iterator[Finding]:
    """Credit weights of the service levels add up to 100."""
    levels = _items(data, "performance", "service_levels")
    found = [item.get("credit_weight_percent") for _, item in levels]
    weights = [weight for weight in found if _is_number(weight)]
    if not weights or len(weights) != len(found):
        return
    total = math.fsum(weights)
    if not math.isclose(total, 100, abs_tol=1e-9):
        shown = _number(round(total, 6))
        message = "credit weights (credit_weight_percent) must add up to 100"
        yield "$.performance.service_levels", f"{message}; they add up to {shown}"


def _check_percent_targets(data: Any) -> Iterator[Finding]:
    """A target in percent is at most 100."""
    for index, item in _items(data, "performance", "service_levels"):
        target = item.get("target")
        if item.get("unit") == "percent" and _is_number(target) and target > 100:
            path = f"$.performance.service_levels[{index}].target"
            yield path, f"a target in percent must be at most 100; found {_found(target)}"


def _check_dates(data: Any) -> Iterator[Finding]:
    """Transition and indexation dates fall in a sensible order."""
    effective = _date(data, "agreement", "effective_date")
    start = _date(data, "scope", "transition", "start_date")
    commencement = _date(data, "scope", "transition", "service_commencement_date")
    if effective and start and start < effective:
        yield (
            "$.scope.transition.start_date",
            f"must not be before the effective date ({effective}); found {start}",
        )
    if start and commencement and commencement < start:
        yield (
            "$.scope.transition.service_commencement_date",
            f"must not be before the transition start date ({start}); found {commencement}",
        )
    first = _date(data, "commercials", "indexation", "first_adjustment_date")
    if _get(data, "commercials", "indexation", "enabled") is True and effective and first:
        if first <= effective:
            yield (
                "$.commercials.indexation.first_adjustment_date",
                f"must be after the effective date ({effective}); found {first}",
            )


def _check_repse(data: Any) -> Iterator[Finding]:
    """A REPSE registration is given when Mexican labour rules apply."""
    if _get(data, "agreement", "governing_law") != "MX":
        return
    vendor = _get(data, "parties", "vendor")
    in_mexico = _get(vendor, "country") == "MX" or any(
        location.get("country") == "MX" for _, location in _items(data, "scope", "locations")
    )
    if in_mexico and isinstance(vendor, dict) and "repse_registration" not in vendor:
        yield (
            "$.parties.vendor",
            (
                'required field "repse_registration" is missing (needed when Mexican law governs '
                "and the vendor or a delivery location is in Mexico)"
            ),
        )


def _check_local_currency(data: Any) -> Iterator[Finding]:
    """The currency-fluctuation local currency differs from the contract currency."""
    local = _get(data, "commercials", "currency_fluctuation", "local_currency")
    currency = _get(data, "agreement", "currency")
    if isinstance(local, str) and local == currency:
        path = "$.commercials.currency_fluctuation.local_currency"
        yield path, f"must differ from agreement.currency; both are {_quote(local)}"


def _check_escalation_order(data: Any) -> Iterator[Finding]:
    """Escalation levels run 1, 2, 3 ... in order."""
    for index, item in _items(data, "governance", "escalation"):
        level = item.get("level")
        if _is_number(level) and level != index + 1:
            path = f"$.governance.escalation[{index}].level"
            expected = f"expected level {index + 1} (levels run 1, 2, 3 ... in order)"
            yield path, f"{expected}; found {_found(level)}"


def _check_interface_parties(data: Any) -> Iterator[Finding]:
    """The supporting party is not the responsible party."""
    for index, item in _items(data, "governance", "interface_responsibilities"):
        responsible = item.get("responsible")
        if isinstance(responsible, str) and responsible == item.get("support"):
            path = f"$.governance.interface_responsibilities[{index}].support"
            yield path, f'must differ from "responsible" (both are {_quote(responsible)})'


_CROSS_CHECKS: tuple[Callable[[Any], Iterable[Finding]], ...] = (
    _check_unique_ids,
    _check_function_references,
    _check_credit_weights,
    _check_percent_targets,
    _check_dates,
    _check_repse,
    _check_local_currency,
    _check_escalation_order,
    _check_interface_parties,
)


# --------------------------------------------------------------------------
# Normalisation


def normalise(data: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``data`` with every field the schema defines (absent ones None)."""
    result = _fill(data, schema, schema)
    assert isinstance(result, dict)
    return result


def _fill(value: Any, node: Any, root: dict[str, Any]) -> Any:
    """Copy ``value``, adding the absent properties that ``node`` defines."""
    node = resolved(node, root)
    if isinstance(value, dict):
        properties = _all_properties(node, root)
        filled = {key: _fill(item, properties.get(key), root) for key, item in value.items()}
        for name in properties:
            filled.setdefault(name, None)
        return filled
    if isinstance(value, list):
        items = node.get("items") if isinstance(node, dict) else None
        return [_fill(item, items, root) for item in value]
    return value


def resolved(node: Any, root: dict[str, Any]) -> Any:
    """Follow ``$ref`` until reaching a schema without one."""
    while isinstance(node, dict) and "$ref" in node:
        node = _resolve_ref(root, node["$ref"])
    return node


def all_properties(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    """Return the properties of an object schema, including those of its if/then/else branches."""
    return _all_properties(resolved(node, root), root)


def _all_properties(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    """Merge ``properties`` of ``node``, its then/else branches and allOf parts."""
    if not isinstance(node, dict):
        return {}
    merged: dict[str, Any] = {}
    parts = [node, node.get("then"), node.get("else"), *node.get("allOf", [])]
    for part in parts:
        part = resolved(part, root)
        if not isinstance(part, dict):
            continue
        for name, subschema in part.get("properties", {}).items():
            if isinstance(subschema, dict):
                merged.setdefault(name, subschema)
    return merged
