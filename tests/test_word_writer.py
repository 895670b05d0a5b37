"""Tests for the Word writer: structure, numbering, fields, determinism, validity, rendering."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import docx
import pytest
from lxml import etree

from contractgen.model import (
    BulletItem,
    Document,
    DocumentMeta,
    Heading,
    NumberedHeading,
    NumberedPara,
    PageBreak,
    Paragraph,
    Ref,
    SignatureBlock,
    SignatureParty,
    Table,
    TableOfContents,
    Term,
    Text,
    Title,
)
from contractgen.writers.word import write_docx

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = {"w": W}
SHARED = Path(__file__).resolve().parents[2] / "shared"
SOFFICE = shutil.which("libreoffice") or shutil.which("soffice")


def q(tag: str) -> str:
    return f"{{{W}}}{tag}"


# --------------------------------------------------------------------------- fixtures


def _meta(language: str) -> DocumentMeta:
    if language.startswith("es"):
        return DocumentMeta(
            title="Contrato de Prestación de Servicios",
            reference="BN-2026-07",
            subject="Servicios de nómina",
            language=language,
            paper="letter",
            header_text="Contrato de Prestación de Servicios — BN-2026-07",
            page_label="Página {page} de {pages}",
            clause_ref_prefix="cláusula ",
            schedule_label="Anexo",
        )
    return DocumentMeta(
        title="Business Process Outsourcing Services Agreement",
        reference="NW-2026-001",
        subject="Contact centre services",
        language=language,
        paper="a4",
        header_text="BPO Services Agreement — NW-2026-001",
        page_label="Page {page} of {pages}",
        clause_ref_prefix="clause ",
        schedule_label="Schedule",
    )


def make_document(language: str = "en-GB") -> Document:
    """Build a Document with every block type, numbered the way render would number it."""
    es = language.startswith("es")
    sched = "Anexo" if es else "Schedule"
    clause = "cláusula " if es else "clause "
    recital_numbers = ("I.", "II.") if es else ("(A)", "(B)")
    blocks = (
        Title((Text("BUSINESS PROCESS OUTSOURCING SERVICES AGREEMENT"),)),
        Paragraph(
            (
                Text("Between "),
                Text("Northwind Traders Ltd", bold=True),
                Text(" and "),
                Text("Contoso BPO S.A.", italic=True),
            ),
            align="center",
        ),
        TableOfContents(
            "Contents",
            (
                ("1", "Definitions"),
                ("2", "Services"),
                ("3", "Service Levels"),
                (f"{sched} 1", "Services"),
                (f"{sched} 2", "Service Levels"),
            ),
        ),
        PageBreak(),
        Heading(1, (Text("RECITALS"),)),
        NumberedPara("recital", 1, recital_numbers[0], (Text("The Client wishes to outsource."),)),
        NumberedPara("recital", 1, recital_numbers[1], (Text("The Supplier provides services."),)),
        Heading(1, (Text("AGREED TERMS"),)),
        NumberedHeading("clause", "1", "Clause 1", (Text("Definitions"),), "cl_definitions"),
        NumberedPara(
            "clause",
            2,
            "1.1",
            (
                Text("In this Agreement "),
                Term("Services"),
                Text(" means the services in "),
                Ref("schedule_services", "sch_services", f"{sched} ", "1"),
                Text("."),
            ),
            "cl_definitions_1",
        ),
        NumberedPara("clause", 2, "1.2", (Text("Headings do not affect interpretation."),)),
        NumberedHeading("clause", "2", "Clause 2", (Text("Services"),), "cl_services"),
        NumberedPara(
            "clause", 2, "2.1", (Text("The Supplier shall provide the Services:"),), "cl_services_1"
        ),
        NumberedPara(
            "clause", 3, "2.1(a)", (Text("with reasonable skill and care;"),), "cl_services_1_a"
        ),
        NumberedPara(
            "clause",
            3,
            "2.1(b)",
            (
                Text("in accordance with "),
                Ref("service_levels", "cl_service_levels", clause, "3"),
                Text("."),
            ),
        ),
        Paragraph((Text("This paragraph continues clause 2.1 at the text of level 2."),), indent=2),
        Paragraph((Text("This paragraph sits at the text of level 3."),), indent=3),
        BulletItem((Text("English"),), indent=2),
        BulletItem((Text("Spanish"),), indent=2),
        BulletItem((Text("Regional variants"),), level=2, indent=2),
        NumberedPara(
            "clause",
            2,
            "2.2",
            (
                Text("As set out in "),
                Ref("services_1_a", "cl_services_1_a", clause, "2.1(a)"),
                Text(", care is owed."),
            ),
            "cl_services_2",
        ),
        Heading(2, (Text("Exclusions"),)),
        Heading(3, (Text("Implied services"),)),
        NumberedHeading("clause", "3", "Clause 3", (Text("Service Levels"),), "cl_service_levels"),
        NumberedPara(
            "clause",
            2,
            "3.1",
            (
                Text("See "),
                Ref("schedule_sl", "sch_service_levels", f"{sched} ", "2"),
                Text(" and "),
                Ref("services", "cl_services", clause, "2"),
                Text("."),
            ),
            "cl_service_levels_1",
        ),
        SignatureBlock(
            (
                SignatureParty("Client", "Northwind Traders Ltd", "Jane Doe", "Chief Executive"),
                SignatureParty("Supplier", "Contoso BPO S.A.", "Juan Pérez", "Director General"),
            ),
            "Por" if es else "By",
            "Nombre" if es else "Name",
            "Cargo" if es else "Title",
            "Fecha" if es else "Date",
        ),
        NumberedHeading("schedule", "1", f"{sched} 1", (Text("Services"),), "sch_services"),
        NumberedPara("schedule", 1, "1", (Text("Service description."),), list_instance=1),
        NumberedPara("schedule", 2, "1.1", (Text("Inbound voice."),), "sch1_1_1", list_instance=1),
        NumberedPara("schedule", 3, "1.1(a)", (Text("Hours 08:00-20:00."),), list_instance=1),
        NumberedPara("schedule", 1, "2", (Text("Locations."),), list_instance=1),
        Table(
            header=((Text("ID"),), (Text("Service level"),), (Text("Target"),)),
            rows=(
                ((Text("SL-01"),), (Text("Calls answered within 20 seconds"),), (Text("80%"),)),
                ((Text("SL-02"),), (Text("First contact resolution"),), (Text("75%"),)),
            ),
            caption=(Text("Table 1 — Service levels"),),
        ),
        PageBreak(),
        NumberedHeading(
            "schedule",
            "2",
            f"{sched} 2",
            (Text("Service Levels"),),
            "sch_service_levels",
            list_instance=2,
        ),
        NumberedPara("schedule", 1, "1", (Text("Measurement."),), list_instance=2),
        NumberedPara("schedule", 2, "1.1", (Text("Monthly."),), list_instance=2),
    )
    return Document(_meta(language), blocks)


@pytest.fixture(scope="module")
def english() -> bytes:
    return write_docx(make_document("en-GB"))


@pytest.fixture(scope="module")
def spanish() -> bytes:
    return write_docx(make_document("es-MX"))


def part(data: bytes, name: str) -> etree._Element:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return etree.fromstring(z.read(name))


def paragraph_text(p: etree._Element) -> str:
    """Return the visible text of a paragraph (field results, not instructions)."""
    return "".join("\t" if el.tag == q("tab") else el.text or "" for el in p.iter(q("t"), q("tab")))


# --------------------------------------------------------------------------- structure


def _data_table(opened):  # type: ignore[no-untyped-def]
    return next(t for t in opened.tables if t.rows[0].cells[0].text == "ID")


def test_output_opens_with_python_docx_and_uses_named_styles(english: bytes) -> None:
    opened = docx.Document(io.BytesIO(english))
    styles = {p.style.name for p in opened.paragraphs}
    assert {
        "Title",
        "Heading 1",
        "Heading 2",
        "Heading 3",
        "Normal",
        "Part Heading",
        "Clause Level 2",
        "Clause Level 3",
        "Recital",
        "List Bullet",
        "toc 1",
        "TOC Heading",
        "Schedule Level 1",
        "Caption",
    } <= styles
    assert _data_table(opened).style.name == "Contract Table"
    headings = [p.text for p in opened.paragraphs if p.style.name == "Heading 1"]
    assert headings == [
        "Definitions",
        "Services",
        "Service Levels",
        "Schedule 1 \u2014 Services",
        "Schedule 2 \u2014 Service Levels",
    ]


def test_numbers_are_not_typed_as_text(english: bytes) -> None:
    opened = docx.Document(io.BytesIO(english))
    numbered = [p.text for p in opened.paragraphs if p.style.name.startswith("Clause Level")]
    assert numbered[0].startswith("In this Agreement")
    assert not any(re.match(r"\(?\d|\([a-z]\)", text) for text in numbered)


def test_default_font_size_and_language(english: bytes, spanish: bytes) -> None:
    for data, lang in ((english, "en-GB"), (spanish, "es-MX")):
        rpr = part(data, "word/styles.xml").find("w:docDefaults/w:rPrDefault/w:rPr", NS)
        assert rpr.find("w:lang", NS).get(q("val")) == lang
        assert rpr.find("w:sz", NS).get(q("val")) == "22"
        assert rpr.find("w:rFonts", NS).get(q("ascii")) == "Times New Roman"


def test_paper_size_and_margins_follow_meta(english: bytes, spanish: bytes) -> None:
    a4 = docx.Document(io.BytesIO(english)).sections[0]
    letter = docx.Document(io.BytesIO(spanish)).sections[0]
    assert (a4.page_width.twips, a4.page_height.twips, a4.left_margin.twips) == (11906, 16838, 1418)
    assert (letter.page_width.twips, letter.page_height.twips, letter.left_margin.twips) == (
        12240,
        15840,
        1440,
    )


def test_table_has_repeating_shaded_header_and_cell_text(english: bytes) -> None:
    table = _data_table(docx.Document(io.BytesIO(english)))
    assert [c.text for c in table.rows[0].cells] == ["ID", "Service level", "Target"]
    assert table.rows[1].cells[1].text == "Calls answered within 20 seconds"
    assert table.rows[0]._tr.find("w:trPr/w:tblHeader", NS) is not None
    style = part(english, "word/styles.xml").find(
        "w:style[@w:styleId='ContractTable']/w:tblStylePr[@w:type='firstRow']", NS
    )
    assert style.find("w:tcPr/w:shd", NS).get(q("fill")) == "D9D9D9"
    assert style.find("w:rPr/w:b", NS) is not None


def test_signature_block_is_a_borderless_unsplittable_two_column_table(english: bytes) -> None:
    opened = docx.Document(io.BytesIO(english))
    table = next(t for t in opened.tables if t.rows[0].cells[0].text.startswith("CLIENT"))
    assert table.style is None or table.style.name == "Normal Table"
    assert table._tbl.find("w:tr/w:trPr/w:cantSplit", NS) is not None
    client, supplier = (cell.text.split("\n") for cell in table.rows[0].cells)
    assert client[:2] == ["CLIENT", "Northwind Traders Ltd"]
    assert client[2].startswith("By: ___")
    assert client[3:5] == ["Name: Jane Doe", "Title: Chief Executive"]
    assert client[5].startswith("Date: ___")
    assert supplier[0] == "SUPPLIER"
    assert table.rows[0].cells[0].paragraphs[0].runs[0].bold


def test_terms_are_bold_and_text_keeps_emphasis(english: bytes) -> None:
    opened = docx.Document(io.BytesIO(english))
    runs = [r for p in opened.paragraphs for r in p.runs]
    assert next(r for r in runs if r.text == "Services").bold
    assert next(r for r in runs if r.text == "Northwind Traders Ltd").bold
    assert next(r for r in runs if r.text == "Contoso BPO S.A.").italic


def test_page_break_starts_new_page_without_blank_page(english: bytes) -> None:
    body = part(english, "word/document.xml").find("w:body", NS)
    paragraphs = body.findall("w:p", NS)
    before_recitals = next(p for p in paragraphs if paragraph_text(p) == "RECITALS")
    assert before_recitals.find("w:pPr/w:pageBreakBefore", NS) is not None
    schedule_2 = next(
        p
        for p in paragraphs
        if paragraph_text(p).startswith("Schedule 2")
        and p.find("w:pPr/w:pStyle", NS).get(q("val")) == "Heading1"
    )
    assert schedule_2.find("w:pPr/w:pageBreakBefore", NS) is not None
    # The PageBreak right before schedule 2 must not add an empty page of its own.
    assert not body.findall(".//w:br[@w:type='page']", NS)


def test_indents_align_with_numbered_text(english: bytes) -> None:
    opened = docx.Document(io.BytesIO(english))
    by_text = {p.text: p.paragraph_format for p in opened.paragraphs}
    assert (
        by_text["This paragraph continues clause 2.1 at the text of level 2."].left_indent.twips
        == 720
    )
    assert by_text["This paragraph sits at the text of level 3."].left_indent.twips == 1440
    english_item = by_text["English"]  # a bullet under level-2 text: glyph at 0.5in, text at 0.75in
    assert (english_item.left_indent.twips, english_item.first_line_indent.twips) == (1080, -360)
    assert by_text["Regional variants"].left_indent.twips == 1440


# --------------------------------------------------------------------------- numbering


def _levels(numbering: etree._Element, abstract_id: str) -> dict[int, tuple[str, str]]:
    abstract = numbering.find(f"w:abstractNum[@w:abstractNumId='{abstract_id}']", NS)
    return {
        int(lvl.get(q("ilvl"))): (
            lvl.find("w:numFmt", NS).get(q("val")),
            lvl.find("w:lvlText", NS).get(q("val")),
        )
        for lvl in abstract.findall("w:lvl", NS)
    }


def _abstract_of(numbering: etree._Element, num_id: str) -> str:
    num = numbering.find(f"w:num[@w:numId='{num_id}']", NS)
    return num.find("w:abstractNumId", NS).get(q("val"))


def _style_num(styles: etree._Element, style_id: str) -> str:
    style = styles.find(f"w:style[@w:styleId='{style_id}']", NS)
    return style.find("w:pPr/w:numPr/w:numId", NS).get(q("val"))


def test_numbering_defines_clause_schedule_and_recital_levels(
    english: bytes, spanish: bytes
) -> None:
    numbering = part(english, "word/numbering.xml")
    styles = part(english, "word/styles.xml")
    clause = _levels(numbering, _abstract_of(numbering, _style_num(styles, "Heading1")))
    assert [clause[i] for i in range(3)] == [
        ("decimal", "%1."),
        ("decimal", "%1.%2"),
        ("lowerLetter", "(%3)"),
    ]
    schedule = _levels(numbering, _abstract_of(numbering, _style_num(styles, "ScheduleLevel1")))
    assert [schedule[i] for i in range(3)] == [
        ("decimal", "%1."),
        ("decimal", "%1.%2"),
        ("lowerLetter", "(%3)"),
    ]
    recital = _levels(numbering, _abstract_of(numbering, _style_num(styles, "Recital")))
    assert recital[0] == ("upperLetter", "(%1)")
    es_numbering = part(spanish, "word/numbering.xml")
    es_recital = _levels(es_numbering, _abstract_of(es_numbering, _style_num(styles, "Recital")))
    assert es_recital[0] == ("upperRoman", "%1.")
    assert es_recital[1] == ("lowerLetter", "%2)")


def test_heading_1_is_linked_to_clause_level_0(english: bytes) -> None:
    numbering = part(english, "word/numbering.xml")
    (linked,) = numbering.xpath("//w:lvl[w:pStyle/@w:val='Heading1']", namespaces=NS)
    assert linked.get(q("ilvl")) == "0"
    ind = linked.find("w:pPr/w:ind", NS)
    assert (ind.get(q("left")), ind.get(q("hanging"))) == ("720", "720")


def test_each_schedule_restarts_with_its_own_num(english: bytes) -> None:
    numbering = part(english, "word/numbering.xml")
    body = part(english, "word/document.xml").find("w:body", NS)
    schedule_nums = {
        p.find("w:pPr/w:numPr/w:numId", NS).get(q("val"))
        for p in body.findall("w:p", NS)
        if p.find("w:pPr/w:pStyle", NS) is not None
        and p.find("w:pPr/w:pStyle", NS).get(q("val")).startswith("ScheduleLevel")
    }
    assert len(schedule_nums) == 2
    for num_id in schedule_nums:
        num = numbering.find(f"w:num[@w:numId='{num_id}']", NS)
        assert num.find("w:lvlOverride[@w:ilvl='0']/w:startOverride", NS).get(q("val")) == "1"


class _WordNumbering:
    """A small model of how Word numbers list paragraphs, read from the written XML."""

    def __init__(self, data: bytes) -> None:
        self.numbering = part(data, "word/numbering.xml")
        self.styles = part(data, "word/styles.xml")
        self.counters: dict[str, list[int]] = {}

    def num_pr(self, p: etree._Element) -> tuple[str, int] | None:
        num_pr = p.find("w:pPr/w:numPr", NS)
        if num_pr is None:
            style = p.find("w:pPr/w:pStyle", NS)
            style_id = style.get(q("val")) if style is not None else "Normal"
            num_pr = self.styles.find(f"w:style[@w:styleId='{style_id}']/w:pPr/w:numPr", NS)
        if num_pr is None:
            return None
        num_id = num_pr.find("w:numId", NS).get(q("val"))
        ilvl = num_pr.find("w:ilvl", NS)
        return (num_id, int(ilvl.get(q("val"))) if ilvl is not None else 0)

    def next_label(self, num_id: str, ilvl: int) -> str:
        abstract = _abstract_of(self.numbering, num_id)
        levels = _levels(self.numbering, abstract)
        # Nums without a startOverride share the abstractNum's counters.
        num = self.numbering.find(f"w:num[@w:numId='{num_id}']", NS)
        key = num_id if num.find("w:lvlOverride", NS) is not None else f"a{abstract}"
        counters = self.counters.setdefault(key, [0] * 9)
        counters[ilvl] += 1
        counters[ilvl + 1 :] = [0] * (8 - ilvl)
        fmt, text = levels[ilvl]
        return re.sub(
            r"%(\d)", lambda m: self.format(levels[int(m[1]) - 1][0], counters[int(m[1]) - 1]), text
        )

    @staticmethod
    def format(fmt: str, n: int) -> str:
        if fmt == "decimal":
            return str(n)
        if fmt in ("lowerLetter", "upperLetter"):
            letter = "abcdefghijklmnopqrstuvwxyz"[(n - 1) % 26] * ((n - 1) // 26 + 1)
            return letter if fmt == "lowerLetter" else letter.upper()
        numerals = [(10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
        roman = ""
        for value, numeral in numerals:
            roman += numeral * (n // value)
            n %= value
        return roman if fmt == "upperRoman" else roman.lower()


@pytest.mark.parametrize("language", ["en-GB", "es-MX"])
def test_word_numbering_reproduces_model_numbers(language: str) -> None:
    document = make_document(language)
    data = write_docx(document)
    engine = _WordNumbering(data)
    body = part(data, "word/document.xml").find("w:body", NS)
    produced = []
    for p in body.iter(q("p")):
        found = engine.num_pr(p)
        if (
            found
            and found[0] != "0"
            and not p.find("w:pPr/w:pStyle", NS).get(q("val")) == "ListBullet"
        ):
            produced.append(engine.next_label(*found))
    expected = [
        b.number
        for b in document.blocks
        if isinstance(b, NumberedPara)
        or (isinstance(b, NumberedHeading) and b.scheme != "schedule")
    ]
    # Word shows "(a)" for a point whose full-context number is "2.1(a)".
    expected_shown = [re.sub(r"^[\d.]+(?=\()", "", n) for n in expected]
    assert [n.rstrip(".") for n in produced] == [n.rstrip(".") for n in expected_shown]


# --------------------------------------------------------------------------- fields


def _fields(root: etree._Element) -> list[tuple[str, str]]:
    """Return (instruction, cached result) of every complex field, in order."""
    fields, instr, result, state = [], "", "", None
    for el in root.iter(q("fldChar"), q("instrText"), q("t")):
        if el.tag == q("fldChar"):
            kind = el.get(q("fldCharType"))
            if kind == "begin":
                instr, result, state = "", "", "instr"
            elif kind == "separate":
                state = "result"
            else:
                fields.append((instr.strip(), result))
                state = None
        elif el.tag == q("instrText") and state == "instr":
            instr += el.text or ""
        elif el.tag == q("t") and state == "result":
            result += el.text or ""
    return fields


def test_refs_are_fields_with_cached_numbers_and_bookmarks_exist(english: bytes) -> None:
    root = part(english, "word/document.xml")
    refs = [f for f in _fields(root) if f[0].startswith("REF")]
    assert refs == [
        (r"REF sch_services \h", "1"),
        (r"REF cl_service_levels \w \h", "3"),
        (r"REF cl_services_1_a \w \h", "2.1(a)"),
        (r"REF sch_service_levels \h", "2"),
        (r"REF cl_services \w \h", "2"),
    ]
    starts = root.findall(".//w:bookmarkStart", NS)
    names = [b.get(q("name")) for b in starts]
    ids = [b.get(q("id")) for b in starts]
    assert len(set(ids)) == len(ids)
    assert {ref.split()[1] for ref, _ in refs} <= set(names)
    assert {"cl_definitions", "cl_definitions_1", "sch1_1_1"} <= set(names)
    assert sorted(b.get(q("id")) for b in root.findall(".//w:bookmarkEnd", NS)) == sorted(ids)


def test_reference_text_reads_correctly_before_update(english: bytes) -> None:
    opened = docx.Document(io.BytesIO(english))
    texts = [p.text for p in opened.paragraphs]
    assert "In this Agreement Services means the services in Schedule 1." in texts
    assert "See Schedule 2 and clause 2." in texts


def test_schedule_bookmark_spans_only_its_number(english: bytes) -> None:
    root = part(english, "word/document.xml")
    start = root.find(".//w:bookmarkStart[@w:name='sch_services']", NS)
    inside = []
    for el in start.itersiblings():
        if el.tag == q("bookmarkEnd"):
            break
        inside.append("".join(el.itertext()))
    assert "".join(inside) == "1"


def test_toc_field_has_cached_entries_and_update_on_open(english: bytes) -> None:
    root = part(english, "word/document.xml")
    toc = [f for f in _fields(root) if f[0].startswith("TOC")]
    assert toc == [
        (
            r'TOC \o "1-1" \h \z \u',
            "1.Definitions2.Services3.Service LevelsSchedule 1 \u2014 Services"
            "Schedule 2 \u2014 Service Levels",
        )
    ]
    opened = docx.Document(io.BytesIO(english))
    entries = [p.text for p in opened.paragraphs if p.style.name == "toc 1"]
    assert entries[0] == "1.\tDefinitions"
    assert next(p for p in opened.paragraphs if p.style.name == "TOC Heading").text == "Contents"
    settings = part(english, "word/settings.xml")
    assert settings.find("w:updateFields", NS).get(q("val")) == "true"
    assert settings.find("w:zoom", NS).get(q("percent")) == "100"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("english", ("BPO Services Agreement — NW-2026-001", "Page 1 of 1")),
        ("spanish", ("Contrato de Prestación de Servicios — BN-2026-07", "Página 1 de 1")),
    ],
)
def test_header_text_and_footer_page_fields(
    fixture: str, expected: tuple[str, str], request: pytest.FixtureRequest
) -> None:
    data = request.getfixturevalue(fixture)
    section = docx.Document(io.BytesIO(data)).sections[0]
    assert section.header.paragraphs[0].text == expected[0]
    footer = section.footer.paragraphs[0]
    assert footer.text == expected[1]
    assert [f[0] for f in _fields(footer._p)] == ["PAGE", "NUMPAGES"]


# --------------------------------------------------------------------------- package


def test_core_properties_are_set_and_fixed(spanish: bytes) -> None:
    props = docx.Document(io.BytesIO(spanish)).core_properties
    assert props.title == "Contrato de Prestación de Servicios"
    assert props.subject == "Servicios de nómina"
    assert props.language == "es-MX"
    assert props.created.year == props.modified.year == 2000


def test_same_document_gives_identical_bytes() -> None:
    assert write_docx(make_document()) == write_docx(make_document())


def test_zip_members_have_fixed_timestamps(english: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(english)) as z:
        names = z.namelist()
        assert names[0] == "[Content_Types].xml"
        assert {info.date_time for info in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert not any("thumbnail" in n or "customXml" in n for n in names)
        assert b"rsid" not in b"".join(z.read(n) for n in names if n.startswith("word/"))


@pytest.mark.skipif(
    not (SHARED / "ooxml-xsd").is_dir(),
    reason="../shared (ECMA-376 schemas and validator) is absent",
)
@pytest.mark.parametrize("fixture", ["english", "spanish"])
def test_output_validates_against_ecma_376(
    fixture: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    path = tmp_path / "out.docx"
    path.write_bytes(request.getfixturevalue(fixture))
    result = subprocess.run(
        [
            sys.executable,
            str(SHARED / "tools" / "ooxml_validate.py"),
            str(SHARED / "ooxml-xsd"),
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().startswith("0 schema errors")


# --------------------------------------------------------------------------- LibreOffice


@pytest.fixture(scope="module")
def pdf_text(english: bytes, tmp_path_factory: pytest.TempPathFactory) -> str:
    if SOFFICE is None:
        pytest.skip("LibreOffice (libreoffice/soffice) is not on PATH")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not on PATH")
    folder = tmp_path_factory.mktemp("pdf")
    (folder / "contract.docx").write_bytes(english)
    profile = (folder / "profile").as_uri()
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(folder),
            str(folder / "contract.docx"),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pdf = folder / "contract.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    return subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_libreoffice_renders_numbered_clause_headings(pdf_text: str) -> None:
    text = re.sub(r"[ \t]+", " ", pdf_text)
    for heading in (
        "1. Definitions",
        "2. Services",
        "3. Service Levels",
        "Schedule 1 \u2014 Services",
        "Schedule 2 \u2014 Service Levels",
    ):
        assert heading in text
    assert "2.1 The Supplier shall provide" in text
    assert "(a) with reasonable skill" in text
    assert "(A) The Client wishes" in text


# --------------------------------------------------------------------------- golden dump

GOLDEN = Path(__file__).parent / "data" / "word" / "english-dump.xml"
DUMPED_PARTS = (
    "word/document.xml",
    "word/numbering.xml",
    "word/styles.xml",
    "word/header1.xml",
    "word/footer1.xml",
    "word/settings.xml",
    "docProps/core.xml",
)


def xml_dump(data: bytes) -> str:
    """Return the main parts, pretty-printed (styles without the long latentStyles list)."""
    chunks = []
    for name in DUMPED_PARTS:
        root = part(data, name)
        for latent in root.findall("w:latentStyles", NS):
            root.remove(latent)
        etree.indent(root)
        chunks.append(f"<!-- {name} -->\n{etree.tostring(root, encoding='unicode')}\n")
    return "".join(chunks)


def test_word_xml_matches_reviewed_dump(english: bytes) -> None:
    """Any change to the Word XML shows up as a diff of tests/data/word/english-dump.xml.

    Regenerate after a reviewed change with CONTRACTGEN_UPDATE_GOLDEN=1.
    """
    dump = xml_dump(english)
    if os.environ.get("CONTRACTGEN_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(dump, encoding="utf-8")
    assert dump == GOLDEN.read_text(encoding="utf-8")
