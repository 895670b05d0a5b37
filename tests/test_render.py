"""The renderer: templates -> Markdown -> numbered, cross-referenced document model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from minilib import write_library

from contractgen import model as m
from contractgen.dealsheet import load_schema, normalise
from contractgen.errors import LibraryError
from contractgen.library import load_library
from contractgen.render import build_document
from contractgen.rules import select


def _document(root: Path, deal: dict[str, Any], language: str = "en") -> m.Document:
    data = normalise(deal, load_schema(root))
    library = load_library(root)
    return build_document(library, select(library, data), data, language)


def _general(deal: dict[str, Any]) -> dict[str, Any]:
    deal["parties"]["client"]["sector"] = "general"
    return deal


def _find(doc: m.Document, kind: type, text: str) -> Any:
    for block in doc.blocks:
        if isinstance(block, kind) and text in m.runs_text(getattr(block, "runs", ())):
            return block
    raise AssertionError(f"no {kind.__name__} containing {text!r}")


def test_clauses_and_subclauses_are_numbered(minilib: Path, northwind: dict[str, Any]) -> None:
    doc = _document(minilib, _general(northwind))
    headings = [b for b in doc.blocks if isinstance(b, m.NumberedHeading)]
    assert [(h.scheme, h.label) for h in headings] == [
        ("clause", "1."), ("clause", "2."), ("schedule", "Schedule 1")]
    assert _find(doc, m.NumberedPara, "step in if a failure").number == "2.1"
    assert _find(doc, m.NumberedPara, "cooperate").number == "(a)"
    assert _find(doc, m.NumberedPara, "give access").number == "(b)"
    assert _find(doc, m.NumberedPara, "See ").number == "2.3"
    assert _find(doc, m.NumberedPara, "Invoices are payable").number == "1."


def test_cross_references_resolve_to_numbers(minilib: Path, northwind: dict[str, Any]) -> None:
    doc = _document(minilib, _general(northwind))
    refs = {r.target: r for r in doc.iter_runs() if isinstance(r, m.Ref)}
    assert refs["charges_schedule"].label == "Schedule 1"
    assert refs["step_in.trigger"].label == "clause 2.1"
    anchored = _find(doc, m.NumberedPara, "step in if a failure")
    assert anchored.bookmark == refs["step_in.trigger"].bookmark


def test_definitions_are_sorted_and_bold(minilib: Path, northwind: dict[str, Any]) -> None:
    doc = _document(minilib, _general(northwind))
    terms = [r.text for r in doc.iter_runs() if isinstance(r, m.Term)]
    assert terms[terms.index("Charges"):terms.index("Charges") + 2] == ["Charges", "Effective Date"]
    assert "Step-In Period" in terms
    effective = _find(doc, m.Paragraph, "Effective Date")
    assert effective.indent == 2
    assert m.runs_text(effective.runs) == "“Effective Date” means January 4, 2027."


def test_sections_join_their_schedule(minilib: Path, northwind: dict[str, Any]) -> None:
    doc = _document(minilib, _general(northwind))
    kinds = [type(b).__name__ for b in doc.blocks]
    schedule = kinds.index("NumberedHeading", kinds.index("SignatureBlock"))
    assert isinstance(doc.blocks[schedule + 1], m.Table)
    assert _find(doc, m.Heading, "Offshore delivery").level == 2
    assert _find(doc, m.BulletItem, "Delivered from Taguig and Bogotá.")


def test_spanish_uses_spanish_words_and_formats(minilib: Path) -> None:
    from conftest import load_example

    doc = _document(minilib, load_example("bajio-nomina.json"), "es")
    refs = [r.label for r in doc.iter_runs() if isinstance(r, m.Ref)]
    assert "Anexo 1" in refs
    assert _find(doc, m.Paragraph, "Fecha de Entrada en Vigor").runs[-1].text.endswith(
        "1 de febrero de 2027.")
    assert doc.meta.language == "es-MX"
    assert doc.meta.paper == "a4"
    assert _find(doc, m.NumberedPara, "Declara el Cliente").number == "I."


def test_deal_text_is_literal(minilib: Path, northwind: dict[str, Any]) -> None:
    hostile = "*Acme* [x](http://e.com) {{ 7*7 }} {% raw %} <b>&amp; | #1 _u_"
    northwind["commercials"]["rates"][0]["description"] = hostile
    doc = _document(minilib, _general(northwind))
    table = next(b for b in doc.blocks if isinstance(b, m.Table))
    assert m.runs_text(table.rows[0][0]) == hostile


def test_document_meta_follows_governing_law(minilib: Path, northwind: dict[str, Any]) -> None:
    doc = _document(minilib, _general(northwind))
    assert (doc.meta.language, doc.meta.paper) == ("en-US", "letter")
    northwind["agreement"]["governing_law"] = "GB-ENG"
    doc = _document(minilib, _general(northwind))
    assert (doc.meta.language, doc.meta.paper) == ("en-GB", "a4")
    assert "4 January 2027" in m.runs_text(_find(doc, m.Paragraph, "Effective Date").runs)


def _broken(tmp_path: Path, template: str) -> Path:
    return write_library(tmp_path, {"performance/step_in.en.md.j2": template})


@pytest.mark.parametrize("template, message", [
    ("1. Text\n{{ agreement.nope }}\n", "step_in.en.md.j2:2: .*nope"),
    ("Fine.\n\n{% if %}\n", "step_in.en.md.j2:3: template syntax error"),
    ("Fine.\n\n{{ parties.vendor.repse_registration }}\n", r"step_in.en.md.j2:3: .*empty value"),
    ("See {{ ref('step_in_regulated') }}.\n", "leaves out"),
    ("See {{ ref('no_such_clause') }}.\n", "no clause module with id 'no_such_clause'"),
    ("See {{ ref('step_in.nowhere') }}.\n", "names no clause or anchor"),
    ("# Big heading\n", "use ## or ###"),
    ("> quoted\n", "unsupported Markdown"),
])
def test_template_errors_name_file_and_line(tmp_path: Path, northwind: dict[str, Any],
                                            template: str, message: str) -> None:
    root = _broken(tmp_path, template)
    northwind["parties"]["client"]["sector"] = "general"
    with pytest.raises(LibraryError, match=message) as caught:
        _document(root, northwind)
    assert caught.value.exit_code == 5


def test_a_section_may_place_the_definitions(tmp_path: Path, northwind: dict[str, Any]) -> None:
    root = write_library(tmp_path, {"schedules/offshore_section.en.md.j2":
                                    "1. Terms used here:\n\n   {{ definitions() }}\n"})
    doc = _document(root, _general(northwind))
    kinds = [type(b).__name__ for b in doc.blocks]
    section = kinds.index("Heading", kinds.index("SignatureBlock"))
    placed = [b for b in doc.blocks[section:] if isinstance(b, m.Paragraph)]
    assert [m.runs_text(b.runs).split("”")[0] for b in placed] == ["“Charges", "“Effective Date"]
    assert all(b.indent == 1 for b in placed)  # in a schedule, list items start at level 1


def test_the_skeleton_may_not_place_the_definitions(tmp_path: Path,
                                                     northwind: dict[str, Any]) -> None:
    root = write_library(tmp_path)
    skeleton = root / "templates" / "agreement.en.md.j2"
    skeleton.write_text(skeleton.read_text(encoding="utf-8") + "\n{{ definitions() }}\n",
                        encoding="utf-8")
    with pytest.raises(LibraryError, match="definitions\\(\\) belongs in the Definitions"):
        _document(root, _general(northwind))


def test_templates_are_sandboxed(tmp_path: Path, northwind: dict[str, Any]) -> None:
    root = _broken(tmp_path, "{{ ''.__class__.__mro__ }}\n")
    with pytest.raises(LibraryError):
        _document(root, _general(northwind))


def test_deal_value_ending_in_a_stop_is_not_doubled(minilib: Path,
                                                    northwind: dict[str, Any]) -> None:
    northwind["parties"]["vendor"]["legal_name"] = "Archipelago Contact Solutions, Inc."
    northwind["parties"]["client"]["sector"] = "general"
    northwind["performance"]["remedies"] = ["step_in"]
    doc = _document(minilib, northwind)
    text = m.runs_text(_find(doc, m.NumberedPara, "give access").runs)
    assert text == "give access to Archipelago Contact Solutions, Inc. premises."
    northwind["commercials"]["rates"][0]["description"] = "Dots.. stay.."
    doc = _document(minilib, northwind)
    table = next(b for b in doc.blocks if isinstance(b, m.Table))
    assert m.runs_text(table.rows[0][0]) == "Dots.. stay.."
