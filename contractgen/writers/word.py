"""Write a ``Document`` as a Word (.docx) file.

The output is a real Word document that a lawyer can keep editing:

* named styles (Title, Heading 1-3, Normal, a table style, list styles);
* native multi-level list numbering in ``numbering.xml`` (clauses, schedules restarting
  at 1 in every schedule, recitals), so inserting a clause renumbers everything;
* bookmarks on numbered blocks and ``REF`` fields for cross-references, a ``TOC``
  field, ``PAGE``/``NUMPAGES`` in the footer; every field carries the model's text as
  its cached result, so the file reads correctly before fields are updated;
* byte-identical output for the same ``Document`` (fixed properties and zip metadata).

This is the only module that imports python-docx.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import assert_never

import docx
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, nsmap, qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Twips
from docx.text.paragraph import Paragraph as DocxParagraph
from lxml import etree

from contractgen.model import (
    Block,
    BulletItem,
    Document,
    DocumentMeta,
    Heading,
    Inline,
    NumberedHeading,
    NumberedPara,
    PageBreak,
    Paragraph,
    Ref,
    Runs,
    SignatureBlock,
    SignatureParty,
    Table,
    TableOfContents,
    Term,
    Text,
    Title,
    runs_text,
)

FONT = "Times New Roman"  # LibreOffice substitutes the metric-compatible Liberation Serif
STEP = 720  # twips (0.5 in) between the text positions of successive list levels
FIXED_TIME = datetime(2000, 1, 1, tzinfo=UTC)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

# Page width, height, margin, header/footer distance (twips).
PAPER = {"letter": (12240, 15840, 1440, 720), "a4": (11906, 16838, 1418, 709)}

CHAR_WIDTH = 115  # twips per lower-case character of 10 pt table text
CAPITAL_WIDTH = 150  # twips per capital letter or digit
CELL_PADDING = 240  # twips: the table style's cell margins plus a little air
# Styles with their own space before; the gap after a table or a list does not override it.
SPACED_STYLES = {
    "Title",
    "Heading 1",
    "Heading 2",
    "Heading 3",
    "Part Heading",
    "TOC Heading",
    "Caption",
}

ALIGNMENT = {"left": WD_ALIGN_PARAGRAPH.LEFT, "center": WD_ALIGN_PARAGRAPH.CENTER}

# numbering.xml ids: one abstractNum (and one base w:num) per list kind.
CLAUSE, SCHEDULE, RECITAL, BULLET = 1, 2, 3, 4
SCHEME_IDS = {"clause": CLAUSE, "schedule": SCHEDULE, "recital": RECITAL}

# Paragraph style per (scheme, model level); the style is linked to that list level.
NUMBERED_STYLES = {
    ("clause", 2): "Clause Level 2",
    ("clause", 3): "Clause Level 3",
    ("schedule", 1): "Schedule Level 1",
    ("schedule", 2): "Schedule Level 2",
    ("schedule", 3): "Schedule Level 3",
    ("recital", 1): "Recital",
    ("recital", 2): "Recital Level 2",
}


def write_docx(doc: Document) -> bytes:
    """Return the .docx bytes for ``doc``; the same document always gives the same bytes.

    Everything but the body comes from a cached skeleton (keyed by the document's metadata
    and its number of schedule lists); the body is written block by block, each block's XML
    cached by the block and the little state it depends on, so a contract rendered again
    after an edit writes only the blocks that changed.
    """
    schedule_nums = _schedule_instances(doc)
    skeleton = _skeleton(doc.meta, len(schedule_nums))
    body = _body_xml(doc, schedule_nums, skeleton.style_ids)
    main = _deflate(skeleton.main_name, skeleton.main_head + body + skeleton.main_tail)
    return _zip((*skeleton.before, main, *skeleton.after))


def clear_caches() -> None:
    """Forget the cached skeletons and block XML (for benchmarks and tests)."""
    _skeleton.cache_clear()
    _block_parts.cache_clear()
    _plain_runs_xml.cache_clear()
    _LastDocument.written = (None, {})


# --------------------------------------------------------------------------- package


@dataclass(frozen=True)
class _Skeleton:
    """A contract's package without its body.

    The zip members before and after the main part, already deflated; the main part's
    member name and its XML before and after the body; the style ids for the body writer.
    """

    before: tuple[_Member, ...]
    after: tuple[_Member, ...]
    main_name: str
    main_head: bytes
    main_tail: bytes
    style_ids: _StyleIds


@lru_cache(maxsize=16)
def _skeleton(meta: DocumentMeta, schedules: int) -> _Skeleton:
    """Build every part but the body with python-docx and serialise it (cached: the parts
    depend only on ``meta`` and the number of schedule lists, whose restarting ``w:num``
    definitions go into ``numbering.xml``)."""
    word = docx.Document()
    _prune_template(word)
    _setup_styles(word, meta)
    _setup_numbering(word, meta.language, schedules)
    _setup_settings(word, meta.language)
    _setup_section(word, meta)
    _setup_properties(word, meta)
    _clear_body(word)
    _strip_rsids(word)  # before the body: only the template's parts carry revision ids
    style_ids = _intern_style_ids(
        _StyleIds(tuple((style.name, style.style_id) for style in word.styles))
    )
    members, main, tail = _package_members(word)
    name, head = members[main]
    return _Skeleton(
        before=tuple(_deflate(*member) for member in members[:main]),
        after=tuple(_deflate(*member) for member in members[main + 1 :]),
        main_name=name,
        main_head=head,
        main_tail=tail,
        style_ids=style_ids,
    )


def _prune_template(word: DocxDocument) -> None:
    """Drop template parts a contract does not need (thumbnail, customXml, app stats)."""
    drop_doc = {
        RT.CUSTOM_XML,
        "http://schemas.microsoft.com/office/2007/relationships/stylesWithEffects",
    }
    drop_pkg = {RT.THUMBNAIL, RT.EXTENDED_PROPERTIES}
    for rels, drop in ((word.part.rels, drop_doc), (word.part.package.rels, drop_pkg)):
        for r_id in [r_id for r_id, rel in rels.items() if rel.reltype in drop]:
            rels.pop(r_id)


def _setup_properties(word: DocxDocument, meta: DocumentMeta) -> None:
    """Set core properties with fixed dates (python-docx would stamp the current time)."""
    props = word.core_properties
    props.title = meta.title
    props.subject = meta.subject
    props.language = meta.language
    props.identifier = meta.reference
    props.author = "contractgen"
    props.last_modified_by = "contractgen"
    props.comments = ""
    props.keywords = ""
    props.category = ""
    props.revision = 1
    props.created = FIXED_TIME
    props.modified = FIXED_TIME


_HAS_RSID = etree.XPath(
    "descendant-or-self::*[@*[namespace-uri() = $w and starts-with(local-name(), 'rsid')]]"
)


def _strip_rsids(word: DocxDocument) -> None:
    """Remove revision-session ids inherited from the template."""
    for part in word.part.package.iter_parts():
        element = getattr(part, "element", None)
        if element is None:
            continue
        for el in _HAS_RSID(element, w=nsmap["w"]):  # only the few elements that have one
            for name in [a for a in el.attrib if a.startswith(qn("w:rsid"))]:
                del el.attrib[name]
    for rsids in word.settings.element.findall(qn("w:rsids")):
        word.settings.element.remove(rsids)


def _package_members(
    word: DocxDocument,
) -> tuple[tuple[tuple[str, bytes], ...], int, bytes]:
    """Serialise the package's parts as zip members, in python-docx's member order.

    Listing the parts ourselves (content types, package relationships, then every part and
    its relationships) lets each be deflated once, with fixed metadata. The body, written
    as XML text, will go into the main part's serialised XML just before the section
    properties, which python-docx wrote: it is never parsed into a tree and serialised
    again. Return the members (the main part cut before its section properties), the main
    part's index and the rest of the main part.
    """
    package = word.part.package
    parts = list(package.iter_parts())
    overrides = "".join(
        f'<Override PartName="{_attr(str(part.partname))}" '
        f'ContentType="{_attr(part.content_type)}"/>'
        for part in sorted(parts, key=lambda p: str(p.partname))
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f"{overrides}</Types>"
    ).encode()
    members: list[tuple[str, bytes]] = [
        ("[Content_Types].xml", content_types),
        ("_rels/.rels", package.rels.xml),
    ]
    main, tail = 0, b""
    for part in parts:
        blob = part.blob
        if part is word.part:
            at = blob.index(b"<w:sectPr")
            main, blob, tail = len(members), blob[:at], blob[at:]
        members.append((part.partname.membername, blob))
        if len(part.rels):
            members.append((part.partname.rels_uri.membername, part.rels.xml))
    return tuple(members), main, tail


@dataclass(frozen=True)
class _Member:
    """One zip member: its name, the CRC and size of its data, and the deflated data."""

    name: str
    crc: int
    size: int
    deflated: bytes


def _deflate(name: str, data: bytes) -> _Member:
    """Deflate a member as zipfile does at compresslevel 1 (fast; a few % larger)."""
    if len(data) * 1.05 > _ZIP32_LIMIT:  # zipfile would switch to zip64
        raise ValueError(f"{name} is too large for a Word document")
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    return _Member(
        name, zlib.crc32(data), len(data), compressor.compress(data) + compressor.flush()
    )


# The records that zipfile writes (local file header, central directory entry, end of
# central directory), with fixed metadata: ZIP_TIME as the DOS date and time, version 2.0,
# made on MS-DOS, deflated, file attributes rw------- (zipfile's default).
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_FLAGS_METHOD_TIME = (
    0,  # no flags
    8,  # deflated
    ZIP_TIME[3] << 11 | ZIP_TIME[4] << 5 | ZIP_TIME[5] // 2,  # DOS time
    (ZIP_TIME[0] - 1980) << 9 | ZIP_TIME[1] << 5 | ZIP_TIME[2],  # DOS date
)
_MADE_BY = (20, 0, 20, 0)  # made by version 2.0 on MS-DOS; needs version 2.0
_ENTRY = (0, 0, 0, 0, 0o600 << 16)  # no extra field, comment or disk; attributes rw-------
_ZIP32_LIMIT = (1 << 31) - 1


def _zip(members: tuple[_Member, ...]) -> bytes:
    """Return the archive, byte for byte as ``zipfile.ZipFile.writestr`` writes it into a
    seekable file; done here so that unchanged members are not compressed again."""
    out: list[bytes] = []
    directory: list[bytes] = []
    offset = 0
    for member in members:
        name = member.name.encode("ascii")
        sizes = (member.crc, len(member.deflated), member.size, len(name))
        local = _LOCAL.pack(b"PK\x03\x04", *_MADE_BY[2:], *_FLAGS_METHOD_TIME, *sizes, 0)
        entry = _CENTRAL.pack(
            b"PK\x01\x02", *_MADE_BY, *_FLAGS_METHOD_TIME, *sizes, *_ENTRY, offset
        )
        out += (local, name, member.deflated)
        directory += (entry, name)
        offset += len(local) + len(name) + len(member.deflated)
    size = sum(map(len, directory))
    if offset + size > _ZIP32_LIMIT:
        raise ValueError("the document is too large for a zip file without zip64")
    count = len(members)
    out += (*directory, _END.pack(b"PK\x05\x06", 0, 0, count, count, size, offset, 0))
    return b"".join(out)


def _clear_body(word: DocxDocument) -> None:
    body = word.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)


# --------------------------------------------------------------------------- settings, page


def _setup_settings(word: DocxDocument, language: str) -> None:
    """Fix the template's invalid zoom, ask Word to update fields, set the language."""
    settings = word.settings.element
    zoom = settings.find(qn("w:zoom"))
    if zoom is not None:  # the template's w:zoom lacks the required w:percent
        zoom.attrib.pop(qn("w:val"), None)
        zoom.set(qn("w:percent"), "100")
    for tag in ("w:proofState", "w:savePreviewPicture"):
        for el in settings.findall(qn(tag)):
            settings.remove(el)
    update = OxmlElement("w:updateFields", {qn("w:val"): "true"})
    compat = settings.find(qn("w:compat"))
    if compat is not None:
        compat.addprevious(update)
    else:
        settings.append(update)
    # Word 2013+ layout, so Word does not open the file in "Compatibility Mode".
    for setting in settings.iterfind(f"{qn('w:compat')}/{qn('w:compatSetting')}"):
        if setting.get(qn("w:name")) == "compatibilityMode":
            setting.set(qn("w:val"), "15")
    theme_lang = settings.find(qn("w:themeFontLang"))
    if theme_lang is not None:
        theme_lang.set(qn("w:val"), language)


def _setup_section(word: DocxDocument, meta: DocumentMeta) -> None:
    """Set paper size, margins, header and footer."""
    width, height, margin, distance = PAPER[meta.paper]
    section = word.sections[0]
    section.page_width, section.page_height = Twips(width), Twips(height)
    for side in ("top_margin", "bottom_margin", "left_margin", "right_margin"):
        setattr(section, side, Twips(margin))
    section.header_distance = section.footer_distance = Twips(distance)
    header = section.header.paragraphs[0]
    header.style = word.styles["Header"]
    _add_header_text(header, meta.header_text, meta.reference)
    footer = section.footer.paragraphs[0]
    footer.style = word.styles["Footer"]
    _add_page_label(footer, meta.page_label)


def _add_header_text(paragraph: DocxParagraph, text: str, reference: str) -> None:
    """Write the header; the reference keeps its hyphens unbreakable so it never splits."""
    at = text.find(reference) if reference else -1
    if at < 0:
        paragraph.add_run(text)
        return
    if at:
        paragraph.add_run(text[:at])
    run = paragraph.add_run()
    for i, piece in enumerate(reference.split("-")):
        if i:
            run._r.append(OxmlElement("w:noBreakHyphen"))
        if piece:
            run._r.add_t(piece)
    if text[at + len(reference) :]:
        paragraph.add_run(text[at + len(reference) :])


def _add_page_label(paragraph: DocxParagraph, label: str) -> None:
    """Write ``label`` with ``{page}``/``{pages}`` as PAGE/NUMPAGES fields."""
    fields = {"{page}": "PAGE", "{pages}": "NUMPAGES"}
    for piece in re.split(r"(\{page\}|\{pages\})", label):
        if piece in fields:
            _add_field(paragraph, fields[piece], "1")
        elif piece:
            paragraph.add_run(piece)


def _text_width(meta: DocumentMeta) -> int:
    """Return the width between the margins, in twips."""
    width, _, margin, _ = PAPER[meta.paper]
    return width - 2 * margin


# --------------------------------------------------------------------------- styles


def _xml(fragment: str) -> BaseOxmlElement:
    """Parse one WordprocessingML element written with the ``w:`` prefix."""
    element: BaseOxmlElement = parse_xml(f"<w:root {nsdecls('w')}>{fragment}</w:root>")[0]
    return element


def _style(
    kind: str,
    style_id: str,
    name: str,
    body: str,
    based_on: str | None = "Normal",
    extra: str = "",
) -> str:
    """Return one ``w:style`` element; ``body`` holds pPr/rPr/tblPr... in schema order."""
    based = f'<w:basedOn w:val="{based_on}"/>' if based_on else ""
    return (
        f'<w:style w:type="{kind}" w:styleId="{style_id}"{extra}>'
        f'<w:name w:val="{name}"/>{based}<w:qFormat/>{body}</w:style>'
    )


def _pstyle(style_id: str, name: str, ppr: str = "", rpr: str = "", **kw: str) -> str:
    return _style("paragraph", style_id, name, f"<w:pPr>{ppr}</w:pPr><w:rPr>{rpr}</w:rPr>", **kw)


def _num_ppr(num_id: int, ilvl: int) -> str:
    return f'<w:numPr><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num_id}"/></w:numPr>'


def _defaults_xml(language: str) -> str:
    fonts = f'w:ascii="{FONT}" w:hAnsi="{FONT}" w:eastAsia="{FONT}" w:cs="{FONT}"'
    lang = _attr(language)
    return (
        f"<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts {fonts}/>"
        f'<w:sz w:val="22"/><w:szCs w:val="22"/><w:lang w:val="{lang}"/></w:rPr>'
        f'</w:rPrDefault><w:pPrDefault><w:pPr><w:spacing w:after="120" w:line="240" '
        f'w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults>'
    )


def _base_styles() -> list[str]:
    keep = "<w:keepNext/><w:keepLines/>"
    return [
        _style(
            "paragraph",
            "Normal",
            "Normal",
            '<w:pPr><w:widowControl/><w:jc w:val="both"/></w:pPr>',
            based_on=None,
            extra=' w:default="1"',
        ),
        _style(
            "character",
            "DefaultParagraphFont",
            "Default Paragraph Font",
            "",
            based_on=None,
            extra=' w:default="1"',
        ),
        _style(
            "table",
            "TableNormal",
            "Normal Table",
            '<w:tblPr><w:tblInd w:w="0" w:type="dxa"/><w:tblCellMar>'
            '<w:top w:w="0" w:type="dxa"/><w:left w:w="108" w:type="dxa"/>'
            '<w:bottom w:w="0" w:type="dxa"/><w:right w:w="108" w:type="dxa"/>'
            "</w:tblCellMar></w:tblPr>",
            based_on=None,
            extra=' w:default="1"',
        ),
        _style("numbering", "NoList", "No List", "", based_on=None, extra=' w:default="1"'),
        _pstyle(
            "Title",
            "Title",
            keep + '<w:spacing w:before="240" w:after="360"/><w:jc w:val="center"/>',
            '<w:b/><w:bCs/><w:sz w:val="32"/><w:szCs w:val="32"/>',
        ),
        _pstyle(
            "Heading1",
            "heading 1",
            keep
            + _num_ppr(CLAUSE, 0)
            + '<w:spacing w:before="240" w:after="120"/><w:jc w:val="left"/>'
            '<w:outlineLvl w:val="0"/>',
            '<w:b/><w:bCs/><w:sz w:val="24"/><w:szCs w:val="24"/>',
        ),
        _pstyle(
            "Heading2",
            "heading 2",
            keep + '<w:spacing w:before="180" w:after="120"/>'
            '<w:jc w:val="left"/><w:outlineLvl w:val="1"/>',
            "<w:b/><w:bCs/>",
        ),
        _pstyle(
            "Heading3",
            "heading 3",
            keep + '<w:spacing w:before="120" w:after="120"/>'
            '<w:jc w:val="left"/><w:outlineLvl w:val="2"/>',
            "<w:b/><w:bCs/><w:i/><w:iCs/>",
        ),
        _pstyle(
            "PartHeading",
            "Part Heading",
            keep + '<w:spacing w:before="360" w:after="240"/><w:jc w:val="center"/>',
            '<w:b/><w:bCs/><w:caps/><w:sz w:val="24"/><w:szCs w:val="24"/>',
        ),
        _pstyle(
            "TOCHeading",
            "TOC Heading",
            keep + '<w:spacing w:before="240" w:after="240"/><w:jc w:val="center"/>',
            '<w:b/><w:bCs/><w:caps/><w:sz w:val="24"/><w:szCs w:val="24"/>',
        ),
        _pstyle(
            "Caption",
            "caption",
            keep + '<w:spacing w:before="120" w:after="60"/><w:jc w:val="left"/>',
            '<w:b/><w:bCs/><w:sz w:val="20"/><w:szCs w:val="20"/>',
        ),
        _pstyle(
            "TableText",
            "Table Text",
            '<w:spacing w:before="20" w:after="20"/><w:jc w:val="left"/>',
            '<w:sz w:val="20"/><w:szCs w:val="20"/>',
        ),
        _pstyle(
            "SignatureText",
            "Signature Text",
            '<w:keepNext/><w:spacing w:after="40"/><w:jc w:val="left"/>',
        ),
        _pstyle("ListBullet", "List Bullet", _num_ppr(BULLET, 0) + '<w:spacing w:after="60"/>'),
    ]


def _page_styles(width: int) -> list[str]:
    tabs = (
        f'<w:tabs><w:tab w:val="center" w:pos="{width // 2}"/>'
        f'<w:tab w:val="right" w:pos="{width}"/></w:tabs>'
    )
    small = '<w:sz w:val="18"/><w:szCs w:val="18"/>'
    return [
        _pstyle("Header", "header", tabs + '<w:spacing w:after="0"/><w:jc w:val="right"/>', small),
        _pstyle("Footer", "footer", tabs + '<w:spacing w:after="0"/><w:jc w:val="center"/>', small),
        _pstyle(
            "TOC1",
            "toc 1",
            f'<w:tabs><w:tab w:val="left" w:pos="{STEP}"/><w:tab w:val="right" '
            f'w:leader="dot" w:pos="{width}"/></w:tabs><w:spacing w:after="0"/>'
            f'<w:ind w:left="{STEP}" w:right="{STEP}" w:hanging="{STEP}"/>'
            '<w:jc w:val="left"/>',
            '<w:sz w:val="20"/><w:szCs w:val="20"/>',  # a long contract's contents on 2 pages
        ),
    ]


def _numbered_styles() -> list[str]:
    styles = []
    for (scheme, level), name in NUMBERED_STYLES.items():
        style_id = name.replace(" ", "")
        styles.append(_pstyle(style_id, name, _num_ppr(SCHEME_IDS[scheme], level - 1)))
    return styles


def _table_style() -> str:
    border = 'w:val="single" w:sz="4" w:space="0" w:color="808080"'
    borders = "".join(
        f"<w:{side} {border}/>" for side in ("top", "left", "bottom", "right", "insideH", "insideV")
    )
    return _style(
        "table",
        "ContractTable",
        "Contract Table",
        '<w:pPr><w:spacing w:before="20" w:after="20"/><w:jc w:val="left"/></w:pPr>'
        '<w:rPr><w:sz w:val="20"/><w:szCs w:val="20"/></w:rPr>'
        f"<w:tblPr><w:tblBorders>{borders}</w:tblBorders><w:tblCellMar>"
        '<w:top w:w="40" w:type="dxa"/><w:left w:w="100" w:type="dxa"/>'
        '<w:bottom w:w="40" w:type="dxa"/><w:right w:w="100" w:type="dxa"/>'
        "</w:tblCellMar></w:tblPr>"
        '<w:tblStylePr w:type="firstRow"><w:rPr><w:b/><w:bCs/></w:rPr>'
        "<w:trPr><w:tblHeader/></w:trPr>"
        '<w:tcPr><w:shd w:val="clear" w:color="auto" w:fill="D9D9D9"/></w:tcPr></w:tblStylePr>',
        based_on="TableNormal",
    )


def _setup_styles(word: DocxDocument, meta: DocumentMeta) -> None:
    """Replace the template's styles with the contract's own set."""
    styles = word.styles.element
    # Not child by child: removing elements that have Python proxies is slow (3 ms).
    etree.strip_elements(styles, qn("w:style"), qn("w:docDefaults"))
    styles.insert(0, _xml(_defaults_xml(meta.language)))
    width = _text_width(meta)
    for fragment in (*_base_styles(), *_page_styles(width), *_numbered_styles(), _table_style()):
        styles.append(_xml(fragment))


# --------------------------------------------------------------------------- numbering


@dataclass(frozen=True)
class _Level:
    fmt: str
    text: str
    indent: int  # left indent of the text, twips
    style: str | None = None


def _list_levels(scheme: str, language: str) -> list[_Level]:
    """Return the nine levels of one list kind."""
    first = {
        "clause": [
            _Level("decimal", "%1.", STEP, "Heading1"),
            _Level("decimal", "%1.%2", STEP, "ClauseLevel2"),
            _Level("lowerLetter", "(%3)", 2 * STEP, "ClauseLevel3"),
        ],
        "schedule": [
            _Level("decimal", "%1.", STEP, "ScheduleLevel1"),
            _Level("decimal", "%1.%2", STEP, "ScheduleLevel2"),
            _Level("lowerLetter", "(%3)", 2 * STEP, "ScheduleLevel3"),
        ],
        "recital": [
            _Level("upperLetter", "(%1)", STEP, "Recital"),
            _Level("lowerLetter", "(%2)", 2 * STEP, "RecitalLevel2"),
            _Level("lowerRoman", "(%3)", 3 * STEP),
        ],
    }[scheme]
    if scheme == "recital" and language.lower().startswith("es"):
        first[:2] = [
            _Level("upperRoman", "%1.", STEP, "Recital"),
            _Level("lowerLetter", "%2)", 2 * STEP, "RecitalLevel2"),
        ]
    # Levels the model does not use yet, for a lawyer who demotes a point in Word.
    deeper = [("lowerRoman", "(%{n})"), ("upperLetter", "(%{n})"), ("decimal", "%{n})")]
    levels = list(first)
    for ilvl in range(len(first), 9):
        fmt, text = deeper[(ilvl - len(first)) % len(deeper)]
        levels.append(_Level(fmt, text.format(n=ilvl + 1), levels[-1].indent + STEP))
    return levels


def _bullet_levels() -> list[_Level]:
    glyphs = ["\u2022", "\u2013", "\u25e6"]
    return [_Level("bullet", glyphs[i % 3], (i + 1) * STEP // 2) for i in range(9)]


def _lvl_xml(ilvl: int, level: _Level, hanging: int) -> str:
    style = f'<w:pStyle w:val="{level.style}"/>' if level.style else ""
    fonts = (
        f'<w:rPr><w:rFonts w:ascii="{FONT}" w:hAnsi="{FONT}"/></w:rPr>'
        if (level.fmt == "bullet")
        else ""
    )
    return (
        f'<w:lvl w:ilvl="{ilvl}"><w:start w:val="1"/><w:numFmt w:val="{level.fmt}"/>'
        f'{style}<w:lvlText w:val="{level.text}"/><w:lvlJc w:val="left"/>'
        f'<w:pPr><w:ind w:left="{level.indent}" w:hanging="{hanging}"/></w:pPr>{fonts}</w:lvl>'
    )


def _abstract_num_xml(abstract_id: int, levels: list[_Level], hanging: int) -> str:
    body = "".join(_lvl_xml(i, lvl, hanging) for i, lvl in enumerate(levels))
    return (
        f'<w:abstractNum w:abstractNumId="{abstract_id}">'
        f'<w:multiLevelType w:val="multilevel"/>{body}</w:abstractNum>'
    )


def _num_xml(num_id: int, abstract_id: int, restart: bool) -> str:
    overrides = (
        "".join(
            f'<w:lvlOverride w:ilvl="{i}"><w:startOverride w:val="1"/></w:lvlOverride>'
            for i in range(9)
        )
        if restart
        else ""
    )
    return f'<w:num w:numId="{num_id}"><w:abstractNumId w:val="{abstract_id}"/>{overrides}</w:num>'


def _schedule_instances(doc: Document) -> dict[int, int]:
    """Map each schedule ``list_instance`` to its ``w:num`` id, in document order."""
    instances: dict[int, int] = {}
    for block in doc.blocks:
        if isinstance(block, NumberedPara) and block.scheme == "schedule":
            instances.setdefault(block.list_instance, BULLET + 1 + len(instances))
    return instances


def _setup_numbering(word: DocxDocument, language: str, schedules: int) -> None:
    """Replace the template's numbering with the contract's list definitions; each of the
    ``schedules`` schedule lists gets its own ``w:num``, restarting at 1."""
    numbering = word.part.numbering_part.element
    for child in list(numbering):
        numbering.remove(child)
    abstracts = [
        _abstract_num_xml(CLAUSE, _list_levels("clause", language), STEP),
        _abstract_num_xml(SCHEDULE, _list_levels("schedule", language), STEP),
        _abstract_num_xml(RECITAL, _list_levels("recital", language), STEP),
        _abstract_num_xml(BULLET, _bullet_levels(), STEP // 2),
    ]
    nums = [_num_xml(i, i, restart=False) for i in (CLAUSE, SCHEDULE, RECITAL, BULLET)]
    nums += [_num_xml(BULLET + 1 + i, SCHEDULE, restart=True) for i in range(schedules)]
    for fragment in abstracts + nums:
        numbering.append(_xml(fragment))


# --------------------------------------------------------------------------- body


def _text_indent(level: int) -> int:
    """Return the left indent (twips) of the text of numbered level ``level`` (0 = flush)."""
    return {0: 0, 1: STEP, 2: STEP}.get(level, STEP * (level - 1))


def _add_run_element(paragraph: DocxParagraph, element: BaseOxmlElement) -> None:
    run = OxmlElement("w:r")
    run.append(element)
    paragraph._p.append(run)


def _field_begin(paragraph: DocxParagraph, instruction: str) -> None:
    """Open a complex field: begin, instruction, separate (the result follows)."""
    _add_run_element(paragraph, OxmlElement("w:fldChar", {qn("w:fldCharType"): "begin"}))
    instr = OxmlElement("w:instrText", {qn("xml:space"): "preserve"})
    instr.text = f" {instruction} "
    _add_run_element(paragraph, instr)
    _add_run_element(paragraph, OxmlElement("w:fldChar", {qn("w:fldCharType"): "separate"}))


def _field_end(paragraph: DocxParagraph) -> None:
    _add_run_element(paragraph, OxmlElement("w:fldChar", {qn("w:fldCharType"): "end"}))


def _add_field(paragraph: DocxParagraph, instruction: str, cached: str) -> None:
    """Append a complex field whose current result is ``cached``."""
    _field_begin(paragraph, instruction)
    paragraph.add_run(cached)
    _field_end(paragraph)


def _word_width(word: str) -> int:
    """Estimate a word's width (twips) in 10 pt table text; capitals and digits are wider."""
    return sum(CAPITAL_WIDTH if c.isupper() or c.isdigit() else CHAR_WIDTH for c in word)


def _column_widths(table: Table, total: int) -> list[int]:
    """Share ``total`` (twips) between columns.

    Every column first gets room for its longest word, so codes such as "ABANDONMENT" never
    break mid-word; the rest goes to the columns with the longest texts.
    """
    columns = [
        [runs_text(cell) for cell in column]
        for column in zip(table.header, *table.rows, strict=True)
    ]
    words = [
        max((_word_width(w) for text in column for w in text.split()), default=CHAR_WIDTH)
        for column in columns
    ]
    lengths = [min(60, max(len(text) for text in column)) * CHAR_WIDTH for column in columns]
    floors = [word + CELL_PADDING for word in words]
    if sum(floors) >= total:
        widths = [total * floor // sum(floors) for floor in floors]
    else:
        wants = [max(length - word, 0) + 1 for length, word in zip(lengths, words, strict=True)]
        spare = total - sum(floors)
        widths = [f + spare * w // sum(wants) for f, w in zip(floors, wants, strict=True)]
    widths[-1] += total - sum(widths)
    return widths


# The body is written as WordprocessingML text, never as a tree: python-docx's proxy objects
# cost a schema-ordered insertion per property, which dominated the time of a long contract.

_RUN_SPLIT = re.compile(r"(\n|\t)")
_TBL_LOOK = (
    '<w:tblLook w:firstColumn="1" w:firstRow="1" w:lastColumn="0" w:lastRow="0" '
    'w:noHBand="0" w:noVBand="1" w:val="04A0"/>'
)


def _escape(text: str) -> str:
    """Escape XML text as ``xml.sax.saxutils.escape`` does (whose import costs 30 ms)."""
    return text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")


def _attr(value: str) -> str:
    return _escape(value).replace('"', "&quot;")


def _t(text: str) -> str:
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f"<w:t{space}>{_escape(text)}</w:t>"


def _run_xml(text: str, bold: bool = False, italic: bool = False) -> str:
    """Return a run; line breaks and tabs in the text become w:br and w:tab."""
    props = ("<w:b/>" if bold else "") + ("<w:i/>" if italic else "")
    inner = "".join(
        "<w:br/>" if part == "\n" else "<w:tab/>" if part == "\t" else _t(part)
        for part in _RUN_SPLIT.split(text)
        if part
    )
    return f"<w:r>{f'<w:rPr>{props}</w:rPr>' if props else ''}{inner}</w:r>"


@lru_cache(maxsize=8192)
def _plain_runs_xml(runs: Runs) -> str:
    """Return the XML of runs without cross-references (immutable values: cached, so the
    unchanged paragraphs of a contract rendered again are not written again)."""
    out = []
    for run in runs:
        match run:
            case Text() if not run.text:
                continue
            case Text():
                out.append(_run_xml(run.text, run.bold, run.italic))
            case Term():
                out.append(_run_xml(run.text, bold=True))
            case Ref():
                raise ValueError("cross-references need the document's bookmarks")
            case _:
                assert_never(run)
    return "".join(out)


def _field_xml(instruction: str) -> tuple[str, str]:
    """Return the runs that open a complex field (up to its result) and close it."""
    begin = (
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        f'<w:r><w:instrText xml:space="preserve"> {_escape(instruction)} </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
    )
    return begin, '<w:r><w:fldChar w:fldCharType="end"/></w:r>'


class _StyleIds:
    """Style name -> style id, as python-docx reads them from a skeleton's styles part.

    Hashable, with its hash computed once: it is part of the key of every cached block.
    """

    __slots__ = ("_hash", "_key", "ids")

    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.ids: Mapping[str, str] = dict(pairs)
        self._key = pairs
        self._hash = hash(pairs)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _StyleIds) and self._key == other._key


@lru_cache(maxsize=4)
def _intern_style_ids(style_ids: _StyleIds) -> _StyleIds:
    """Return one shared object for equal maps, so cached blocks compare keys by identity."""
    return style_ids


@dataclass
class _Para:
    """One paragraph being built: its properties, its content (run XML) and a bookmark
    (name, first and end content index) whose id is filled in later."""

    style: str | None
    content: list[str]
    num: tuple[int, int] | None = None
    page_break: bool = False
    keep_next: bool = False
    space_before: int = 0
    indent: tuple[int, int] | None = None  # (left, hanging) in twips
    align: str | None = None
    bookmark: tuple[str, int, int] | None = None

    def xml(self) -> str:
        (xml,) = self.parts()
        return xml

    def parts(self) -> list[str]:
        """Return the XML, in three parts with a bookmark: its id goes between them."""
        props = [
            f'<w:pStyle w:val="{self.style}"/>' if self.style else "",
            "<w:keepNext/>" if self.keep_next else "",
            "<w:pageBreakBefore/>" if self.page_break else "",
            f'<w:numPr><w:ilvl w:val="{self.num[1]}"/><w:numId w:val="{self.num[0]}"/></w:numPr>'
            if self.num
            else "",
            f'<w:spacing w:before="{self.space_before}"/>' if self.space_before else "",
            self._indent_xml(),
            f'<w:jc w:val="{self.align}"/>' if self.align else "",
        ]
        ppr = "".join(props)
        head = f"<w:p>{f'<w:pPr>{ppr}</w:pPr>' if ppr else ''}"
        content = self.content
        if self.bookmark is None:
            return [f"{head}{''.join(content)}</w:p>"]
        name, start, end = self.bookmark
        return [
            f'{head}{"".join(content[:start])}<w:bookmarkStart w:id="',
            f'" w:name="{_attr(name)}"/>{"".join(content[start:end])}<w:bookmarkEnd w:id="',
            f'"/>{"".join(content[end:])}</w:p>',
        ]

    def _indent_xml(self) -> str:
        if self.indent is None:
            return ""
        left, hanging = self.indent
        return f'<w:ind w:left="{left}"' + (f' w:hanging="{hanging}"' if hanging else "") + "/>"


_TABLES = (Table, SignatureBlock)  # blocks written as tables: spaced from the next paragraph

_State = tuple[Block, bool, str, int, int]  # a block and the state it is written in
_Written = tuple[tuple[str, ...], bool]  # what ``_block_parts`` returns


class _LastDocument:
    """The blocks of the last document written, by identity, with what they gave.

    Most blocks of a contract rendered again are the very same objects; finding them by
    ``id`` skips hashing them (deeply), most of the cost of a ``_block_parts`` cache hit.
    ``written`` is (context, blocks): the entries are valid only for the same schedule
    bookmarks and style ids (the context), and they hold their blocks, so no other object
    can have their ids. One attribute, replaced whole, so threads see consistent pairs.
    """

    written: tuple[tuple[frozenset[str], _StyleIds] | None, dict[int, tuple[_State, _Written]]]
    written = (None, {})


def _body_xml(doc: Document, schedule_nums: Mapping[int, int], style_ids: _StyleIds) -> bytes:
    """Return the body's content (before its section properties) as UTF-8 XML.

    Each block's XML comes from ``_block_parts``, given the state it depends on; this loop
    carries that state from block to block: a pending page break, the kind of block above,
    the next bookmark id, and the block holding the last paragraph, which is written again
    to keep it with a signature block that follows.
    """
    width = _text_width(doc.meta)
    schedule_bookmarks = frozenset(
        b.bookmark
        for b in doc.blocks
        if isinstance(b, NumberedHeading) and b.scheme == "schedule" and b.bookmark
    )
    context = (schedule_bookmarks, style_ids)
    last_context, seen = _LastDocument.written
    if last_context != context:
        seen = {}
    written: dict[int, tuple[_State, _Written]] = {}
    out: list[str] = []
    next_id = 0
    page_break = False
    after = ""  # the kind of the block above: "table", "bullet" or ""
    last: tuple[int, int, _State] | None = None
    for block in doc.blocks:
        if isinstance(block, PageBreak):
            page_break, after = True, ""
            continue
        if isinstance(block, SignatureBlock) and last is not None:
            index, first_id, state = last  # keep "IN WITNESS WHEREOF" with the signatures
            parts, _ = _block_parts(*state, True, schedule_bookmarks, style_ids)
            out[index] = _fill_ids(parts, first_id)
        num_id = 0
        if isinstance(block, NumberedPara) and block.scheme == "schedule":
            num_id = schedule_nums[block.list_instance]
        is_table = isinstance(block, _TABLES)
        block_width = width if is_table else 0
        state = (block, page_break, after, num_id, block_width)
        before = seen.get(id(block))
        if before is not None and before[0] == state:
            result = before[1]
        else:
            result = _block_parts(*state, False, schedule_bookmarks, style_ids)
        written[id(block)] = (state, result)
        parts, has_paragraph = result
        if has_paragraph:
            last = (len(out), next_id, state)
        out.append(_fill_ids(parts, next_id))
        next_id += len(parts) // 2
        page_break = False
        after = "table" if is_table else "bullet" if isinstance(block, BulletItem) else ""
    _LastDocument.written = (context, written)
    return "".join(out).encode("utf-8")


def _fill_ids(parts: tuple[str, ...], first_id: int) -> str:
    """Join a block's parts, putting bookmark ids in the gaps: the first two gaps (the
    start and end of the block's first bookmark) get ``first_id``, the next two the next."""
    if len(parts) == 1:
        return parts[0]
    pieces = [parts[0]]
    for i, part in enumerate(parts[1:]):
        pieces += (str(first_id + i // 2), part)
    return "".join(pieces)


@lru_cache(maxsize=8192)
def _block_parts(
    block: Block,
    page_break: bool,
    after: str,
    num_id: int,
    width: int,
    keep_last: bool,
    schedule_bookmarks: frozenset[str],
    style_ids: _StyleIds,
) -> _Written:
    """Return one block's XML, cut where bookmark ids go, and whether it has a paragraph.

    Cached, keyed by everything the XML depends on: ``page_break``, a page break is pending;
    ``after``, the kind of block above ("table", "bullet" or ""), which spaces paragraphs;
    ``num_id``, a schedule paragraph's ``w:num``; ``width``, the text width (for tables);
    ``keep_last``, keep the last paragraph with the next block; ``schedule_bookmarks``, which
    cross-references point at schedules; and the style ids.
    """
    writer = _BlockWriter(style_ids.ids, width, schedule_bookmarks, page_break, after)
    writer.write_block(block, num_id)
    if keep_last and writer.last_paragraph is not None:
        writer.last_paragraph.keep_next = True
    parts = [""]
    for item in writer.items:
        if isinstance(item, str):
            parts[-1] += item
        else:
            first, *rest = item.parts()
            parts[-1] += first
            parts += rest
    return tuple(parts), writer.last_paragraph is not None


class _BlockWriter:
    """Write the paragraphs and tables of one block."""

    def __init__(
        self,
        style_ids: Mapping[str, str],
        width: int,
        schedule_bookmarks: frozenset[str],
        page_break: bool,
        after: str,
    ) -> None:
        self.style_ids = style_ids
        self.width = width
        self.schedule_bookmarks = schedule_bookmarks
        self.break_pending = page_break
        self.after = after
        self.items: list[_Para | str] = []
        self.last_paragraph: _Para | None = None

    def write_block(self, block: Block, num_id: int) -> None:
        match block:
            case Title():
                self.paragraph("Title", block.runs)
            case Heading():
                style = {1: "Part Heading", 2: "Heading 2"}.get(block.level, "Heading 3")
                self.paragraph(style, block.runs)
            case NumberedHeading():
                self.numbered_heading(block)
            case NumberedPara():
                self.numbered_para(block, num_id)
            case Paragraph():
                self.plain_paragraph(block)
            case BulletItem():
                self.bullet(block)
            case Table():
                self.table(block)
            case SignatureBlock():
                self.signatures(block)
            case PageBreak():
                self.break_pending = True
            case TableOfContents():
                self.toc(block)
            case _:
                assert_never(block)

    # -- paragraphs and runs

    def style_id(self, style: str) -> str | None:
        return None if style == "Normal" else self.style_ids[style]

    def new_paragraph(self, style: str) -> _Para:
        """Add a paragraph; a pending page break becomes ``pageBreakBefore``."""
        paragraph = _Para(self.style_id(style), [])
        if self.break_pending:
            paragraph.page_break = True
            self.break_pending = False
        paragraph.space_before = self.gap_before(style)
        self.items.append(paragraph)
        self.last_paragraph = paragraph
        return paragraph

    def gap_before(self, style: str) -> int:
        """Return extra space (twips) to separate a paragraph from a table or list above it."""
        if style in SPACED_STYLES:
            return 0
        if self.after == "table" or (self.after == "bullet" and style != "List Bullet"):
            return 120
        return 0

    def flush_break(self) -> None:
        """Emit a pending page break as its own paragraph (before a table)."""
        if self.break_pending:
            self.items.append('<w:p><w:r><w:br w:type="page"/></w:r></w:p>')
            self.break_pending = False

    def paragraph(self, style: str, runs: Runs) -> _Para:
        paragraph = self.new_paragraph(style)
        paragraph.content.extend(self.runs_xml(runs))
        return paragraph

    def runs_xml(self, runs: Runs) -> list[str]:
        """Return the XML of runs: plain text from the cache, cross-references as fields."""
        out: list[str] = []
        plain: list[Inline] = []
        for run in runs:
            if isinstance(run, Ref):
                out.append(_plain_runs_xml(tuple(plain)))
                out.extend(self.reference(run))
                plain = []
            else:
                plain.append(run)
        out.append(_plain_runs_xml(tuple(plain)))
        return [piece for piece in out if piece]

    def reference(self, ref: Ref) -> list[str]:
        """Return the prefix and a REF field showing the target's number."""
        out = [_run_xml(ref.prefix)] if ref.prefix else []
        if not ref.bookmark:  # nothing to point at: keep the text right, without a field
            return [*out, _run_xml(ref.number)]
        # A schedule heading is not list-numbered: its bookmark spans the number text itself,
        # so the plain REF result is the number; \w would give nothing for it.
        switches = r"\h" if ref.bookmark in self.schedule_bookmarks else r"\w \h"
        begin, end = _field_xml(f"REF {ref.bookmark} {switches}")
        return [*out, begin, _run_xml(ref.number), end]

    def bookmark(self, paragraph: _Para, name: str | None, start_at: int = 0) -> None:
        """Wrap the paragraph's content from item ``start_at`` on in a bookmark."""
        if name:
            paragraph.bookmark = (name, start_at, len(paragraph.content))

    # -- blocks

    def numbered_heading(self, block: NumberedHeading) -> None:
        if block.scheme != "schedule":
            paragraph = self.paragraph("Heading 1", block.runs)
            if block.scheme != "clause":
                paragraph.num = (SCHEME_IDS[block.scheme], 0)
            self.bookmark(paragraph, block.bookmark)
            return
        self.break_pending = True
        paragraph = self.new_paragraph("Heading 1")
        paragraph.num = (0, 0)  # numId 0: no number for a schedule heading
        self.schedule_label(paragraph, block)
        if block.runs:
            paragraph.content.append(_run_xml(" \u2014 "))
            paragraph.content.extend(self.runs_xml(block.runs))

    def schedule_label(self, paragraph: _Para, block: NumberedHeading) -> None:
        """Write the label literally, bookmarking its number for REF fields."""
        at = block.label.rfind(block.number) if block.number else -1
        if at < 0:
            paragraph.content.append(_run_xml(block.label))
            self.bookmark(paragraph, block.bookmark)
            return
        before, after = block.label[:at], block.label[at + len(block.number) :]
        if before:
            paragraph.content.append(_run_xml(before))
        start = len(paragraph.content)
        paragraph.content.append(_run_xml(block.number))
        self.bookmark(paragraph, block.bookmark, start_at=start)
        if after:
            paragraph.content.append(_run_xml(after))

    def numbered_para(self, block: NumberedPara, schedule_num: int) -> None:
        style = NUMBERED_STYLES.get((block.scheme, block.level), "Normal")
        paragraph = self.paragraph(style, block.runs)
        num_id = schedule_num if block.scheme == "schedule" else SCHEME_IDS[block.scheme]
        paragraph.num = (num_id, min(max(block.level - 1, 0), 8))
        self.bookmark(paragraph, block.bookmark)

    def plain_paragraph(self, block: Paragraph) -> None:
        paragraph = self.paragraph("Normal", block.runs)
        if block.indent:
            paragraph.indent = (_text_indent(block.indent), 0)
        if block.align != "justify":
            paragraph.align = block.align

    def bullet(self, block: BulletItem) -> None:
        paragraph = self.paragraph("List Bullet", block.runs)
        ilvl = min(max(block.level - 1, 0), 8)
        paragraph.num = (BULLET, ilvl)
        paragraph.indent = (_text_indent(block.indent) + (ilvl + 1) * STEP // 2, STEP // 2)

    def table(self, block: Table) -> None:
        self.flush_break()
        if block.caption:
            self.paragraph("Caption", block.caption)
        widths = _column_widths(block, self.width)
        cell_style = self.style_ids["Table Text"]
        rows = []
        for index, cells in enumerate((block.header, *block.rows)):
            tds = "".join(
                f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/></w:tcPr>'
                f"{_Para(cell_style, self.runs_xml(runs)).xml()}</w:tc>"
                for width, runs in zip(widths, cells, strict=True)
            )
            header = "<w:trPr><w:tblHeader/></w:trPr>" if index == 0 else ""
            rows.append(f"<w:tr>{header}{tds}</w:tr>")
        grid = "".join(f'<w:gridCol w:w="{w}"/>' for w in widths)
        self.items.append(
            f'<w:tbl><w:tblPr><w:tblStyle w:val="{self.style_ids["Contract Table"]}"/>'
            f'<w:tblW w:type="dxa" w:w="{sum(widths)}"/>{_TBL_LOOK}</w:tblPr>'
            f"<w:tblGrid>{grid}</w:tblGrid>{''.join(rows)}</w:tbl>"
        )

    def signatures(self, block: SignatureBlock) -> None:
        """Write the signature table (``_body_xml`` keeps the paragraph above with it)."""
        self.flush_break()
        columns = max(1, len(block.parties))
        width = self.width // 2 if columns <= 2 else self.width // columns
        style = self.style_ids["Signature Text"]
        cells = []
        for party in block.parties:
            paragraphs = [
                _Para(style, [_run_xml(text, bold)], space_before=space).xml()
                for text, bold, space in _signature_lines(block, party)
            ]
            cells.append(
                f'<w:tc><w:tcPr><w:tcW w:type="dxa" w:w="{width}"/></w:tcPr>'
                f"{''.join(paragraphs)}</w:tc>"
            )
        grid = "".join(f'<w:gridCol w:w="{width}"/>' for _ in range(columns))
        self.items.append(
            f'<w:tbl><w:tblPr><w:tblW w:type="auto" w:w="0"/>{_TBL_LOOK}</w:tblPr>'
            f"<w:tblGrid>{grid}</w:tblGrid>"
            f"<w:tr><w:trPr><w:cantSplit/></w:trPr>{''.join(cells)}</w:tr></w:tbl>"
        )

    def toc(self, block: TableOfContents) -> None:
        self.paragraph("TOC Heading", (Text(block.title),))
        entries = block.entries or (("", ""),)
        begin, end = _field_xml(r'TOC \o "1-1" \h \z \u')
        for i, (label, text) in enumerate(entries):
            paragraph = self.new_paragraph("toc 1")
            if i == 0:
                paragraph.content.append(begin)
            paragraph.content.append(_run_xml(_toc_entry_text(label, text)))
            if i == len(entries) - 1:
                paragraph.content.append(end)


def _toc_entry_text(label: str, text: str) -> str:
    """Return an entry as Word would generate it: "1.<tab>Text" or the schedule heading."""
    if not label:
        return text
    if label[0].isdigit():
        return f"{label}\t{text}" if label.endswith(".") else f"{label}.\t{text}"
    return f"{label} \u2014 {text}" if text else label


def _label(label: str) -> str:
    return label if label.endswith(":") else f"{label}:"


def _signature_lines(block: SignatureBlock, party: SignatureParty) -> list[tuple[str, bool, int]]:
    """Return (text, bold, space before in twips) for each line of one party's block."""
    rule = "_" * 28
    return [
        (party.role.upper(), True, 240),
        (party.legal_name, False, 0),
        (f"{_label(block.by_label)} {rule}", False, 720),  # room to sign
        (f"{_label(block.name_label)} {party.signatory_name}", False, 0),
        (f"{_label(block.title_label)} {party.signatory_title}", False, 0),
        (f"{_label(block.date_label)} {rule}", False, 0),
    ]
