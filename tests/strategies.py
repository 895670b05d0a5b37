"""Hypothesis strategies for deal sheets, built by walking ``schemas/deal.schema.json``.

``deals()`` draws deal sheets that pass ``dealsheet.validate``: every enum value and every
optional field can appear, text comes from a realistic alphabet that includes Markdown, XML
and Jinja punctuation, and a post-processing step makes the cross-field rules hold (service
levels and rates name listed functions, credit weights add up to 100, dates in order,
REPSE where Mexican law and Mexico meet, unique ids, escalation levels 1..n, ...).

Lists are kept to 0-3 items (1-3 where the schema needs one) so that rendering stays fast.
The walker is generic: a field added to the schema is generated without editing this file
(only a new pattern or format needs a line in ``_PATTERNS`` or ``_FORMATS``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from contractgen import dealsheet

SCHEMA = dealsheet.load_schema()

# When a test fails, Hypothesis' pytest plugin imports libcst to suggest a patch; libcst trips
# a DeprecationWarning (mypy_extensions.TypedDict) that ``filterwarnings = error`` turns into
# an INTERNALERROR hiding the real failure. Import it once here, quietly.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401

# Letters (with accents and a little non-Latin text), digits, and punctuation that means
# something to Markdown, XML/HTML or Jinja. No spaces (words are joined with one space), no
# control or bidirectional characters (the loader refuses them).
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "áéíóúñüçàèâêôöøåßÁÉÍÓÚÑÜÇŁłŒœ"
    "東京مرحبا€"
    "0123456789"
    "&<>\"'*_[]#|\\`~!(){}%-+.,;:/@$^=?"
)
MAX_LIST = 3
MAX_TEXT = 60

COUNTRIES = ["US", "GB", "ES", "MX", "CO", "PH", "IN", "DE", "FR", "IE", "CA", "BR", "JP",
             "PL", "EU", "NL"]
CURRENCIES = ["USD", "EUR", "GBP", "MXN", "COP", "PHP", "INR", "JPY", "CHF", "CAD"]
LANGUAGES = ["en", "es", "fr", "de", "pt", "tl", "hi", "ja", "ar", "zh"]

_word = st.text(alphabet=ALPHABET, min_size=1, max_size=12)


def free_text(max_length: int, min_length: int = 1) -> st.SearchStrategy[str]:
    """Return trimmed, non-empty words joined by single spaces, within the length bounds."""
    limit = min(max_length, MAX_TEXT)

    def fit(words: list[str]) -> str:
        text = " ".join(words)[:limit].strip()
        return text if len(text) >= min_length else (text + "x" * min_length)[:max_length]

    return st.lists(_word, min_size=1, max_size=5).map(fit)


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()


def _ident(first: str, rest: str, max_length: int) -> st.SearchStrategy[str]:
    head = st.sampled_from(first)
    tail = st.text(alphabet=rest, max_size=15)
    return st.builds(lambda h, t: (h + t)[:max_length], head, tail)


def _snake(max_length: int) -> st.SearchStrategy[str]:
    return _ident(_LOWER, _LOWER + "0123456789_", max_length)


def _snake_or_upper(max_length: int) -> st.SearchStrategy[str]:
    upper = _ident(_UPPER, _UPPER + "0123456789_", max_length)
    return st.one_of(_snake(max_length), upper)


_PATTERNS = {
    "^[A-Z]{2}$": lambda node: st.sampled_from(COUNTRIES),
    "^[A-Z]{3}$": lambda node: st.sampled_from(CURRENCIES),
    "^[a-z]{2}$": lambda node: st.sampled_from(LANGUAGES),
    "^[a-z][a-z0-9_]*$": lambda node: _snake(node.get("maxLength", 64)),
    "^([a-z][a-z0-9_]*|[A-Z][A-Z0-9_]*)$": lambda node: _snake_or_upper(node.get("maxLength", 64)),
}

_EMAILS = st.builds(
    "{}{}@{}.{}".format,
    st.sampled_from(_LOWER),
    st.text(alphabet=_LOWER + "0123456789_+-", max_size=10),
    st.sampled_from(["example", "acme-bpo", "xn--bcher-kva", "mail.corp"]),
    st.sampled_from(["com", "example", "mx", "co.uk"]),
)
_DATES = st.dates(dt.date(2024, 1, 1), dt.date(2040, 12, 31)).map(dt.date.isoformat)
_FORMATS = {"date": lambda node: _DATES, "email": lambda node: _EMAILS}


def _resolved(node: Any) -> dict[str, Any]:
    found = dealsheet.resolved(node, SCHEMA)
    assert isinstance(found, dict), node
    return found


def _string(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if "format" in node:
        return _FORMATS[node["format"]](node)
    if "pattern" in node:
        return _PATTERNS[node["pattern"]](node)
    return free_text(node.get("maxLength", 200), node.get("minLength", 1))


def _number(node: dict[str, Any], integer: bool) -> st.SearchStrategy[int | float]:
    low = node.get("minimum", node.get("exclusiveMinimum", 0))
    high = node.get("maximum", 1_000_000)
    if integer:
        start = low + 1 if "exclusiveMinimum" in node else low
        return st.integers(start, high)
    # Whole numbers or at most two decimals (money must have no more); cents as integers
    # keep the draw exact and the bounds easy.
    start = round(low * 100) + (1 if "exclusiveMinimum" in node else 0)
    cents = st.integers(start, round(high * 100))
    whole = st.integers(int(low) + (1 if "exclusiveMinimum" in node else 0), int(high))
    return st.one_of(whole, cents.map(lambda c: c / 100))


def _array(node: dict[str, Any]) -> st.SearchStrategy[list[Any]]:
    items = _resolved(node.get("items", {}))
    low = node.get("minItems", 0)
    high = min(node.get("maxItems", MAX_LIST), max(low, MAX_LIST))
    element = value(items)
    if node.get("uniqueItems"):
        return st.lists(element, min_size=low, max_size=high, unique_by=_freeze)
    return st.lists(element, min_size=low, max_size=high)


def _freeze(item: Any) -> str:
    return repr(item)


_VALIDATORS: dict[int, Draft202012Validator] = {}


def _validator(key: int, condition: dict[str, Any]) -> Draft202012Validator:
    if key not in _VALIDATORS:
        _VALIDATORS[key] = Draft202012Validator(condition)
    return _VALIDATORS[key]


def _branch_schema(node: dict[str, Any], data: dict[str, Any]) -> dict[str, Any] | None:
    """Return the then/else branch that applies to ``data``, if ``node`` has an if."""
    condition = node.get("if")
    if condition is None:
        return None
    matches = _validator(id(condition), condition).is_valid(data)
    branch = node.get("then" if matches else "else")
    return branch if isinstance(branch, dict) else None


@st.composite
def _object(draw: st.DrawFn, node: dict[str, Any]) -> dict[str, Any]:
    """Draw an object: required fields always, optional ones sometimes, if/then/else obeyed."""
    properties = node.get("properties", {})
    required = set(node.get("required", []))
    data: dict[str, Any] = {}
    # The if-condition only looks at required fields: draw those first.
    for name, sub in properties.items():
        if name in required:
            data[name] = draw(value(_resolved(sub)))
    branch = _branch_schema(node, data) or {}
    forbidden = {name for name, sub in branch.get("properties", {}).items() if sub is False}
    needed = set(branch.get("required", []))
    for name, sub in properties.items():
        if name in required or name in forbidden:
            continue
        if name in needed or draw(st.booleans()):
            data[name] = draw(value(_resolved(sub)))
    # Keep the schema's key order, which is how people write deal sheets.
    return {name: data[name] for name in properties if name in data}


_CACHE: dict[int, st.SearchStrategy[Any]] = {}


def value(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Return a strategy for values valid against one schema node (built once per node)."""
    node = _resolved(node)
    key = id(node)
    if key not in _CACHE:
        _CACHE[key] = _build(node)
    return _CACHE[key]


def _build(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        return _object(node)
    if kind == "array":
        return _array(node)
    if kind == "string":
        return _string(node)
    if kind == "integer":
        return _number(node, integer=True)
    if kind == "number":
        return _number(node, integer=False)
    if kind == "boolean":
        return st.booleans()
    raise NotImplementedError(f"no strategy for schema node {node!r}")


# --- cross-field rules ---------------------------------------------------------------------

def _unique_ids(items: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    for index, item in enumerate(items):
        ident = item["id"]
        if ident in seen:
            ident = f"{ident[:55]}_{index}"
        seen.add(ident)
        item["id"] = ident


def _weights(draw: st.DrawFn, count: int) -> list[float | int]:
    """Return ``count`` weights of at most two decimals that add up to exactly 100."""
    cuts = sorted(draw(st.lists(st.integers(0, 10_000), min_size=count - 1,
                                max_size=count - 1)))
    edges = [0, *cuts, 10_000]
    cents = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    return [c // 100 if c % 100 == 0 else c / 100 for c in cents]


def _after(draw: st.DrawFn, start: str, min_days: int, max_days: int) -> str:
    base = dt.date.fromisoformat(start)
    return (base + dt.timedelta(days=draw(st.integers(min_days, max_days)))).isoformat()


def fix_cross_fields(draw: st.DrawFn, deal: dict[str, Any]) -> dict[str, Any]:
    """Make the cross-field rules of the deal sheet hold, drawing what must change."""
    functions = deal["scope"]["functions"]
    _unique_ids(functions)
    ids = [f["id"] for f in functions]
    performance = deal["performance"]
    levels = performance["service_levels"]
    _unique_ids(levels)
    for level, weight in zip(levels, _weights(draw, len(levels)), strict=True):
        level["function"] = draw(st.sampled_from(ids))
        level["credit_weight_percent"] = weight
        if level["unit"] == "percent" and level["target"] > 100:
            level["target"] = draw(st.integers(0, 10_000)) / 100
    for rate in deal["commercials"]["rates"]:
        rate["function"] = draw(st.sampled_from(ids))

    agreement = deal["agreement"]
    transition = deal["scope"]["transition"]
    transition["start_date"] = _after(draw, agreement["effective_date"], 0, 120)
    transition["service_commencement_date"] = _after(draw, transition["start_date"], 0, 365)
    indexation = deal["commercials"]["indexation"]
    if indexation["enabled"]:
        indexation["first_adjustment_date"] = _after(draw, agreement["effective_date"], 1, 800)

    fluctuation = deal["commercials"]["currency_fluctuation"]
    if fluctuation["enabled"] and fluctuation["local_currency"] == agreement["currency"]:
        others = [c for c in CURRENCIES if c != agreement["currency"]]
        fluctuation["local_currency"] = draw(st.sampled_from(others))

    vendor = deal["parties"]["vendor"]
    in_mexico = vendor["country"] == "MX" or any(
        location["country"] == "MX" for location in deal["scope"]["locations"])
    if agreement["governing_law"] == "MX" and in_mexico and "repse_registration" not in vendor:
        vendor["repse_registration"] = draw(free_text(100))

    for index, level in enumerate(deal["governance"]["escalation"]):
        level["level"] = index + 1
    for item in deal["governance"]["interface_responsibilities"]:
        item["support"] = "vendor" if item["responsible"] == "client" else "client"
    return deal


@st.composite
def deals(draw: st.DrawFn) -> dict[str, Any]:
    """Draw a deal sheet that passes ``dealsheet.validate``."""
    deal = draw(value(SCHEMA))
    return fix_cross_fields(draw, deal)


# --- what a deal holds, for tests ------------------------------------------------------------

def deal_strings(deal: Any) -> Iterator[str]:
    """Yield every string value in a deal (keys excluded)."""
    if isinstance(deal, str):
        yield deal
    elif isinstance(deal, dict):
        for item in deal.values():
            yield from deal_strings(item)
    elif isinstance(deal, list):
        for item in deal:
            yield from deal_strings(item)


def schema_enums(node: Any = None, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Yield (path, value) for every enum value the schema allows (list items as ``[]``)."""
    node = _resolved(SCHEMA if node is None else node)
    for value_ in node.get("enum", []):
        yield path, value_
    if node.get("type") == "object":
        for name, sub in dealsheet.all_properties(node, SCHEMA).items():
            yield from schema_enums(sub, f"{path}.{name}")
    if node.get("type") == "array" and "items" in node:
        yield from schema_enums(node["items"], f"{path}[]")


def schema_fields(node: Any = None, path: str = "$") -> Iterator[str]:
    """Yield the path of every field the schema defines (list items as ``[]``)."""
    node = _resolved(SCHEMA if node is None else node)
    if node.get("type") == "object":
        for name, sub in dealsheet.all_properties(node, SCHEMA).items():
            yield f"{path}.{name}"
            yield from schema_fields(sub, f"{path}.{name}")
    if node.get("type") == "array" and "items" in node:
        yield from schema_fields(node["items"], f"{path}[]")


def deal_enums(deal: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Yield (schema-style path, value) for every scalar in a deal."""
    if isinstance(deal, dict):
        for name, item in deal.items():
            yield from deal_enums(item, f"{path}.{name}")
    elif isinstance(deal, list):
        for item in deal:
            yield from deal_enums(item, f"{path}[]")
    else:
        yield path, deal


def deal_fields(deal: Any, path: str = "$") -> Iterator[str]:
    """Yield the schema-style path of every field present in a deal."""
    if isinstance(deal, dict):
        for name, item in deal.items():
            yield f"{path}.{name}"
            yield from deal_fields(item, f"{path}.{name}")
    elif isinstance(deal, list):
        for item in deal:
            yield from deal_fields(item, f"{path}[]")


# --- reading the outputs back ----------------------------------------------------------------

def docx_paragraphs(data: bytes) -> list[str]:
    """Return the text of every paragraph of document.xml (tables included), via python-docx."""
    import io

    import docx
    from docx.oxml.ns import qn

    document = docx.Document(io.BytesIO(data))
    text_tag, tab_tag, breaks = qn("w:t"), qn("w:tab"), {qn("w:br"), qn("w:cr")}
    out = []
    for paragraph in document.element.body.iter(qn("w:p")):
        parts = []
        for element in paragraph.iter():
            if element.tag == text_tag:
                parts.append(element.text or "")
            elif element.tag == tab_tag:
                parts.append("\t")
            elif element.tag in breaks:
                parts.append("\n")
        out.append("".join(parts))
    return out


def markdown_blocks(text: str) -> list[str]:
    """Parse Markdown with markdown-it-py; return the plain text of each inline block."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    out = []
    for token in parser.parse(text):
        if token.type != "inline":
            continue
        parts = []
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                parts.append(child.content)
            elif child.type == "softbreak":
                parts.append(" ")
            elif child.type == "hardbreak":
                parts.append("\n")
        out.append("".join(parts))
    return out
