"""Build a contract's Word package, all but its body, with python-docx.

This is the only module that imports python-docx (and lxml). ``word.write_docx`` imports it
only when a skeleton is in neither its in-process cache nor the cache folder: importing
python-docx costs more than building the skeleton, and more than writing a whole body.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import docx
from docx.document import Document as DocxDocument
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, nsmap, qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Twips
from docx.text.paragraph import Paragraph as DocxParagraph
from lxml import etree

from contractgen.model import DocumentMeta
from contractgen.writers.docx_zip import _deflate
from contractgen.writers.word import (
    BULLET,
    CLAUSE,
    NUMBERED_STYLES,
    PAPER,
    RECITAL,
    SCHEDULE,
    SCHEME_IDS,
    STEP,
    _attr,
    _intern_style_ids,
    _Skeleton,
    _StyleIds,
    _text_width,
)

FONT = "Times New Roman"  # LibreOffice substitutes the metric-compatible Liberation Serif
FIXED_TIME = datetime(2000, 1, 1, tzinfo=UTC)



def build_skeleton(meta: DocumentMeta, schedules: int) -> _Skeleton:
    """Build every part but the body and serialise it (the parts depend only on ``meta``
    and the number of schedule lists, whose restarting ``w:num`` definitions go into
    ``numbering.xml``)."""
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


# --------------------------------------------------------------------------- fields


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
