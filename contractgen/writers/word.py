"""Write a ``Document`` as a Word (.docx) file.

The output is a real Word document that a lawyer can keep editing:

* named styles (Title, Heading 1-3, Normal, a table style, list styles);
* native multi-level list numbering in ``numbering.xml`` (clauses, schedules restarting
  at 1 in every schedule, recitals), so inserting a clause renumbers everything;
* bookmarks on numbered blocks and ``REF`` fields for cross-references, a ``TOC``
  field, ``PAGE``/``NUMPAGES`` in the footer; every field carries the model's text as
  its cached result, so the file reads correctly before fields are updated;
* byte-identical output for the same ``Document`` (fixed properties and zip metadata).

This module writes the body as XML text and zips the package. Everything else (styles,
numbering, settings, header and footer, properties) is a skeleton that depends only on the
document's metadata: ``word_package``, the only module that imports python-docx, builds it,
and the ``word`` cache folder keeps it between runs. ``word_package`` is imported only when
a skeleton has to be built, so a warm run never imports python-docx or lxml.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, assert_never

from contractgen.cache import (
    code_stamp,
    entry_name,
    package_stamp,
    read_entry,
    write_entry,
)
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
    same_blocks,
)

STEP = 720  # twips (0.5 in) between the text positions of successive list levels
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
    last = _LastMain.written
    if last is not None and last[0] is skeleton and same_blocks(last[1], doc.blocks):
        main = last[2]  # the same blocks in the same package: the same main part
    else:
        body = _body_xml(doc, schedule_nums, skeleton.style_ids)
        main = _deflate(skeleton.main_name, skeleton.main_head + body + skeleton.main_tail)
        _LastMain.written = (skeleton, doc.blocks, main)
    return _zip((*skeleton.before, main, *skeleton.after))


class _LastMain:
    """The last main part written: its skeleton, its blocks and the deflated member."""

    written: tuple[_Skeleton, tuple[Block, ...], _Member] | None = None




def clear_caches() -> None:
    """Forget the skeletons and block XML cached in this process (for benchmarks and tests;
    the cache folder keeps its skeletons)."""
    _skeleton.cache_clear()
    _block_parts.cache_clear()
    _plain_runs_xml.cache_clear()
    _LastDocument.written = (None, {})
    _LastMain.written = None


# --------------------------------------------------------------------------- package


@dataclass(frozen=True)
class _Skeleton:
    """A contract's package without its body.

    The zip members before and after the main part, already deflated; the main part's
    member name and its XML before and after the body; the style ids for the body writer.
    Plain values, kept in the cache folder with pickle.
    """

    before: tuple[_Member, ...]
    after: tuple[_Member, ...]
    main_name: str
    main_head: bytes
    main_tail: bytes
    style_ids: _StyleIds


_CACHE_KIND = "word"  # the cache folder's sub-folder for skeletons


@lru_cache(maxsize=16)
def _skeleton(meta: DocumentMeta, schedules: int) -> _Skeleton:
    """Return every part but the body, serialised (cached: the parts depend only on ``meta``
    and the number of schedule lists, whose restarting ``w:num`` definitions go into
    ``numbering.xml``).

    Below this in-process cache, skeletons are kept in the ``word`` cache folder, one entry
    per metadata and number of schedule lists: ``(stamp, meta, schedules, skeleton)``, valid
    only for the same stamp (``_skeleton_stamp``), metadata and number. Only a miss imports
    ``word_package`` (and with it python-docx), whose import costs more than the build.
    """
    name = entry_name("skeleton", repr(meta), str(schedules))
    stamp = _skeleton_stamp()
    stored = _stored_skeleton(read_entry(_CACHE_KIND, name), stamp, meta, schedules)
    if stored is not None:
        return stored
    from contractgen.writers.word_package import build_skeleton

    skeleton = build_skeleton(meta, schedules)
    write_entry(_CACHE_KIND, name, (stamp, meta, schedules, skeleton))
    return skeleton


def _stored_skeleton(
    entry: Any, stamp: tuple[str, ...], meta: DocumentMeta, schedules: int
) -> _Skeleton | None:
    """Return the skeleton of a cache entry if it is valid for these inputs, else None."""
    if not (isinstance(entry, tuple) and len(entry) == 4):
        return None
    entry_stamp, entry_meta, entry_schedules, skeleton = entry
    if (
        entry_stamp != stamp
        or type(entry_meta) is not DocumentMeta
        or entry_meta != meta
        or type(entry_schedules) is not int
        or entry_schedules != schedules
        or not isinstance(skeleton, _Skeleton)
        or not isinstance(skeleton.style_ids, _StyleIds)
    ):
        return None
    # Interned again: cached blocks compare the style ids of their keys by identity.
    return replace(skeleton, style_ids=_intern_style_ids(skeleton.style_ids))


@lru_cache(maxsize=1)
def _skeleton_stamp() -> tuple[str, ...]:
    """Return a stamp of the code that builds skeletons: Python and contractgen's modules
    (``code_stamp``), python-docx and lxml (found, not imported: importing them is what the
    cache saves)."""
    return (code_stamp(), *package_stamp("docx", "lxml"))


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


def _text_width(meta: DocumentMeta) -> int:
    """Return the width between the margins, in twips."""
    width, _, margin, _ = PAPER[meta.paper]
    return width - 2 * margin


def _schedule_instances(doc: Document) -> dict[int, int]:
    """Map each schedule ``list_instance`` to its ``w:num`` id, in document order."""
    instances: dict[int, int] = {}
    for block in doc.blocks:
        if isinstance(block, NumberedPara) and block.scheme == "schedule":
            instances.setdefault(block.list_instance, BULLET + 1 + len(instances))
    return instances


# --------------------------------------------------------------------------- body


def _text_indent(level: int) -> int:
    """Return the left indent (twips) of the text of numbered level ``level`` (0 = flush)."""
    return {0: 0, 1: STEP, 2: STEP}.get(level, STEP * (level - 1))


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


@lru_cache(maxsize=2500)
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

    def __reduce__(self) -> tuple[type[_StyleIds], tuple[tuple[tuple[str, str], ...]]]:
        # Pickled as its pairs: the hash of strings differs from process to process.
        return _StyleIds, (self._key,)

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
        kind = type(block)  # the model's block classes are final: no subclasses to miss
        if kind is PageBreak:
            page_break, after = True, ""
            continue
        if kind is SignatureBlock and last is not None:
            index, first_id, state = last  # keep "IN WITNESS WHEREOF" with the signatures
            parts, _ = _block_parts(*state, True, schedule_bookmarks, style_ids)
            out[index] = _fill_ids(parts, first_id)
        num_id = 0
        if isinstance(block, NumberedPara) and block.scheme == "schedule":
            num_id = schedule_nums[block.list_instance]
        is_table = kind in _TABLES
        state = (block, page_break, after, num_id, width if is_table else 0)
        before = seen.get(id(block))
        if before is not None and before[0] == state:
            result = before[1]
        else:
            result = _block_parts(*state, False, schedule_bookmarks, style_ids)
        written[id(block)] = (state, result)
        parts, has_paragraph = result
        if has_paragraph:
            last = (len(out), next_id, state)
        out.append(parts[0] if len(parts) == 1 else _fill_ids(parts, next_id))
        next_id += len(parts) // 2
        page_break = False
        after = "table" if is_table else "bullet" if kind is BulletItem else ""
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


@lru_cache(maxsize=2500)
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
