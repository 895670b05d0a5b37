"""Write a Document as CommonMark (plus pipe tables), with the same numbers as the Word file.

Numbers are written as text ("12.3", "(a)"), never as Markdown list markers, so that
any Markdown viewer shows the contract's own numbering. Every piece of text is escaped,
so a deal value such as ``*Acme* [UK]`` renders literally.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import assert_never

from contractgen import model as m

_SPECIAL = re.compile(r"[\\`*_\[\]<>|#{}&!~]")  # what CommonMark could read as syntax in a line
_LINE_START = re.compile(r"^(\s*)([-+=](?=\s|$)|\d+[.)](?=\s|$))")


def escape(text: str) -> str:
    """Escape text so that CommonMark shows it literally."""
    return _SPECIAL.sub(_backslashed, text)


def _backslashed(match: re.Match[str]) -> str:
    """Return a matched mark escaped (a function: a replacement string with a group
    reference costs a template look-up on every call of ``sub``)."""
    return "\\" + match[0]


def _escape_start(text: str) -> str:
    """Escape what would start a list, heading or break at the start of a line."""
    match = _LINE_START.match(text)
    if not match:
        return text
    head = match.group(2)
    escaped = "\\" + head if len(head) == 1 else head[:-1] + "\\" + head[-1]
    return match.group(1) + escaped + text[match.end():]


def runs_markdown(runs: m.Runs) -> str:
    """Render inline runs as Markdown."""
    parts: list[str] = []
    for run in runs:
        match run:
            case m.Text(text=text, bold=bold, italic=italic):
                lines = [escape(line) for line in text.split("\n")]
                body = "\\\n".join(lines)
                if body.strip() and (bold or italic):
                    lead = body[: len(body) - len(body.lstrip())]
                    trail = body[len(body.rstrip()):]
                    core = body.strip()
                    if italic:
                        core = f"*{core}*"
                    if bold:
                        core = f"**{core}**"
                    body = f"{lead}{core}{trail}"
                parts.append(body)
            case m.Term(text=text):
                parts.append(f"**{escape(text)}**")
            case m.Ref():
                parts.append(escape(run.label))
            case _:
                assert_never(run)
    return _escape_start("".join(parts))


def _cell(runs: m.Runs) -> str:
    return runs_markdown(runs).replace("\\\n", " ").replace("\n", " ") or " "


def _table(block: m.Table) -> str:
    header = "| " + " | ".join(_cell(c) for c in block.header) + " |"
    rule = "|" + "|".join("---" for _ in block.header) + "|"
    rows = ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
    return "\n".join([header, rule, *rows])


def _signatures(block: m.SignatureBlock) -> str:
    parts = []
    for party in block.parties:
        lines = [
            f"**{escape(party.role)}**",
            f"**{escape(party.legal_name)}**",
            f"{escape(block.by_label)} {escape('_' * 20)}",
            f"{escape(block.name_label)} {escape(party.signatory_name)}",
            f"{escape(block.title_label)} {escape(party.signatory_title)}",
            f"{escape(block.date_label)} {escape('_' * 12)}",
        ]
        parts.append("\\\n".join(lines))
    return "\n\n".join(parts)


def _toc(block: m.TableOfContents) -> str:
    lines = [f"**{escape(block.title)}**", ""]
    for number, title in block.entries:
        joiner = " " if number.endswith(".") else " \u2014 "
        lines.append("- " + _escape_start(escape(f"{number}{joiner}{title}")))
    return "\n".join(lines)


def clear_caches() -> None:
    """Forget the cached Markdown of blocks (for benchmarks and tests)."""
    block_markdown.cache_clear()
    _Last.written = _Written({}, {})
    _Last.document = None


@dataclass(frozen=True)
class _Span:
    """One module's blocks as last written: the blocks, each one's Markdown (None for a
    block with none) and the span's text, with whether it starts and ends with a bullet
    (bullets in a row are joined by one line break, not a blank line)."""

    blocks: tuple[m.Block, ...]
    texts: tuple[str | None, ...]
    text: str
    data: bytes  # the text in UTF-8
    first_bullet: bool
    last_bullet: bool | None  # None: no block of the span has Markdown


@dataclass(frozen=True)
class _Written:
    """The last document's blocks outside modules (by ``id``, with their Markdown) and its
    modules' spans (by module id)."""

    blocks: dict[int, tuple[m.Block, str | None]]
    spans: dict[str, _Span]


class _Last:
    """The last document written, to reuse what did not change.

    Most blocks of a contract rendered again are the very same objects; finding them by
    identity skips hashing them (deeply) for ``block_markdown``'s cache, and a module whose
    blocks are all the same objects is taken whole. The entries hold their blocks, so no
    other object can have their ids while they are here.
    """

    written = _Written({}, {})
    document: tuple[tuple[m.Block, ...], _Output] | None = None  # the last blocks, written


@lru_cache(maxsize=1300)  # one English contract has about 1,000 blocks
def block_markdown(block: m.Block) -> str | None:
    """Render one block as Markdown (None for blocks with no Markdown form).

    Blocks are immutable values, so a block that did not change since the last contract
    (most of them, when a deal is edited and rendered again) is not rendered again.
    """
    match block:
        case m.Title(runs=runs):
            return f"# {runs_markdown(runs)}"
        case m.Heading(level=level, runs=runs):
            return f"{'#' * (level + 1)} {runs_markdown(runs)}"
        case m.NumberedHeading(scheme="schedule"):
            return f"## {escape(block.label)} \u2014 {runs_markdown(block.runs)}"
        case m.NumberedHeading():
            return f"## {escape(block.label)} {runs_markdown(block.runs)}"
        case m.NumberedPara(number=number, runs=runs):
            text = runs_markdown(runs)
            return _escape_start(f"{escape(number)} {text}".rstrip())
        case m.Paragraph(runs=runs):
            return runs_markdown(runs)
        case m.BulletItem(level=level, runs=runs):
            return f"{'  ' * (level - 1)}- {runs_markdown(runs)}"
        case m.Table():
            return _table(block)
        case m.SignatureBlock():
            return _signatures(block)
        case m.PageBreak():
            return None  # a page has no meaning in Markdown
        case m.TableOfContents():
            return _toc(block)
        case _:
            assert_never(block)


def write_markdown(doc: m.Document) -> str:
    """Render a Document as Markdown text."""
    return _written(doc).text


def markdown_bytes(doc: m.Document) -> bytes:
    """Render a Document as Markdown text in UTF-8: ``write_markdown(doc).encode()``, but
    each module's text is encoded once, when it changes (the whole contract's text holds
    curly quotes, so it is stored two bytes a character, and encoding it all costs more
    than writing what changed)."""
    return _written(doc).data


class _Output:
    """A document's Markdown as pieces of text, each with its UTF-8 form if known; the
    whole text and its UTF-8 form are joined when first asked for."""

    def __init__(self, joined: _Joiner) -> None:
        self.parts = joined.parts
        self.datas = joined.datas

    @cached_property
    def text(self) -> str:
        return "".join(self.parts) + "\n"

    @cached_property
    def data(self) -> bytes:
        return b"".join([part.encode("utf-8") if data is None else data
                         for part, data in zip(self.parts, self.datas, strict=True)]) + b"\n"


def _written(doc: m.Document) -> _Output:
    if _Last.document is not None and _Last.document[0] == doc.blocks:
        return _Last.document[1]  # the same blocks (tuples compare identity first): the same text
    last = _Last.written
    blocks, spans = doc.blocks, {}
    seen: dict[int, tuple[m.Block, str | None]] = {}
    out = _Joiner()
    position = 0
    for owner, start, end in (*doc.spans, ("", len(blocks), len(blocks))):
        for block in blocks[position:start]:
            text = _text(block, last.blocks)
            seen[id(block)] = (block, text)
            bullet = isinstance(block, m.BulletItem)
            out.add(text, bullet, bullet)
        position = end
        if not owner:
            break
        span = blocks[start:end]
        known = last.spans.get(owner)
        if known is None or len(known.blocks) != len(span) \
                or not all(map(operator.is_, known.blocks, span)):
            before = {} if known is None else {
                id(block): (block, text)
                for block, text in zip(known.blocks, known.texts, strict=True)
            }
            known = _span(span, [_text(block, before) for block in span])
        spans[owner] = known
        out.add(known.text, known.first_bullet, known.last_bullet, known.data)
    _Last.written = _Written(seen, spans)
    written = _Output(out)
    _Last.document = (doc.blocks, written)
    return written


def _text(block: m.Block, known: dict[int, tuple[m.Block, str | None]]) -> str | None:
    """Return a block's Markdown, from the last document if it is the very same object."""
    found = known.get(id(block))
    return found[1] if found is not None and found[0] is block else block_markdown(block)


def _span(blocks: tuple[m.Block, ...], texts: list[str | None]) -> _Span:
    joined = _Joiner()
    for block, text in zip(blocks, texts, strict=True):
        bullet = isinstance(block, m.BulletItem)
        joined.add(text, bullet, bullet)
    text = "".join(joined.parts)
    return _Span(blocks, tuple(texts), text, text.encode("utf-8"), joined.first_bullet,
                 joined.last_bullet)


class _Joiner:
    """Join blocks' Markdown: a blank line between blocks, a line break between bullets."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.datas: list[bytes | None] = []  # each part's UTF-8 form, if known
        self.first_bullet = False
        self.last_bullet: bool | None = None  # None until something is written

    def add(self, text: str | None, first_bullet: bool, last_bullet: bool | None,
            data: bytes | None = None) -> None:
        """Add a block's Markdown (a bullet or not: both flags the same) or a span's (whether
        it starts and ends with a bullet, and its UTF-8 form); None, or a span without
        Markdown, adds nothing: the block above stays the one above."""
        if text is None or last_bullet is None:
            return
        if self.last_bullet is None:
            self.first_bullet = first_bullet
        else:
            tight = self.last_bullet and first_bullet
            self.parts.append("\n" if tight else "\n\n")
            self.datas.append(b"\n" if tight else b"\n\n")
        self.parts.append(text)
        self.datas.append(data)
        self.last_bullet = last_bullet
