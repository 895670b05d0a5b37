"""Generate the deal sheet's field reference (a Markdown table) from its schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from contractgen.dealsheet import (
    FORMAT_WORDS,
    PATTERN_WORDS,
    all_properties,
    condition_text,
    resolved,
)

HEADER = (
    "| Field | Title | Type or allowed values | Required | Description |\n|---|---|---|---|---|\n"
)


def field_reference_markdown(schema: dict[str, Any]) -> str:
    """Return a Markdown table with one row per field the schema defines."""
    rows = "".join(_row(*fields) for fields in _fields(schema, schema, ""))
    return HEADER + rows


def _fields(node: Any, root: dict[str, Any], prefix: str) -> Iterator[tuple[str, ...]]:
    """Yield (path, title, type, required, description) for ``node``'s fields, depth first."""
    for name, prop in all_properties(node, root).items():
        field = _merged(prop, root)
        path = f"{prefix}{name}"
        yield (
            f"`{path}`",
            str(field.get("title", "")),
            describe_type(field, root),
            _required(resolved(node, root), name),
            str(field.get("description", "")),
        )
        if field.get("type") == "object":
            yield from _fields(field, root, f"{path}.")
        items = _merged(field.get("items"), root) if field.get("type") == "array" else {}
        if items.get("type") == "object":
            yield from _fields(items, root, f"{path}[].")


def _merged(prop: Any, root: dict[str, Any]) -> dict[str, Any]:
    """Return ``prop`` with its $ref target filled in (its own keywords win)."""
    if not isinstance(prop, dict):
        return {}
    target = resolved(prop, root)
    base = target if isinstance(target, dict) else {}
    return {**base, **{key: value for key, value in prop.items() if key != "$ref"}}


def _required(node: dict[str, Any], name: str) -> str:
    """Say whether ``name`` is required in ``node``, and when."""
    if name in node.get("required", []):
        return "yes"
    for branch in ("then", "else"):
        part = node.get(branch)
        if isinstance(part, dict) and name in part.get("required", []):
            return f"when {condition_text(node, branch)}"
    return "no"


def describe_type(field: dict[str, Any], root: dict[str, Any]) -> str:
    """Describe the values a field accepts, in a few words."""
    if "const" in field:
        return f"`{field['const']}`"
    if "enum" in field:
        return "one of " + ", ".join(f"`{value}`" for value in field["enum"])
    kind = field.get("type")
    if kind == "string":
        return _describe_text(field)
    if kind in ("integer", "number"):
        return _describe_number(field)
    if kind == "boolean":
        return "`true` or `false`"
    if kind == "array":
        return _describe_list(field, root)
    return str(kind or "any")


def _describe_text(field: dict[str, Any]) -> str:
    """Describe a string field: its format, pattern or length."""
    if "format" in field:
        return FORMAT_WORDS.get(str(field["format"]), str(field["format"]))
    if "pattern" in field:
        return PATTERN_WORDS.get(field["pattern"], f"text matching `{field['pattern']}`")
    low, high = field.get("minLength", 0), field.get("maxLength")
    return f"text, {low}–{high} characters" if high else "text"


def _describe_number(field: dict[str, Any]) -> str:
    """Describe a numeric field and its range."""
    kind = "whole number" if field["type"] == "integer" else "number"
    if "exclusiveMinimum" in field:
        low = f"more than {field['exclusiveMinimum']}"
        return f"{kind}, {low}, at most {field.get('maximum', '∞')}"
    return f"{kind}, {field.get('minimum', '−∞')}–{field.get('maximum', '∞')}"


def _describe_list(field: dict[str, Any], root: dict[str, Any]) -> str:
    """Describe a list field: its items and its size limits."""
    items = _merged(field.get("items"), root)
    if items.get("type") == "object":
        inner = "objects"
    elif "enum" in items:
        inner = "values from " + ", ".join(f"`{value}`" for value in items["enum"])
    else:
        inner = describe_type(items, root)
    notes = []
    if field.get("minItems"):
        notes.append(f"at least {field['minItems']}")
    if "maxItems" in field:
        notes.append(f"at most {field['maxItems']}")
    if field.get("uniqueItems"):
        notes.append("no repeats")
    return f"list of {inner}" + (f" ({', '.join(notes)})" if notes else "")


def _row(*cells: str) -> str:
    """Return one Markdown table row, escaping pipes in the cells."""
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |\n"
