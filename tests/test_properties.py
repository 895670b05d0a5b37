"""Property tests: every valid deal sheet renders, in both languages, into clean outputs.

Deal sheets come from ``strategies.deals()``, which walks the JSON Schema. The first test
guards the strategy itself (every drawn deal is valid; every enum value and optional field
turns up); the second renders drawn deals through the real clause library and checks what
comes out: a .docx that python-docx opens, Markdown that markdown-it-py parses, and no
template syntax, "None", "undefined" or empty-placeholder artefacts that deal text does not
explain.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from strategies import (
    deal_enums,
    deal_fields,
    deal_strings,
    deals,
    docx_paragraphs,
    markdown_blocks,
    schema_enums,
    schema_fields,
)

from contractgen import dealsheet, pipeline
from contractgen import model as m

# Deterministic (derandomize, no example database) and bounded. Shrinking is left out: a
# rendered example costs ~0.5 s, and the failure message already names the clause module.
settings.register_profile(
    "contractgen-properties",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
PROFILE = settings.get_profile("contractgen-properties")

MASK = "\x00"

# What a template left behind when a value it printed was empty or missing. Deal text is
# masked first, so only template text (and formatted numbers) can match.
ARTEFACTS = {
    "template syntax": re.compile(r"\{\{|\{%|\{#|\}\}|%\}|#\}"),
    "undefined": re.compile(r"\bundefined\b|\bUndefined\b"),
    "a printed None": re.compile(r"(?<=.)\bNone\b", re.DOTALL),
    "a space before punctuation": re.compile(r" [,;.:](?!\d)"),
    "empty brackets": re.compile(r"\(\s*\)|\[\s*\]"),
    "empty quotes": re.compile(r"“\s*”|\"\s*\"|‘\s*’"),
    "a doubled comma": re.compile(r",\s*,"),
    "a doubled full stop": re.compile(r"(?<!\.)\.\.(?!\.)"),
    "a doubled space": re.compile(r"\S {2,}\S"),
}


Masker = list[tuple[str, re.Pattern[str]]]


def _masker(deal: dict[str, Any]) -> Masker:
    """Return (text, pattern) for each deal string, longest first; a pattern matches the
    text standing on its own, not inside a longer word."""
    found = set(deal_strings(deal))
    # A template may start a sentence with a deal value, capitalising its first letter.
    found |= {value[:1].upper() + value[1:] for value in found}
    return [
        (value, re.compile((r"(?<!\w)" if value[0].isalnum() else "") + re.escape(value)
                           + (r"(?!\w)" if value[-1].isalnum() else "")))
        for value in sorted(found, key=len, reverse=True)
    ]


def _mask(text: str, masker: Masker) -> str:
    """Replace deal text by MASK so that only template text remains."""
    for value, pattern in masker:
        if value in text:  # cheap test first: most values are in few texts
            text = pattern.sub(MASK, text)
    return text


def _artefacts(text: str) -> Iterator[str]:
    for name, pattern in ARTEFACTS.items():
        for found in pattern.finditer(text):
            start, end = max(0, found.start() - 40), found.end() + 40
            context = text[start:end].replace(MASK, "‹deal›")
            yield f"{name}: …{context}…"


def _model_texts(doc: m.Document) -> Iterator[tuple[str, str]]:
    """Yield (owning clause module, text) for each block and table cell of the model."""
    owners: dict[int, str] = {}
    for owner, start, end in doc.spans:
        for index in range(start, end):
            owners[index] = owner
    for index, block in enumerate(doc.blocks):
        owner = owners.get(index, "agreement skeleton")
        match block:
            case m.Table():
                for cells in (block.header, *block.rows):
                    for cell in cells:
                        yield owner, m.runs_text(cell)
            case m.SignatureBlock() | m.PageBreak() | m.TableOfContents():
                pass
            case _:
                yield owner, m.runs_text(block.runs)


def _where(library: Any, owner: str, language: str) -> str:
    try:
        return library.rel(library.get(owner).template_path(language))
    except Exception:  # the skeleton is no clause module
        return f"{owner} ({language})"


def test_generated_deals_are_valid_and_cover_the_schema() -> None:
    """Guard the strategy: it only draws valid deals, and draws every enum and field."""
    enums_seen: set[tuple[str, Any]] = set()
    fields_seen: set[str] = set()

    @settings(PROFILE, max_examples=150)
    @given(deals())
    def check(deal: dict[str, Any]) -> None:
        problems = dealsheet.validate(deal, "generated.json")
        assert problems == [], "\n".join(f"{p.path}: {p.message}" for p in problems)
        enums_seen.update(deal_enums(deal))
        fields_seen.update(deal_fields(deal))

    check()
    # Every enum field is drawn; its values come from sampled_from(the schema's enum), so each
    # value is reachable by construction. Asserting that each value turned up in a fixed number
    # of draws would make the test depend on Hypothesis' generation order.
    missing_enums = sorted({p for p, _ in schema_enums()} - {p for p, _ in enums_seen})
    missing_fields = sorted(set(schema_fields()) - fields_seen)
    assert not missing_enums, f"never drawn: {missing_enums}"
    assert not missing_fields, f"never drawn: {missing_fields}"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generated")


@settings(PROFILE, max_examples=25)
@given(deal=deals())
def test_every_valid_deal_renders_cleanly_in_both_languages(folder: Path,
                                                           deal: dict[str, Any]) -> None:
    path = folder / "deal.json"
    path.write_text(json.dumps(deal, ensure_ascii=False, indent=2), encoding="utf-8")
    strings = _masker(deal)
    problems: list[str] = []
    for language in ("en", "es"):
        contract = pipeline.build(path, language)
        for owner, text in _model_texts(contract.document):
            for found in _artefacts(_mask(text, strings)):
                problems.append(f"{_where(contract.library, owner, language)}: {found}")
        files = pipeline.write_formats(contract.document, pipeline.FORMATS)

        markdown = files["md"].decode("utf-8")
        blocks = markdown_blocks(markdown)  # markdown-it-py parses it
        assert blocks, "the Markdown has no text"
        # Every { that deal text brings is backslash-escaped; template syntax would not be.
        unescaped = re.sub(r"\\.", "", markdown)
        assert not re.search(r"\{\{|\{%|\{#", unescaped), f"{language}: template syntax in md"
        for text in blocks:
            problems.extend(f"md ({language}): {f}" for f in _artefacts(_mask(text, strings)))

        paragraphs = docx_paragraphs(files["docx"])  # python-docx opens it
        assert any(paragraphs), "the .docx has no text"
        for text in paragraphs:
            problems.extend(f"docx ({language}): {f}" for f in _artefacts(_mask(text, strings)))
    unique = list(dict.fromkeys(problems))
    assert not unique, "artefacts in the rendered contract:\n" + "\n".join(unique[:30])
