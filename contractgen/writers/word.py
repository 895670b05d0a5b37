"""Write a ``Document`` as a Word (.docx) file.

The output is a real Word document that a lawyer can keep editing:

* named styles (Title, Heading 1-3, Normal, a table style, list styles);
* native multi-level list numbering in ``numbering.xml`` (clauses, schedules restarting
  at 1 in every schedule, recitals), so inserting a clause renumbers everything;
* bookmarks on numbered blocks and ``REF`` fields for cross-references, a ``TOC``
  field, ``PAGE``/``NUMPAGES`` in the footer; every field carries the model's text as
  its cached result, so the file reads correctly before fields are updated;
* byte-identical output for the same ``Document`` (fixed properties and zip metadata).

This module writes the body as XML text; ``docx_zip`` zips the package, the main part
deflated in segments, each compressed again only when it or the end of the one before it
changes. Everything else (styles, numbering, settings, header and footer, properties) is a
skeleton that depends only on the document's metadata: ``word_package``, the only module
that imports python-docx, builds it, and the ``word`` cache folder keeps it between runs.
``word_package`` is imported only when a skeleton has to be built, so a warm run never
imports python-docx or lxml.
"""

from __future__ import annotations

import operator
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar, assert_never

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
)
from contractgen.writers import docx_zip
from contractgen.writers.docx_zip import _main_member, _Member, _Segment, _zip

STEP = 720  # twips (0.5 in) between the text positions of successive list levels

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
    and its number of schedule lists). The body is written range by range (each clause
    module's span of blocks, and each gap between spans): a range with the same blocks as in
    one of the last few documents, entered in the same state, is reused whole, and each
    other block's XML is cached by the block and the little state it depends on. Each range
    is deflated on its own, with the end of the range before it as its dictionary
    (``_main_member``), so a contract rendered again after an edit writes and compresses
    only the ranges that changed, and the range after one that changed at its end.
    """
    schedule_nums, schedule_bookmarks = _schedules(doc)
    skeleton = _skeleton(doc.meta, len(schedule_nums))
    last = _LastMain.written
    if (
        last is not None
        and last[0] is skeleton
        and last[2] == doc.spans
        and last[1] == doc.blocks  # items compare by identity first: fast
    ):
        main = last[3]  # the same blocks and spans in the same package: the same main part
    else:
        segments = _body_segments(doc, schedule_nums, schedule_bookmarks, skeleton.style_ids)
        main = _main_member(skeleton.main_name, skeleton.main_head, segments, skeleton.main_tail)
        _LastMain.written = (skeleton, doc.blocks, doc.spans, main)
    return _zip((*skeleton.before, main, *skeleton.after))


_Spans = tuple[tuple[str, int, int], ...]


class _LastMain:
    """The last main part written: its skeleton, blocks and spans, and the deflated member."""

    written: tuple[_Skeleton, tuple[Block, ...], _Spans, _Member] | None = None


def clear_caches() -> None:
    """Forget the skeletons, block XML and deflated segments cached in this process (for
    benchmarks and tests; the cache folder keeps its skeletons)."""
    _skeleton.cache_clear()
    _block_xml.cache_clear()
    _LastDocument.written = _Seen.EMPTY
    _LastMain.written = None
    docx_zip.clear_caches()


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


def _text_width(meta: DocumentMeta) -> int:
    """Return the width between the margins, in twips."""
    width, _, margin, _ = PAPER[meta.paper]
    return width - 2 * margin


def _schedules(doc: Document) -> tuple[dict[int, int], frozenset[str]]:
    """Map each schedule ``list_instance`` to its ``w:num`` id, in document order; and
    return the bookmarks of the schedule headings (one pass)."""
    instances: dict[int, int] = {}
    bookmarks: list[str] = []
    for block in doc.blocks:
        if isinstance(block, NumberedPara):
            if block.scheme == "schedule" and block.list_instance not in instances:
                instances[block.list_instance] = BULLET + 1 + len(instances)
        elif isinstance(block, NumberedHeading) and block.scheme == "schedule" and block.bookmark:
            bookmarks.append(block.bookmark)
    return instances, frozenset(bookmarks)


# --------------------------------------------------------------------------- body


def _text_indent(level: int) -> int:
    """Return the left indent (twips) of the text of numbered level ``level`` (0 = flush)."""
    return {0: 0, 1: STEP, 2: STEP}.get(level, STEP * (level - 1))


def _word_width(word: str) -> int:
    """Estimate a word's width (twips) in 10 pt table text; capitals and digits are wider."""
    wide = sum(map(str.isupper, word)) + sum(map(str.isdigit, word))  # never both
    return CHAR_WIDTH * len(word) + (CAPITAL_WIDTH - CHAR_WIDTH) * wide


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
    if "\n" not in text and "\t" not in text:  # most runs: no need to split
        inner = _t(text) if text else ""
    else:
        inner = "".join(
            "<w:br/>" if part == "\n" else "<w:tab/>" if part == "\t" else _t(part)
            for part in _RUN_SPLIT.split(text)
            if part
        )
    return f"<w:r>{f'<w:rPr>{props}</w:rPr>' if props else ''}{inner}</w:r>"


def _plain_runs_xml(runs: Runs) -> str:
    """Return the XML of runs without cross-references (not cached: the blocks that hold
    them are, whole)."""
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


def _cell_paragraph(style: str, content: list[str]) -> str:
    """Return ``_Para(style, content).xml()`` for a paragraph with only a (non-empty) style:
    a table cell's, written many times per table."""
    return f'<w:p><w:pPr><w:pStyle w:val="{style}"/></w:pPr>{"".join(content)}</w:p>'


_TABLES = (Table, SignatureBlock)  # blocks written as tables: spaced from the next paragraph

_State = tuple[Block, bool, str, int, int]  # a block and the state it is written in
# What ``_block_xml`` returns: the XML, the bookmark ids, whether there is a paragraph, the
# bookmarks that cross-references point at and those of them that are schedule bookmarks.
_Written = tuple[str, tuple[int, ...], bool, frozenset[str], frozenset[str]]
_Done = tuple[_State, _Written]  # a block written: the state it was written in, what it gave
_ID_MASK = 0x7FFFFFFF  # bookmark ids are non-negative and below 2**31
_NO_REFS: frozenset[str] = frozenset()


def _bookmark_id(name: str) -> int:
    """Return the ``w:id`` of a bookmark, derived from its name (unique in a document) rather
    than from its position, so that a block's XML does not depend on the bookmarks above it.
    ``_assign_ids`` settles the rare collision."""
    return zlib.crc32(name.encode("utf-8")) & _ID_MASK


def _assign_ids(ids: list[int]) -> list[int]:
    """Return the document's bookmark ids, in document order, made unique: a bookmark whose
    id an earlier one already has gets the next id (upwards, wrapping at 2**31) that no
    bookmark of the document has, so that only the colliding bookmark changes."""
    taken = set(ids)
    used: set[int] = set()
    out = []
    for bookmark_id in ids:
        if bookmark_id in used:
            while bookmark_id in taken:
                bookmark_id = (bookmark_id + 1) & _ID_MASK
            taken.add(bookmark_id)
        used.add(bookmark_id)
        out.append(bookmark_id)
    return out


@dataclass(slots=True, eq=False)
class _Range:
    """What writing a range of blocks (a clause module's span, or a gap between spans) gave.

    ``blocks`` were entered with ``entry`` (a page break pending, the kind of block above)
    and the schedule lists' ``w:num`` ids in ``nums`` ((list instance, num id) pairs), the
    text width ``width`` (0 without tables), and the ``schedule_bookmarks``, of which
    ``schedule_refs`` are among those that the blocks' cross-references point at (``refs``).
    ``xml`` has one string per block written, ``ids`` the bookmark ids in order; ``exit``
    is the state after the range; ``last`` the block holding the range's last paragraph
    (index in ``xml``, state, bookmark ids), kept with a signature block that may follow;
    ``done`` each block's state and result (None for a page break). ``whole`` is false for a
    range that holds a signature block (which rewrites the block above it, maybe in another
    range): its blocks can be reused, but not the range as a whole. ``segment`` is, once
    ``_main_member`` has needed it, the segment that preceded the range and the range's XML
    deflated after it (``docx_zip``; the only field ever set again).
    """

    blocks: tuple[Block, ...]
    entry: tuple[bool, str]
    nums: tuple[tuple[int, int], ...]
    width: int
    schedule_bookmarks: frozenset[str]
    refs: frozenset[str]
    schedule_refs: frozenset[str]
    xml: tuple[str, ...]
    ids: tuple[int, ...]
    exit: tuple[bool, str]
    last: tuple[int, _State, tuple[int, ...]] | None
    done: tuple[_Done | None, ...]
    whole: bool
    segment: tuple[_Segment, _Segment] | None = None

    def with_blocks(self, blocks: tuple[Block, ...]) -> _Range:
        """Return this range with other blocks, equal to its own."""
        return _Range(
            blocks,
            self.entry,
            self.nums,
            self.width,
            self.schedule_bookmarks,
            self.refs,
            self.schedule_refs,
            self.xml,
            self.ids,
            self.exit,
            self.last,
            self.done,
            self.whole,
            self.segment,
        )


@dataclass(frozen=True)
class _Seen:
    """The ranges of the last documents written, by key (``_ranges``), the last document's
    first; valid only for the same style ids; the last document's schedule bookmarks."""

    style_ids: _StyleIds | None
    schedule_bookmarks: frozenset[str]
    ranges: tuple[dict[str, _Range], ...]

    EMPTY: ClassVar[_Seen]


_Seen.EMPTY = _Seen(None, _NO_REFS, ())
_GENERATIONS = 2  # documents whose ranges are kept (most are the same objects in each)


class _LastDocument:
    """What the last documents written gave, range by range (``_Seen``).

    Most spans of a contract rendered again hold the very same blocks (or equal ones) in the
    same state as in one of the last few contracts (after one-change edits, as before the
    edit before): such a range is reused whole, without visiting its blocks; in another
    range, most blocks are found at the same place, from its start or its end, in a range
    written before, which skips hashing them (deeply), most of the cost of a ``_block_xml``
    cache hit. One attribute, replaced whole, so threads see a consistent state.
    """

    written: _Seen = _Seen.EMPTY


def _ranges(doc: Document) -> list[tuple[str, int, int]]:
    """Cut the blocks into ranges, each with a key that names it from one document to the
    next: each span (keyed by its clause module) and each gap between spans (keyed by the
    module before it). A span out of order, overlapping another or empty is left in a gap."""
    out: list[tuple[str, int, int]] = []
    at, count, owner = 0, len(doc.blocks), ""
    for name, start, end in doc.spans:
        if at <= start < end <= count:
            if at < start:
                out.append((f"after {owner}", at, start))
            out.append((f"span {name}", start, end))
            at, owner = end, name
    if at < count:
        out.append((f"after {owner}", at, count))
    if len({key for key, _, _ in out}) < len(out):  # a module with two spans
        out = [(f"{key} #{i}", start, end) for i, (key, start, end) in enumerate(out)]
    return out


def _body_segments(
    doc: Document,
    schedule_nums: Mapping[int, int],
    schedule_bookmarks: frozenset[str],
    style_ids: _StyleIds,
) -> list[_Range | tuple[str, ...]]:
    """Return the body's content (before its section properties) as segments of XML, one per
    range (``_ranges``): the range written, or, if the block above a signature block was
    written again in it, or bookmark ids collided, its blocks' XML strings.

    Bookmark ids come from the bookmarks' names; if two collide, the body is written again
    with the ids ``_assign_ids`` gives (and no range is kept for reuse).
    """
    seen = _LastDocument.written
    if seen.style_ids is not style_ids:
        seen = _Seen.EMPTY
    if schedule_bookmarks == seen.schedule_bookmarks:  # one object: ranges compare it fast
        schedule_bookmarks = seen.schedule_bookmarks
    state = (schedule_nums, schedule_bookmarks, style_ids, _text_width(doc.meta))
    ranges = _ranges(doc)
    body = _BodyWriter(*state, seen, None)
    for key, start, end in ranges:
        body.write_range(key, doc.blocks[start:end])
    if len(set(body.ids)) < len(body.ids):
        body = _BodyWriter(*state, seen, _assign_ids(body.ids))
        for key, start, end in ranges:
            body.write_range(key, doc.blocks[start:end])
    generations = (body.ranges, *seen.ranges[: _GENERATIONS - 1])
    _LastDocument.written = _Seen(style_ids, schedule_bookmarks, generations)
    bounds, kept, touched = body.bounds, body.kept, body.touched
    return [
        kept[i]
        if body.assigned is None and not any(a <= index < b for index in touched)
        else tuple(body.out[a:b])
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]


class _BodyWriter:
    """Write the body range by range, carrying the state from block to block: a pending page
    break, the kind of block above, the block holding the last paragraph (written again to
    keep it with a signature block that follows) and the bookmark ids so far.

    ``assigned`` (after a collision) gives every bookmark id in document order; otherwise
    each id comes from its name, and ranges are reused and kept.
    """

    def __init__(
        self,
        schedule_nums: Mapping[int, int],
        schedule_bookmarks: frozenset[str],
        style_ids: _StyleIds,
        width: int,
        seen: _Seen,
        assigned: list[int] | None,
    ) -> None:
        self.schedule_nums = schedule_nums
        self.schedule_bookmarks = schedule_bookmarks
        self.style_ids = style_ids
        self.width = width
        self.seen = seen
        self.assigned = assigned
        self.out: list[str] = []  # the XML of each block written
        self.bounds = [0]  # where each range starts in ``out``, and the end
        self.kept: list[_Range] = []  # each range as written
        self.touched: list[int] = []  # blocks written again to keep with signature blocks
        self.ids: list[int] = []
        self.page_break = False
        self.after = ""  # the kind of the block above: "table", "bullet" or ""
        self.last: tuple[int, _State, tuple[int, ...]] | None = None  # index in ``out``
        self.ranges: dict[str, _Range] = {}

    def write_range(self, key: str, blocks: tuple[Block, ...]) -> None:
        """Write a range: as it was written for one of the last documents if it has the same
        blocks in the same state, else block by block."""
        versions: list[_Range] = []  # the range as written for the last documents, newest first
        for generation in self.seen.ranges:
            found = generation.get(key)
            if found is None or found in versions:  # (ranges compare by identity)
                continue
            if self.same_blocks(found, blocks):
                break
            versions.append(found)
        else:
            new = self.write_blocks(blocks, versions)
            if self.assigned is None:
                self.ranges[key] = new
            self.kept.append(new)
            self.bounds.append(len(self.out))
            return
        at = len(self.out)
        self.out += found.xml
        self.ids += found.ids
        self.page_break, self.after = found.exit
        if found.last is not None:
            index, state, ids = found.last
            self.last = (at + index, state, ids)
        if not all(map(operator.is_, found.blocks, blocks)):
            found = found.with_blocks(blocks)  # equal: hold the newer ones, found by identity
        self.ranges[key] = found
        self.kept.append(found)
        self.bounds.append(len(self.out))

    def same_blocks(self, found: _Range, blocks: tuple[Block, ...]) -> bool:
        """Whether a range written before gives these blocks' XML now: the same (or equal)
        blocks, entered in the same state."""
        return self.fits(found) and found.blocks == blocks  # items: identity first, fast

    def fits(self, found: _Range) -> bool:
        """Whether a range written before gives the XML of its blocks again if they are
        entered as now: in the same state, with the same schedule lists' num ids, text
        width and schedule bookmarks among those its cross-references point at."""
        return (
            found.whole
            and self.assigned is None
            and found.entry == (self.page_break, self.after)
            and (not found.width or found.width == self.width)
            and (
                not found.refs
                or found.schedule_bookmarks is self.schedule_bookmarks
                or found.refs & self.schedule_bookmarks == found.schedule_refs
            )
            and (not found.nums or all(self.schedule_nums.get(i) == n for i, n in found.nums))
        )

    def write_blocks(self, blocks: tuple[Block, ...], versions: list[_Range]) -> _Range:
        """Write a range block by block, with what ``versions`` (the range as written before,
        newest first) gave: as the newest gave it for the blocks at the start and at the end
        that are the same as its own, entered in the same state (after an edit, most of
        them); for another block, if found at the same place from the start or the end."""
        at, first_id = len(self.out), len(self.ids)
        entry = (self.page_break, self.after)
        count = len(blocks)
        old = [(version.done, len(version.done) - count) for version in versions]
        written = _RangeSoFar()
        head = tail = 0
        newest = old[0][0] if old else ()
        if versions and self.fits(versions[0]):
            head, tail = _common_ends(versions[0].blocks, blocks)
            self.replay(newest[:head], written)
        for index in range(head, count - tail):
            self.write_block(blocks[index], index, old, written)
        if tail:
            first = newest[len(newest) - tail]  # the tail's first block as written before
            if first is not None and first[0][1:3] == (self.page_break, self.after):
                self.replay(newest[len(newest) - tail :], written)
            else:
                for index in range(count - tail, count):
                    self.write_block(blocks[index], index, old, written)
        last = None
        if self.last is not None and self.last[0] >= at:
            index, state, ids = self.last
            last = (index - at, state, ids)
        refs = written.refs
        return _Range(
            blocks,
            entry,
            tuple(written.nums.items()),
            written.width,
            self.schedule_bookmarks,
            frozenset(refs),
            self.schedule_bookmarks.intersection(refs),
            tuple(self.out[at:]),
            tuple(self.ids[first_id:]),
            (self.page_break, self.after),
            last,
            tuple(written.done),
            written.whole,
        )

    def replay(self, done: tuple[_Done | None, ...], written: _RangeSoFar) -> None:
        """Add what blocks gave when written before, in the state they are entered in now."""
        out, ids = self.out, self.ids
        for item in done:
            written.done.append(item)
            if item is None:  # a page break
                self.page_break, self.after = True, ""
                continue
            state, (xml, block_ids, has_paragraph, block_refs, _) = item
            if block_ids:
                ids += block_ids
            if has_paragraph:
                self.last = (len(out), state, block_ids)
            out.append(xml)
            if block_refs:
                written.refs |= block_refs
            block = state[0]
            if state[3] and isinstance(block, NumberedPara):  # a schedule list's num id
                written.nums[block.list_instance] = state[3]
            kind = type(block)
            if kind in _TABLES:
                written.width = self.width
            self.page_break, self.after = False, _AFTER.get(kind, "")

    def write_block(
        self,
        block: Block,
        index: int,
        old: list[tuple[tuple[_Done | None, ...], int]],
        written: _RangeSoFar,
    ) -> None:
        """Add one block of a range, with what it gave before if found at ``index`` (or at
        ``index + shift``, the same place counting from the end) in a range written before
        (``old``: what each gave, and its ``shift``)."""
        kind = type(block)  # the model's block classes are final: no subclasses to miss
        if kind is PageBreak:
            self.page_break, self.after = True, ""
            written.done.append(None)
            return
        out = self.out
        if kind is SignatureBlock:
            written.whole = False
            if self.last is not None:  # keep "IN WITNESS WHEREOF" with the signatures
                target, target_state, target_ids = self.last
                out[target] = self.xml(target_state, True, target_ids)
                self.touched.append(target)
        num_id = 0
        if isinstance(block, NumberedPara) and block.scheme == "schedule":
            instance = block.list_instance
            num_id = written.nums[instance] = self.schedule_nums[instance]
        is_table = kind in _TABLES
        if is_table:
            written.width = self.width
        state = (block, self.page_break, self.after, num_id, self.width if is_table else 0)
        result = None
        for done, shift in old:
            result = _same_place(done, index, state, self.schedule_bookmarks)
            if result is None and shift:
                result = _same_place(done, index + shift, state, self.schedule_bookmarks)
            if result is not None:
                break
        else:
            result = _block_xml(*state, False, self.schedule_bookmarks, self.style_ids)
        written.done.append((state, result))
        xml, ids, has_paragraph, block_refs, _ = result
        if block_refs:
            written.refs |= block_refs
        if ids and self.assigned is not None:
            ids = tuple(self.assigned[len(self.ids) : len(self.ids) + len(ids)])
            xml = self.xml(state, False, ids)
        if ids:
            self.ids += ids
        if has_paragraph:
            self.last = (len(out), state, ids)
        out.append(xml)
        self.page_break, self.after = False, _AFTER.get(kind, "")

    def xml(self, state: _State, keep_last: bool, ids: tuple[int, ...]) -> str:
        """Return a block's XML with these bookmark ids (those from the names: cached)."""
        written = _block_xml(*state, keep_last, self.schedule_bookmarks, self.style_ids)
        if ids == written[1]:
            return written[0]
        parts, _, _, _ = _block_parts(
            *state, keep_last, self.schedule_bookmarks, self.style_ids
        )
        return _fill_ids(parts, ids)


_AFTER: dict[type, str] = {Table: "table", SignatureBlock: "table", BulletItem: "bullet"}


class _RangeSoFar:
    """What a range being written has given so far, besides its XML and bookmark ids."""

    __slots__ = ("done", "nums", "refs", "whole", "width")

    def __init__(self) -> None:
        self.done: list[_Done | None] = []  # each block's state and result
        self.nums: dict[int, int] = {}  # schedule list instance -> num id
        self.refs: set[str] = set()  # bookmarks that cross-references point at
        self.whole = True  # no signature block
        self.width = 0  # the text width, if there is a table


def _common_ends(old: tuple[Block, ...], new: tuple[Block, ...]) -> tuple[int, int]:
    """Return how many blocks at the start, and then at the end, of ``new`` are the same
    as (or equal to) those of ``old``."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and (old[head] is new[head] or old[head] == new[head]):
        head += 1
    limit -= head
    tail = 0
    while tail < limit and (old[-1 - tail] is new[-1 - tail] or old[-1 - tail] == new[-1 - tail]):
        tail += 1
    return head, tail


def _same_place(
    old: tuple[_Done | None, ...], index: int, state: _State, schedule_bookmarks: frozenset[str]
) -> _Written | None:
    """Return what the block at ``index`` of a range written before gave, if it was the same
    or an equal block written in the same state (the tuples compare their items by identity
    first), whose cross-references point at schedules as they do now."""
    if 0 <= index < len(old):
        done = old[index]
        if done is not None and done[0] == state:
            result = done[1]
            if not result[3] or result[3] & schedule_bookmarks == result[4]:
                return result
    return None


def _fill_ids(parts: tuple[str, ...], ids: tuple[int, ...]) -> str:
    """Join a block's parts, putting bookmark ids in the gaps: the first two gaps (the start
    and end of the block's first bookmark) get the first id, the next two the next."""
    if len(parts) == 1:
        return parts[0]
    pieces = [parts[0]]
    for i, part in enumerate(parts[1:]):
        pieces += (str(ids[i // 2]), part)
    return "".join(pieces)


@lru_cache(maxsize=1300)  # one English contract has about 1,000 blocks
def _block_xml(
    block: Block,
    page_break: bool,
    after: str,
    num_id: int,
    width: int,
    keep_last: bool,
    schedule_bookmarks: frozenset[str],
    style_ids: _StyleIds,
) -> _Written:
    """Return one block's XML, its bookmark ids (from their names), whether it has a
    paragraph, the bookmarks its cross-references point at and which of them are schedules'.

    Cached, keyed by everything the XML depends on: ``page_break``, a page break is pending;
    ``after``, the kind of block above ("table", "bullet" or ""), which spaces paragraphs;
    ``num_id``, a schedule paragraph's ``w:num``; ``width``, the text width (for tables);
    ``keep_last``, keep the last paragraph with the next block; ``schedule_bookmarks``, which
    cross-references point at schedules; and the style ids.
    """
    parts, names, has_paragraph, refs = _block_parts(
        block, page_break, after, num_id, width, keep_last, schedule_bookmarks, style_ids
    )
    ids = tuple(_bookmark_id(name) for name in names)
    if not refs:
        return _fill_ids(parts, ids), ids, has_paragraph, _NO_REFS, _NO_REFS
    return _fill_ids(parts, ids), ids, has_paragraph, refs, refs & schedule_bookmarks


def _block_parts(
    block: Block,
    page_break: bool,
    after: str,
    num_id: int,
    width: int,
    keep_last: bool,
    schedule_bookmarks: frozenset[str],
    style_ids: _StyleIds,
) -> tuple[tuple[str, ...], tuple[str, ...], bool, frozenset[str]]:
    """Return one block's XML cut where bookmark ids go, the bookmarks' names, whether the
    block has a paragraph and the bookmarks its cross-references point at (arguments as for
    ``_block_xml``)."""
    writer = _BlockWriter(style_ids.ids, width, schedule_bookmarks, page_break, after)
    writer.write_block(block, num_id)
    if keep_last and writer.last_paragraph is not None:
        writer.last_paragraph.keep_next = True
    parts = [""]
    names: list[str] = []
    for item in writer.items:
        if isinstance(item, str):
            parts[-1] += item
        else:
            first, *rest = item.parts()
            parts[-1] += first
            parts += rest
            if item.bookmark is not None:
                names.append(item.bookmark[0])
    has_paragraph = writer.last_paragraph is not None
    return tuple(parts), tuple(names), has_paragraph, frozenset(writer.refs)


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
        self.refs: set[str] = set()  # the bookmarks that cross-references point at

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
        self.refs.add(ref.bookmark)
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
                f"{_cell_paragraph(cell_style, self.runs_xml(runs))}</w:tc>"
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
