"""The document model: what every writer renders, with numbers already resolved.

A ``Document`` is a flat sequence of blocks. Inline content is a tuple of runs.
Numbering, cross-references and defined terms are resolved by ``render`` before
a writer sees the model, so the Word and Markdown outputs show the same numbers.

Numbering schemes:
    * ``clause``   - the operative clauses: level 1 = "12.", level 2 = "12.3",
      level 3 = "(a)".
    * ``schedule`` - inside one schedule: level 1 = "1.", level 2 = "1.1",
      level 3 = "(a)"; restarts in every schedule (``list_instance``).
    * ``recital``  - the recitals: "(A)", "(B)", ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Text:
    """Plain text, optionally emphasised."""

    text: str
    bold: bool = False
    italic: bool = False


@dataclass(frozen=True, slots=True)
class Term:
    """A defined term at the place where it is defined (shown in bold)."""

    text: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A cross-reference to a numbered clause or a schedule.

    ``label`` is the full text shown ("clause 12.3", "Schedule 2");
    ``number`` the bare number that a Word REF field shows ("12.3", "2");
    ``prefix`` the words before it ("clause ", "Schedule ").
    """

    target: str
    bookmark: str
    prefix: str
    number: str

    @property
    def label(self) -> str:
        return f"{self.prefix}{self.number}"


Inline = Text | Term | Ref
Runs = tuple[Inline, ...]

Scheme = Literal["clause", "schedule", "recital"]


@dataclass(frozen=True, slots=True)
class Title:
    """The document title (and an optional subtitle line below it)."""

    runs: Runs


@dataclass(frozen=True, slots=True)
class Heading:
    """An unnumbered heading: a part of the document ("RECITALS") or a sub-heading.

    ``level`` 1 is a part heading, 2 and 3 are sub-headings inside a clause or schedule.
    """

    level: int
    runs: Runs


@dataclass(frozen=True, slots=True)
class NumberedHeading:
    """A numbered clause heading (scheme ``clause``, level 1) or a schedule heading.

    For a schedule ``number`` is "1", "2", ... and ``label`` is "Schedule 1".
    """

    scheme: Scheme
    number: str
    label: str
    runs: Runs
    bookmark: str | None
    list_instance: int = 0


@dataclass(frozen=True, slots=True)
class NumberedPara:
    """A numbered paragraph: a sub-clause ("12.3"), a point ("(a)") or a recital ("(B)")."""

    scheme: Scheme
    level: int
    number: str
    runs: Runs
    bookmark: str | None = None
    list_instance: int = 0


@dataclass(frozen=True, slots=True)
class Paragraph:
    """An unnumbered paragraph. ``indent`` aligns it with the numbered text above it."""

    runs: Runs
    indent: int = 0
    align: Literal["left", "center", "justify"] = "justify"


@dataclass(frozen=True, slots=True)
class BulletItem:
    """One item of an unnumbered list."""

    runs: Runs
    level: int = 1
    indent: int = 0


@dataclass(frozen=True, slots=True)
class Table:
    """A table with one header row. Every row has as many cells as the header."""

    header: tuple[Runs, ...]
    rows: tuple[tuple[Runs, ...], ...]
    caption: Runs = ()


@dataclass(frozen=True, slots=True)
class SignatureParty:
    """One party's signature block."""

    role: str
    legal_name: str
    signatory_name: str
    signatory_title: str


@dataclass(frozen=True, slots=True)
class SignatureBlock:
    """The signature blocks of all parties, with the labels in the contract's language."""

    parties: tuple[SignatureParty, ...]
    by_label: str
    name_label: str
    title_label: str
    date_label: str


@dataclass(frozen=True, slots=True)
class PageBreak:
    """Start a new page."""


@dataclass(frozen=True, slots=True)
class TableOfContents:
    """A table of contents of the clause and schedule headings."""

    title: str
    entries: tuple[tuple[str, str], ...]  # (number label, heading text)


Block = (
    Title
    | Heading
    | NumberedHeading
    | NumberedPara
    | Paragraph
    | BulletItem
    | Table
    | SignatureBlock
    | PageBreak
    | TableOfContents
)


@dataclass(frozen=True, slots=True)
class DocumentMeta:
    """What the writers need besides the blocks."""

    title: str
    reference: str
    subject: str
    language: str  # BCP 47 tag, e.g. "en-US", "es-MX"
    paper: Literal["letter", "a4"]
    header_text: str
    page_label: str  # "Page {page} of {pages}" with those two fields
    clause_ref_prefix: str  # "clause " / "cláusula "
    schedule_label: str  # "Schedule" / "Anexo"


@dataclass(frozen=True, slots=True)
class Document:
    """A contract, ready for the writers."""

    meta: DocumentMeta
    blocks: tuple[Block, ...] = field(default_factory=tuple)
    spans: tuple[tuple[str, int, int], ...] = ()  # (clause module id, first block, end)

    def module_blocks(self, module_id: str) -> tuple[Block, ...]:
        """Return the blocks that one clause module produced (empty if it is not included)."""
        for owner, start, end in self.spans:
            if owner == module_id:
                return self.blocks[start:end]
        return ()

    def iter_runs(self) -> Iterator[Inline]:
        """Yield every inline run in document order (tables and headings included)."""
        for block in self.blocks:
            yield from block_runs(block)

    def pretty(self) -> str:
        """Return a stable text dump of the model, one block per line (for snapshots)."""
        return "\n".join(pretty_block(b) for b in self.blocks) + "\n"


def runs_text(runs: Runs) -> str:
    """Return the plain text of a sequence of runs."""
    out = []
    for run in runs:
        match run:
            case Text(text=t) | Term(text=t):
                out.append(t)
            case Ref():
                out.append(run.label)
    return "".join(out)


def block_runs(block: Block) -> Iterator[Inline]:
    """Yield the inline runs of one block."""
    match block:
        case Title(runs=r) | Heading(runs=r) | NumberedHeading(runs=r) | NumberedPara(runs=r):
            yield from r
        case Paragraph(runs=r) | BulletItem(runs=r):
            yield from r
        case Table():
            for cell in block.header:
                yield from cell
            for row in block.rows:
                for cell in row:
                    yield from cell
            yield from block.caption
        case SignatureBlock() | PageBreak() | TableOfContents():
            return


def _pretty_runs(runs: Runs) -> str:
    parts = []
    for run in runs:
        match run:
            case Text(text=t, bold=True):
                parts.append(f"**{t}**")
            case Text(text=t, italic=True):
                parts.append(f"_{t}_")
            case Text(text=t):
                parts.append(t)
            case Term(text=t):
                parts.append(f"<term {t}>")
            case Ref():
                parts.append(f"<ref {run.target}={run.label}>")
    return "".join(parts)


def pretty_block(block: Block) -> str:
    """Return one line describing a block."""
    match block:
        case Title(runs=r):
            return f"TITLE {_pretty_runs(r)}"
        case Heading(level=lvl, runs=r):
            return f"H{lvl} {_pretty_runs(r)}"
        case NumberedHeading():
            return f"NH[{block.scheme}] {block.label} {_pretty_runs(block.runs)}"
        case NumberedPara():
            return f"N{block.level}[{block.scheme}] {block.number} {_pretty_runs(block.runs)}"
        case Paragraph(indent=i, runs=r):
            return f"P{i} {_pretty_runs(r)}"
        case BulletItem(level=lvl, indent=i, runs=r):
            return f"B{lvl}/{i} {_pretty_runs(r)}"
        case Table():
            head = " | ".join(_pretty_runs(c) for c in block.header)
            rows = [" | ".join(_pretty_runs(c) for c in row) for row in block.rows]
            return "TABLE " + head + "".join(f"\n  ROW {r}" for r in rows)
        case SignatureBlock():
            return "SIGNATURES " + "; ".join(
                f"{p.role}: {p.legal_name} / {p.signatory_name}, {p.signatory_title}"
                for p in block.parties
            )
        case PageBreak():
            return "PAGEBREAK"
        case TableOfContents():
            return f"TOC {block.title} ({len(block.entries)} entries)"

