"""Snapshots of every clause module, for every representative deal that includes it.

Counsel review these as text diffs: a change of wording, numbering or an inclusion rule shows
up here. Test ids come from the clause ids in the library, so a new module without a snapshot
fails, and syrupy fails on the stale snapshot of a removed module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO

from contractgen import model as m
from contractgen.pipeline import build, choose, open_library
from contractgen.writers.markdown import block_markdown

DEALS: dict[str, Path] = {
    "northwind": EXAMPLES / "northwind-bpo.json",
    "bajio": EXAMPLES / "bajio-nomina.json",
    **{p.stem: p for p in sorted((REPO / "tests" / "data" / "deals").glob("*.json"))},
}
LANGUAGES = ("en", "es")


@cache
def _included(deal: str) -> frozenset[str]:
    return choose(DEALS[deal])[2].included_ids


@cache
def _document(deal: str, language: str) -> m.Document:
    return build(DEALS[deal], language).document


def _cases() -> list[tuple[str, str, str]]:
    cases = []
    for module in open_library().modules:
        for deal in DEALS:
            if module.id in _included(deal):
                cases.extend((module.id, deal, lang) for lang in LANGUAGES)
    return cases


def _markdown(blocks: tuple[m.Block, ...]) -> str:
    return "\n\n".join(filter(None, (block_markdown(b) for b in blocks))) + "\n"


@pytest.mark.parametrize("module_id, deal, language", _cases())
def test_clause_module_renders_as_snapshot(module_id: str, deal: str, language: str,
                                           snapshot: object) -> None:
    blocks = _document(deal, language).module_blocks(module_id)
    assert blocks, f"{module_id} is selected for {deal} but produced no blocks"
    assert _markdown(blocks) == snapshot


def test_every_module_is_included_by_some_representative_deal() -> None:
    unexercised = [mod.id for mod in open_library().modules
                   if not any(mod.id in _included(deal) for deal in DEALS)]
    assert unexercised == [], "add a deal under tests/data/deals that switches these on"


@pytest.mark.parametrize("deal, language", [("northwind", "en"), ("bajio", "es")])
def test_whole_document_model_snapshot(deal: str, language: str, snapshot: object) -> None:
    """The examples' whole model: the frame (parties, recitals, signatures) and the order."""
    assert _document(deal, language).pretty() == snapshot
