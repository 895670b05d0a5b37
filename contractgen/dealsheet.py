"""Load a deal sheet: path -> strict JSON -> validated, normalised ``Deal``.

Three layers of checks, all reported as ``Problem``s with a JSON path:

* ``parse_json`` strict reading: UTF-8, size, duplicate keys, NaN, nesting depth
  (``strictjson``; raises ``InputError`` on the first failure: nothing else can be checked);
* ``validate``   the JSON Schema, text hygiene, money precision and the cross-field rules
  of FIELDS.md (``crossfields``), returning every problem found;
* ``normalise``  every field the schema defines is present, absent ones as None.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from contractgen.cache import code_stamp, entry_name, package_stamp, read_entry, write_entry
from contractgen.crossfields import cross_findings, is_number, object_items, parse_date
from contractgen.errors import InvalidDealError, LibraryError, Problem
from contractgen.paths import schema_path
from contractgen.strictjson import (
    clear_shared,
    parse_json,
    read_json_bytes,
    share,
    strings_in,
    value_key,
)
from contractgen.wording import Finding, JsonPath, described, quote, shorten

if TYPE_CHECKING:  # imported when a deal sheet is validated (see ``load_deal``)
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import ValidationError


@dataclass(frozen=True)
class Deal:
    """A validated deal sheet: ``data`` is normalised, ``raw`` is as loaded."""

    path: Path
    data: dict[str, Any]
    raw: dict[str, Any]


def load_deal(path: Path, *, root: Path | None = None) -> Deal:
    """Read, validate and normalise the deal sheet at ``path``.

    A process that has not validated anything yet (a cold start: jsonschema, about a tenth
    of it, is not imported) first looks in the cache folder for a stamp saying that this
    very deal sheet passed validation under the same schema and code, and, with none,
    leaves one once it does. The stamp only ever skips finding no problem again.
    """
    data = read_json_bytes(path)
    known = _LOADED.get((root, data))
    if known is not None:  # the same bytes loaded before in this process: the same deal
        _LOADED.move_to_end((root, data))
        return Deal(path=path, data=known[1], raw=known[0])
    raw = parse_json(data, str(path))
    keys = _section_keys(raw)
    stamp = _validity_stamp(raw, root) if "jsonschema" not in sys.modules else None
    if stamp is None or read_entry(_VALID, stamp) is not True:
        problems = _validate(raw, str(path), root, keys)
        if problems:
            raise InvalidDealError(problems)
        if stamp is not None:
            write_entry(_VALID, stamp, True)
    deal = Deal(path=path, data=_normalise(raw, load_schema(root), keys), raw=raw)
    _LOADED[(root, data)] = (deal.raw, deal.data)
    while len(_LOADED) > 4:
        _LOADED.popitem(last=False)
    return deal


# (library root, a deal sheet's bytes) -> its data as read and normalised: a deal sheet that
# validated is valid again (the schema and code are those of this process). Deals share
# these objects, which nothing changes.
_LOADED: OrderedDict[tuple[Path | None, bytes], tuple[Any, dict[str, Any]]] = OrderedDict()


_VALID = "valid"  # the cache folder's sub-folder of validity stamps


def _validity_stamp(raw: Any, root: Path | None) -> str:
    """Return the name of the stamp for a deal sheet that passed validation: a digest of its
    data (as read: key order, types), the schema, contractgen's code and jsonschema's."""
    text = json.dumps([raw, load_schema(root)], ensure_ascii=False)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return entry_name("valid", digest, code_stamp(), *package_stamp("jsonschema"))


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
def validators(root: Path | None) -> _Validators:
    """Return the compiled validators for the schema under ``root`` (cached)."""
    from jsonschema import Draft202012Validator

    schema = load_schema(root)
    whole = Draft202012Validator(schema, format_checker=_format_checker())
    top = dict(schema)
    if isinstance(top.get("properties"), dict):
        top["properties"] = {key: True for key in top["properties"]}
    return _Validators(whole, cast(Draft202012Validator, whole.evolve(schema=top)))


_EMAIL = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})",
    re.ASCII,
)

@functools.lru_cache(maxsize=1)
def _format_checker() -> FormatChecker:
    """Return the checker of the schema's formats: ours for date and email, and no other."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date")(is_calendar_date)
    checker.checks("email")(is_email)
    return checker


def is_calendar_date(value: object) -> bool:
    """Return whether ``value`` is a real calendar date written YYYY-MM-DD."""
    return not isinstance(value, str) or parse_date(value) is not None


def is_email(value: object) -> bool:
    """Return whether ``value`` is a plausible address: local@domain.tld, ASCII."""
    if not isinstance(value, str):
        return True
    match = _EMAIL.fullmatch(value)
    return match is not None and len(value) <= 254 and len(match["local"]) <= 64


# --------------------------------------------------------------------------
# Validation


def validate(data: Any, file: str, *, root: Path | None = None) -> list[Problem]:
    """Return every problem in ``data`` (schema, text and cross-field), sorted by path."""
    return _validate(data, file, root, _section_keys(data))


def _section_keys(data: Any) -> dict[str, bytes]:
    """Return each top-level section's key (``value_key``; none if ``data`` is not an
    object): what is found in a section, and its normalised form, are kept by it
    (``_SECTIONS``, ``_TEXTS``, ``_FILLED``), so that an edited deal sheet has only the
    sections that changed checked again."""
    if not isinstance(data, dict):
        return {}
    return {name: value_key(value) for name, value in data.items()}


def _validate(data: Any, file: str, root: Path | None,
              keys: dict[str, bytes]) -> list[Problem]:
    schema = load_schema(root)
    findings = list(_schema_findings(data, schema, validators(root), keys))
    flagged = {path for path, _ in findings}
    extra = [*_text_findings(data, keys), *_money_findings(data), *cross_findings(data)]
    findings += [(path, message) for path, message in extra if path not in flagged]
    unique = {Problem(file, path, message) for path, message in findings}
    return sorted(unique, key=lambda p: (_path_key(p.path), p.message))


def _path_key(path: JsonPath) -> tuple[tuple[int, int | str], ...]:
    """Sort key for a JSON path: list indexes compare as numbers."""
    parts = re.findall(r"\.([^.\[]+)|\[(\d+)\]", path)
    return tuple((1, int(index)) if index else (0, name) for name, index in parts)


def _schema_findings(
    data: Any, schema: dict[str, Any], validators: _Validators, keys: dict[str, bytes]
) -> Iterator[Finding]:
    """Yield a plain-words finding for every schema error.

    The top-level sections (agreement, parties, scope, ...) are validated one by one, and
    what jsonschema found in a section is kept, keyed by the section's key: a deal
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
            yield from _section_findings(validators.whole, schema, key, subschema, data,
                                         keys[key])


def _findings(errors: Iterable[ValidationError], schema: dict[str, Any],
              data: Any) -> Iterator[Finding]:
    from jsonschema.exceptions import best_match

    for error in errors:
        if error.context:
            error = best_match(error.context) or error
        for message in _messages(error, schema, data):
            yield error.json_path, message


# (validator id, section, its key) -> (the validator, its findings); a section's findings
# depend on nothing else (paths and messages are read within the section).
_SECTIONS: OrderedDict[tuple[int, str, bytes], tuple[Draft202012Validator, list[Finding]]] = (
    OrderedDict())


def clear_caches() -> None:
    """Forget the deal sheets and sections checked in this process (for tests and
    benchmarks)."""
    _SECTIONS.clear()
    _MEMBERS.clear()
    _TEXTS.clear()
    _FILLED.clear()
    _LOADED.clear()
    clear_shared()


def _section_findings(validator: Draft202012Validator, schema: dict[str, Any], key: str,
                      subschema: Any, data: dict[str, Any],
                      section_key: bytes) -> list[Finding]:
    memo = (id(validator), key, section_key)
    known = _SECTIONS.get(memo)
    if known is not None and known[0] is validator:
        _SECTIONS.move_to_end(memo)
        return known[1]
    section = data[key]
    # Where it can, the section's own keywords with its members' values left out (its
    # shell), then each member as its ``properties`` keyword sends it, kept by its key.
    shell = _shell(subschema) if isinstance(section, dict) else None
    errors = list(validator.descend(section, subschema if shell is None else shell,
                                    path=key, schema_path=key))
    findings = list(_findings(_under(errors, key), schema, data))
    if shell is not None:
        for name in section:
            member = subschema["properties"].get(name)
            if member is not None:
                findings += _member_findings(validator, schema, key, name, member, data)
    _SECTIONS[memo] = (validator, findings)
    while len(_SECTIONS) > 64:
        _SECTIONS.popitem(last=False)
    return findings


def _under(errors: list[ValidationError], *keys: str) -> list[ValidationError]:
    """Place the errors that ``descend`` gave for the value at ``keys`` (its path and schema
    path start with the last key) as the ``properties`` keywords that lead to it give them."""
    for error in errors:
        error.schema_path.appendleft("properties")
        for name in reversed(keys[:-1]):
            error.path.appendleft(name)
            error.schema_path.appendleft(name)
            error.schema_path.appendleft("properties")
    return errors


def _member_findings(validator: Draft202012Validator, schema: dict[str, Any], key: str,
                     name: str, member: Any, data: dict[str, Any]) -> list[Finding]:
    value = data[key][name]
    memo = (id(validator), key, name, value_key(value))
    known = _MEMBERS.get(memo)
    if known is not None and known[0] is validator:
        _MEMBERS.move_to_end(memo)
        return known[1]
    errors = list(validator.descend(value, member, path=name, schema_path=name))
    findings = list(_findings(_under(errors, key, name), schema, data))
    _MEMBERS[memo] = (validator, findings)
    while len(_MEMBERS) > 256:
        _MEMBERS.popitem(last=False)
    return findings


# (validator id, section, member, its key) -> (the validator, its findings)
_MEMBERS: OrderedDict[tuple[int, str, str, bytes], tuple[Draft202012Validator, list[Finding]]] = (
    OrderedDict())


def _shell(subschema: Any) -> dict[str, Any] | None:
    """Return a section's schema with its members' schemas left out (``True``), or None if
    its members cannot be checked apart from it: it must name them in ``properties`` and
    use no keyword whose verdict depends on how they fared (``unevaluatedProperties``)."""
    if (not isinstance(subschema, dict) or not isinstance(subschema.get("properties"), dict)
            or "$ref" in subschema or "unevaluatedProperties" in subschema
            or "$id" in subschema):
        return None
    known = _SHELLS.get(id(subschema))
    if known is None or known[0] is not subschema:
        shell = dict(subschema)
        shell["properties"] = {name: True for name in subschema["properties"]}
        known = _SHELLS[id(subschema)] = (subschema, shell)
    return known[1]


# schema node id -> (the node, its shell); the entry holds the node, so no other object can
# have its id while it lives (schemas are loaded once and never changed)
_SHELLS: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


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
        return [shorten(error.message, 200)]
    return [describe(error)]


def _required_messages(error: ValidationError, schema: dict[str, Any]) -> list[str]:
    """Name each missing field, and the condition that made it required."""
    instance = error.instance if isinstance(error.instance, dict) else {}
    reason = _branch_condition(error, schema)
    suffix = f" (needed when {reason})" if reason else ""
    return [
        f"required field {quote(name)} is missing{suffix}"
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
        f"field {quote(name)} is not allowed when {reason}; remove it"
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
            advice = f"did you mean {quote(close[0])}?"
        else:
            advice = "allowed here: " + shorten(", ".join(allowed), 300)
        messages.append(f"unknown field {quote(name)} (check the spelling; {advice})")
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
        return f"{quote(name)} is {json.dumps(not value)}"
    verb = "is not" if negate else "is"
    return f"{quote(name)} {verb} {json.dumps(value, ensure_ascii=False)}"


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
    return f"expected {expected}; found {described(error.instance)}"


def _enum_message(error: ValidationError) -> str:
    """List the allowed values, suggesting the closest."""
    import difflib

    allowed = [str(value) for value in _as_list(error.validator_value)]
    hint = ""
    if isinstance(error.instance, str):
        close = difflib.get_close_matches(error.instance, allowed, n=1)
        hint = f" (did you mean {quote(close[0])}?)" if close else ""
    return f"expected one of: {', '.join(allowed)}; found {described(error.instance)}{hint}"


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
    return f"must be {bound}; found {described(error.instance)}"


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
            return f"items must not repeat; {described(item)} appears more than once"
        seen.append(item)
    return "items must not repeat"


def _pattern_message(error: ValidationError) -> str:
    """Say what shape of text was expected."""
    words = PATTERN_WORDS.get(str(error.validator_value))
    expected = words or f"text matching the pattern {error.validator_value}"
    return f"expected {expected}; found {described(error.instance)}"


def _format_message(error: ValidationError) -> str:
    """Say which format was expected."""
    expected = FORMAT_WORDS.get(str(error.validator_value), f"a {error.validator_value}")
    return f"expected {expected}; found {described(error.instance)}"


def _const_message(error: ValidationError) -> str:
    """Give the only allowed value."""
    return f"expected {described(error.validator_value)}; found {described(error.instance)}"


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
# Text hygiene and money precision

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_CONTROL_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}


def _text_findings(data: Any, keys: dict[str, bytes]) -> Iterator[Finding]:
    """Yield a finding for each string that is not clean, trimmed text (a section's are
    kept by its key)."""
    if not keys:
        yield from _strings_findings(data, "$")
        return
    for key, value in data.items():
        found = _TEXTS.get((key, keys[key]))
        if found is None:
            found = _TEXTS[(key, keys[key])] = list(_strings_findings(value, f"$.{key}"))
            while len(_TEXTS) > 64:
                _TEXTS.popitem(last=False)
        yield from found


def _strings_findings(data: Any, path: JsonPath) -> Iterator[Finding]:
    for where, text in strings_in(data, path=path):
        message = _text_problem(text)
        if message:
            yield where, message


# (section, its key) -> its text findings
_TEXTS: OrderedDict[tuple[str, bytes], list[Finding]] = OrderedDict()


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
    for index, rate in object_items(data, "commercials", "rates"):
        amount = rate.get("amount")
        if is_number(amount) and _decimals(amount) > 2:
            path = f"$.commercials.rates[{index}].amount"
            yield path, f"a money amount has at most two decimals; found {described(amount)}"


def _decimals(value: float) -> int:
    """Return how many decimals the shortest writing of ``value`` needs."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


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


def _normalise(data: dict[str, Any], schema: dict[str, Any],
               keys: dict[str, bytes]) -> dict[str, Any]:
    """``normalise``, with each section's normalised form kept by its key (``_FILLED``)."""
    properties = _all_properties(resolved(schema, schema), schema)
    filled: dict[str, Any] = {}
    for key, item in data.items():
        memo = (id(schema), key, keys[key])
        known = _FILLED.get(memo)
        if known is None or known[0] is not schema:
            known = _FILLED[memo] = (schema, _fill(item, properties.get(key), schema))
            share(known[1])  # deals share it, and nothing changes it
            while len(_FILLED) > 64:
                _FILLED.popitem(last=False)
        filled[key] = known[1]
    for name in properties:
        filled.setdefault(name, None)
    return filled


# (schema id, section, its key) -> (the schema, the section normalised); deals share these
# sections, which nothing changes.
_FILLED: OrderedDict[tuple[int, str, bytes], tuple[dict[str, Any], Any]] = OrderedDict()


def resolved(node: Any, root: dict[str, Any]) -> Any:
    """Follow ``$ref`` until reaching a schema without one."""
    while isinstance(node, dict) and "$ref" in node:
        node = _resolve_ref(root, node["$ref"])
    return node


def all_properties(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    """Return the properties of an object schema, including those of its if/then/else branches
    (a shared dict: do not change it)."""
    return _all_properties(resolved(node, root), root)


def _all_properties(node: Any, root: dict[str, Any]) -> dict[str, Any]:
    """Merge ``properties`` of ``node``, its then/else branches and allOf parts (kept per
    schema node: schemas are loaded once and never changed)."""
    if not isinstance(node, dict):
        return {}
    known = _PROPERTIES.get(id(node))
    if known is not None and known[0] is node and known[1] is root:
        return known[2]
    merged = _merge_properties(node, root)
    if len(_PROPERTIES) > 1_000:
        _PROPERTIES.clear()
    _PROPERTIES[id(node)] = (node, root, merged)
    return merged


# Schema node id -> (node, root schema, merged properties); the entry holds both objects, so
# no other object can have their ids while it lives.
_PROPERTIES: dict[int, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}


def _merge_properties(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
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
