"""The pipeline: deal sheet -> validated deal -> selected clauses -> Document -> files.

Each stage lives in its own module; this one only connects them. Nothing here
touches the disk except ``render_to_directory``, through ``output.commit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from contractgen import model
from contractgen.dealsheet import Deal, load_deal, load_schema
from contractgen.library import Library, load_library
from contractgen.output import commit
from contractgen.paths import library_root
from contractgen.render import build_document
from contractgen.rules import Selection, check_rules, select

FORMATS = ("docx", "md")


@dataclass(frozen=True)
class Contract:
    """A deal carried through the pipeline as far as the document model."""

    deal: Deal
    library: Library
    selection: Selection
    document: model.Document
    language: str


def open_library(root: Path | None = None) -> Library:
    """Load the clause library (the bundled one unless ``root`` is given) and check its rules."""
    return _checked_library(library_root(root).resolve())


@lru_cache(maxsize=8)
def _checked_library(root: Path) -> Library:
    library = load_library(root)
    check_rules(library, load_schema(root))
    return library


def choose(path: Path, root: Path | None = None) -> tuple[Deal, Library, Selection]:
    """Load and validate a deal sheet and select its clause modules."""
    library = open_library(root)
    deal = load_deal(path, root=library.root)
    return deal, library, select(library, deal.data)


def build(path: Path, language: str | None = None, root: Path | None = None) -> Contract:
    """Carry a deal sheet through to the document model, in its own or another language."""
    deal, library, selection = choose(path, root)
    lang = language or deal.data["language"]
    document = build_document(library, selection, deal.data, lang)
    return Contract(deal, library, selection, document, lang)


def write_formats(document: model.Document, formats: tuple[str, ...]) -> dict[str, bytes]:
    """Render a document in each format, in memory."""
    out: dict[str, bytes] = {}
    for fmt in formats:
        if fmt == "md":
            from contractgen.writers.markdown import markdown_bytes

            out["md"] = markdown_bytes(document)
        elif fmt == "docx":
            from contractgen.writers.word import write_docx

            out["docx"] = write_docx(document)
        else:
            raise ValueError(f"unknown format {fmt!r}")
    return out


def render_files(path: Path, formats: tuple[str, ...], language: str | None = None,
                 root: Path | None = None) -> dict[str, bytes]:
    """Render one deal sheet in memory: ``<stem>.<format>`` -> bytes, for each format."""
    contract = build(path, language, root)
    rendered = write_formats(contract.document, formats)
    return {f"{path.stem}.{fmt}": data for fmt, data in rendered.items()}


def render_to_directory(path: Path, directory: Path, formats: tuple[str, ...],
                        language: str | None = None, force: bool = False,
                        root: Path | None = None) -> list[Path]:
    """Render one deal sheet and write ``DIR/<stem>.<format>`` for each format, atomically."""
    return commit(directory, render_files(path, formats, language, root), force)


def clear_caches() -> None:
    """Forget every output cached in this process (templates stay compiled): the next
    contract is rendered from scratch, as the first one of a batch worker is."""
    from contractgen import dealsheet, render, rules
    from contractgen.writers import markdown, word

    dealsheet.clear_caches()
    rules.clear_caches()
    render.clear_caches()
    markdown.clear_caches()
    word.clear_caches()


def save_caches() -> None:
    """Keep what this process parsed for later runs (the user's cache folder), and, at most
    once a day, prune that folder (``cache.prune_if_due``: one ``stat`` when not due)."""
    from contractgen import cache, mdtree

    mdtree.save()
    cache.prune_if_due()
