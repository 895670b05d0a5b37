"""Hostile deal text stays literal: XML, Markdown and Jinja syntax, sandbox-escape payloads,
non-Latin scripts and very long words, put into every free-text field of the examples.

Each free-text field (every string the schema gives no enum, pattern or format) gets its own
hostile value, tagged so that a missing field can be named. Both examples are rendered in
both languages to Markdown and Word; every value must come back literally (Markdown after
markdown-it-py parses it; Word from document.xml), and no deal text may reach Jinja.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import jinja2
import pytest
from conftest import load_example
from hypothesis import given
from hypothesis import strategies as st
from strategies import SCHEMA, docx_paragraphs, markdown_blocks

from contractgen import dealsheet, pipeline, render, rules
from contractgen.writers.markdown import write_markdown
from contractgen.writers.word import write_docx

LONG_WORD = "Ω" + "x" * 298 + "Z"  # 300 characters, no break opportunity

PAYLOADS = [
    "Smith & Sons <Ltd> \"Quoted\" 'single' &amp; &#x41; &lt;b&gt;",
    "*not bold* _not italic_ **nor** __this__ [link](http://evil.example) ![img](x.png)",
    "# not a heading | a | b | \\ back\\slash `code` ~~strike~~ <br> <!-- c -->",
    "1. not a list item",
    "- not a bullet",
    "+ not a bullet either",
    "{{ 7*7 }} and {{7*7}}",
    "{% for x in range(9999999) %}X{% endfor %}",
    "{# c #} {#- trimmed -#}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ self._TemplateReference__context }} {% include '/etc/passwd' %}",
    "Ñandú Ærøskøbing Łódź 東京都 مرحبا बधाई 🚀👩‍💼🇲🇽",
    "<script>alert('x')</script> ]]> <![CDATA[ x ]]> <w:t>",
    "[](#cg-ref:definitions) [x](#cg-term) [](#cg-toc) [](#cg-page_break)",
    "50% of $100 = 1/2; a=b; x^2 {x} (y) [z]",
]
# Whole-line Markdown constructs that a tag after them would defuse: given untagged, as extra
# items of lists of text.
WHOLE_LINE = ["---", "===", "- - -", "1.", "-", "+", "#", "* * *", "> quote", "| a |"]


def _free_text_fields(data: Any, node: Any, path: tuple[Any, ...] = ()
                      ) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    """Yield (path, schema) for every free-text string present in ``data``."""
    node = dealsheet.resolved(node, SCHEMA)
    if isinstance(data, dict):
        properties = dealsheet.all_properties(node, SCHEMA)
        for name, value in data.items():
            yield from _free_text_fields(value, properties[name], (*path, name))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _free_text_fields(item, node["items"], (*path, index))
    elif isinstance(data, str):
        if not any(key in node for key in ("enum", "pattern", "format", "const")):
            yield path, node


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _enable_everything(deal: dict[str, Any]) -> None:
    """Turn on every option that carries text, so that its text is rendered."""
    oversight = deal["oversight"]
    oversight["client_contract_manager"].setdefault("name", "Contract Manager Name")
    for person in oversight["vendor_key_personnel"]:
        person.setdefault("name", "Key Person Name")
    indexation = deal["commercials"]["indexation"]
    if not indexation["enabled"]:
        indexation.update(enabled=True, index="Consumer Price Index", frequency="annual",
                          cap_percent=5, first_adjustment_date="2030-01-01")


def hostile(example: str) -> tuple[dict[str, Any], dict[tuple[Any, ...], str]]:
    """Return the example with a tagged hostile value in each free-text field."""
    deal = load_example(example)
    _enable_everything(deal)
    fields = list(_free_text_fields(deal, SCHEMA))
    values: dict[tuple[Any, ...], str] = {}
    cursor = 0
    for number, (path, node) in enumerate(fields):
        limit = node.get("maxLength", 200)
        tag = f" ~{number:02d}"
        if number % 4 == 0 and len(LONG_WORD) + len(tag) <= limit:
            payload = LONG_WORD
        else:
            payload = PAYLOADS[cursor % len(PAYLOADS)]
            cursor += 1
            assert len(payload) + len(tag) <= limit, (path, payload)
        values[path] = payload + tag
        _set(deal, path, payload + tag)
    for key in ("exclusions",):
        deal["scope"][key].extend(WHOLE_LINE)
    deal["scope"]["functions"][0]["activities"].extend(WHOLE_LINE)
    deal["data_protection"]["data_categories"].extend(WHOLE_LINE)
    return deal, values


class _CompileSpy:
    """Record every source Jinja compiles while rendering (cached templates are not
    recompiled; deal text, never being a template file, could only come through here)."""

    def __init__(self) -> None:
        self.sources: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = jinja2.Environment.compile

        def compile(env: jinja2.Environment, source: Any, *args: Any, **kwargs: Any) -> Any:
            self.sources.append(source if isinstance(source, str) else "")
            return original(env, source, *args, **kwargs)

        parse = jinja2.Environment._parse

        def _parse(env: jinja2.Environment, source: str, *args: Any, **kwargs: Any) -> Any:
            self.sources.append(source)
            return parse(env, source, *args, **kwargs)

        monkeypatch.setattr(jinja2.Environment, "compile", compile)
        monkeypatch.setattr(jinja2.Environment, "_parse", _parse)


@pytest.fixture(scope="module")
def library() -> Any:
    return pipeline.open_library()


def _render(library: Any, deal: dict[str, Any], language: str) -> tuple[str, bytes]:
    problems = dealsheet.validate(deal, "hostile.json")
    assert problems == [], "\n".join(f"{p.path}: {p.message}" for p in problems)
    data = dealsheet.normalise(deal, SCHEMA)
    document = render.build_document(library, rules.select(library, data), data, language)
    return write_markdown(document), write_docx(document)


@pytest.mark.parametrize("example", ["northwind-bpo.json", "bajio-nomina.json"])
@pytest.mark.parametrize("language", ["en", "es"])
def test_hostile_text_is_shown_literally_and_never_evaluated(
        library: Any, monkeypatch: pytest.MonkeyPatch, example: str, language: str) -> None:
    deal, values = hostile(example)
    spy = _CompileSpy()
    spy.install(monkeypatch)
    markdown, docx = _render(library, deal, language)

    md_text = "\n".join(markdown_blocks(markdown))
    docx_text = "\n".join(docx_paragraphs(docx))
    missing = []
    for path, value in values.items():
        where = "$." + ".".join(str(p) for p in path)
        for kind, text in (("md", md_text), ("docx", docx_text)):
            if value not in text:
                missing.append(f"{kind}: {where} = {value[:50]!r}")
            if "{{ 7*7 }}" in value:
                assert value.replace("{{ 7*7 }}", "49") not in text, f"{kind}: {where} evaluated"
    assert not missing, "hostile values not shown literally:\n" + "\n".join(missing)

    # Whole-line constructs survive as text, not as Markdown structure.
    md_lines = markdown_blocks(markdown)
    for construct in WHOLE_LINE:
        pattern = re.compile(rf"(^|[\s:;,(]){re.escape(construct)}($|[\s;,.)])")
        assert any(pattern.search(line) for line in md_lines), f"md lost {construct!r}"
        assert any(pattern.search(line) for line in docx_paragraphs(docx)), \
            f"docx lost {construct!r}"

    # Nothing was evaluated: no 49 for 7*7, no loop output, no Python objects.
    for kind, text in (("md", md_text), ("docx", docx_text)):
        assert "XXXXXXXXXX" not in text, f"{kind}: a loop from deal text ran"
        assert "<class" not in text and "<module" not in text, f"{kind}: Python objects leaked"
        assert "/etc/passwd" in text  # shown as text, never read
        assert len(text) < 3_000_000
    # Deal text never reached Jinja's compiler (only templates and definitions did).
    tags = [value for value in values.values() if "{" in value]
    leaked = [source for source in spy.sources if any(tag in source for tag in tags)]
    assert not leaked, f"deal text compiled as a template: {leaked[0][:200]!r}"
    jinja2.Environment().from_string("{{ 'spy control' }}")  # the spy does see compiles
    assert any("spy control" in source for source in spy.sources)


@pytest.mark.parametrize("language", ["en", "es"])
def test_hostile_text_in_a_rule_facing_field_changes_no_clause_choice(
        library: Any, language: str) -> None:
    """Deal text is data to the rules too: a payload in every field selects the same clauses."""
    plain = load_example("northwind-bpo.json")
    _enable_everything(plain)
    deal, _ = hostile("northwind-bpo.json")
    chosen = [rules.select(library, dealsheet.normalise(d, SCHEMA)).included_ids
              for d in (plain, deal)]
    assert chosen[0] == chosen[1]


def test_hostile_deal_stays_valid() -> None:
    """The hostile deals respect every bound of the schema (so they test rendering)."""
    for example in ("northwind-bpo.json", "bajio-nomina.json"):
        deal, values = hostile(example)
        assert len(values) > 40
        assert any(LONG_WORD in value for value in values.values())
        for payload in PAYLOADS:
            assert any(payload in value for value in values.values()), payload
        assert dealsheet.validate(copy.deepcopy(deal), example) == []


_MARKS = "\\`*_{}[]()<>#+-.!|~&\"'=:$%^"


@given(st.text(alphabet=st.sampled_from([*_MARKS, "a", "Z", "0", " ", "\n", "é", "“"]),
               max_size=40))
def test_escaping_puts_a_backslash_before_each_markdown_mark_and_nothing_else(
        text: str) -> None:
    from contractgen.sandbox import escape_markdown

    expected = "".join("\\" + c if c in _MARKS else c for c in text)
    assert escape_markdown(text) == expected
