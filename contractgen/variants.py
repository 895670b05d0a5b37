"""Generate valid deal sheets that switch each option of the deal sheet on and off.

Starting from the library's example deal sheets, each variant changes one thing: an enum
to each of its values, a flag flipped, a code added to or removed from a list, an optional
feature enabled (borrowing its numbers from another example) or disabled, a list emptied,
a number set to its bounds, a country set to each jurisdiction the library knows. Variants
that fail validation are dropped. Used by the coverage report, the lint and the tests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contractgen.dealsheet import all_properties, resolved, validate

COUNTRIES = ("US", "GB", "ES", "MX", "CO", "PH", "IN")


@dataclass(frozen=True)
class Variant:
    """One generated deal sheet and what was changed to make it."""

    name: str
    data: dict[str, Any]


def _examples(root: Path) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted((root / "examples").glob("*.json")):
        out.append((path.stem, json.loads(path.read_text(encoding="utf-8"))))
    return out


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(data)
    target = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copied


def _fields(node: Any, schema: dict[str, Any], data: Any,
            path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Yield (path in the data, schema) for every field present in ``data``."""
    node = resolved(node, schema)
    if isinstance(data, dict):
        for name, sub in all_properties(node, schema).items():
            if name in data:
                yield (*path, name), resolved(sub, schema)
                yield from _fields(sub, schema, data[name], (*path, name))
    elif isinstance(data, list) and data:
        yield from _fields(node.get("items"), schema, data[0], (*path, 0))


def _mutations(path: tuple[Any, ...], field: dict[str, Any], value: Any,
               donors: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    name = ".".join(str(p) for p in path)
    kind = field.get("type")
    if "enum" in field:
        for option in field["enum"]:
            if option != value:
                yield f"{name}={option}", option
    elif kind == "boolean":
        yield f"{name}={not value}", not value
    elif kind == "array":
        items = field.get("items", {})
        if "enum" in items:
            for option in items["enum"]:
                changed = [v for v in value if v != option] if option in value else [*value, option]
                yield f"{name}{'-' if option in value else '+'}{option}", changed
        if value and not field.get("minItems"):
            yield f"{name}=[]", []
    elif kind in ("integer", "number"):
        for bound in (field.get("minimum"), field.get("maximum")):
            if bound is not None and bound != value:
                yield f"{name}={bound}", bound
    elif kind == "string" and path[-1] == "country":
        for country in COUNTRIES:
            if country != value:
                yield f"{name}={country}", country
    elif kind == "object" and isinstance(value, dict) and "enabled" in value:
        for donor in donors:
            other = _get_or_none(donor, path)
            if isinstance(other, dict) and other.get("enabled") != value.get("enabled"):
                yield f"{name}.enabled={other.get('enabled')}", copy.deepcopy(other)
                break
        else:
            if value.get("enabled"):
                yield f"{name}.enabled=False", {"enabled": False}


def _get_or_none(data: Any, path: tuple[Any, ...]) -> Any:
    try:
        return _get(data, path)
    except (KeyError, IndexError, TypeError):
        return None


def generate(root: Path, schema: dict[str, Any]) -> list[Variant]:
    """Return the examples and every valid one-change variant of them."""
    examples = _examples(root)
    variants = [Variant(name, data) for name, data in examples]
    seen = {json.dumps(v.data, sort_keys=True) for v in variants}
    for name, data in examples:
        donors = [d for n, d in examples if n != name]
        for path, field in _fields(schema, schema, data):
            for label, value in _mutations(path, field, _get(data, path), donors):
                changed = _set(data, path, value)
                key = json.dumps(changed, sort_keys=True)
                if key in seen or validate(changed, label, root=root):
                    continue
                seen.add(key)
                variants.append(Variant(f"{name}:{label}", changed))
    return variants
