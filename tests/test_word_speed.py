"""The Word writer's caches and its own zip writer never change the output.

``write_docx`` caches the package skeleton (by metadata and number of schedule lists, in the
process and in the cache folder: see test_word_cache.py), each block's XML (by the block and
the state it is written in), the ranges of blocks of the last documents (by key, reused when
their blocks are the same and entered in the same state) and the deflated segments of the
main part (see test_word_segments.py). The tests compare writes with warm caches with writes
without any cache, for documents that differ from the one written before in the ways state
can leak between blocks.
"""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import replace

import pytest
from test_word_writer import make_document

from contractgen.model import (
    Block,
    Document,
    NumberedHeading,
    NumberedPara,
    PageBreak,
    Paragraph,
    SignatureBlock,
    Table,
    Text,
)
from contractgen.writers import docx_zip, word, word_package
from contractgen.writers.word import write_docx


def uncached(doc: Document) -> bytes:
    """Write ``doc`` without any of the writer's caches."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(word, "_skeleton", word_package.build_skeleton)
        patch.setattr(word, "_block_xml", word._block_xml.__wrapped__)
        patch.setattr(docx_zip, "_segment", docx_zip._segment.__wrapped__)
        patch.setattr(word._LastDocument, "written", word._Seen.EMPTY)
        patch.setattr(word._LastMain, "written", None)
        patch.setattr(docx_zip._LastPart, "crcs", ())
        return write_docx(doc)


def with_blocks(doc: Document, blocks: list[Block]) -> Document:
    return replace(doc, blocks=tuple(blocks))


def variants(doc: Document) -> dict[str, Document]:
    """Documents that share most blocks (the very objects) with ``doc``."""
    blocks = list(doc.blocks)
    first_schedule = next(
        i for i, b in enumerate(blocks) if isinstance(b, NumberedHeading) and b.scheme == "schedule"
    )
    table = next(i for i, b in enumerate(blocks) if isinstance(b, Table))
    signatures = next(i for i, b in enumerate(blocks) if isinstance(b, SignatureBlock))
    new_clause = NumberedHeading("clause", "0", "Clause 0", (Text("New"),), "cl_new")
    return {
        # a bookmark before all others (its id, from its name, moves no other)
        "bookmark inserted": with_blocks(doc, [new_clause, *blocks]),
        # schedule lists renumber; the first schedule's bookmark (a REF target) disappears
        "schedule removed": with_blocks(
            doc,
            [
                b
                for i, b in enumerate(blocks)
                if not (
                    i == first_schedule
                    or (
                        isinstance(b, NumberedPara)
                        and b.scheme == "schedule"
                        and b.list_instance == 1
                    )
                )
            ],
        ),
        # schedule lists renumber, with the same schedule bookmarks
        "schedule list inserted": with_blocks(
            doc,
            [
                *blocks[:first_schedule],
                NumberedPara("schedule", 1, "1", (Text("First."),), list_instance=9),
                *blocks[first_schedule:],
            ],
        ),
        # the paragraph after the table is spaced from it
        "paragraph after table": with_blocks(
            doc, [*blocks[: table + 1], blocks[1], *blocks[table + 1 :]]
        ),
        # a pending page break moves onto another block
        "page break moved": with_blocks(
            doc,
            [b for b in blocks if not isinstance(b, PageBreak)][:5]
            + [PageBreak()]
            + [b for b in blocks if not isinstance(b, PageBreak)][5:],
        ),
        # the paragraph before the signatures no longer keeps with them
        "signatures removed": with_blocks(doc, blocks[:signatures] + blocks[signatures + 1 :]),
        "signatures only": with_blocks(doc, [blocks[signatures]]),
        "no blocks": with_blocks(doc, []),
        "a4 paper": replace(doc, meta=replace(doc.meta, paper="a4")),
        "letter paper": replace(doc, meta=replace(doc.meta, paper="letter")),
        "new reference": replace(doc, meta=replace(doc.meta, reference="X-1", title="A & <B>")),
        "edited paragraph": with_blocks(
            doc, [Paragraph((Text("Edited."),)) if b == blocks[1] else b for b in blocks]
        ),
    }


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    out: dict[str, Document] = {}
    for language in ("en-GB", "es-MX"):
        doc = make_document(language)
        out[language] = doc
        out.update({f"{language} {name}": v for name, v in variants(doc).items()})
    return out


def test_warm_writes_equal_cold_writes_in_any_order(documents: dict[str, Document]) -> None:
    expected = {name: uncached(doc) for name, doc in documents.items()}
    names = list(documents)
    for order in (names, names[::-1], random.Random(7).sample(names, len(names))):
        for name in order:
            assert write_docx(documents[name]) == expected[name], name


def test_each_variant_written_right_after_its_original(documents: dict[str, Document]) -> None:
    for name, doc in documents.items():
        base = documents[name.split(" ")[0]]
        expected = uncached(doc)
        write_docx(base)
        assert write_docx(doc) == expected, name
        assert write_docx(base) == uncached(base), name


def _zipfile_archive(members: list[tuple[str, bytes]]) -> bytes:
    """Zip as the writer did before it wrote its own archives."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            member = zipfile.ZipInfo(name, date_time=docx_zip.ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.create_system = 0
            member.external_attr = 0
            archive.writestr(member, data, compresslevel=1)
    return out.getvalue()


def test_own_zip_equals_zipfile_byte_for_byte() -> None:
    rng = random.Random(3)
    members = [
        ("[Content_Types].xml", b""),
        ("word/document.xml", b"<w:p/>" * 50_000),
        ("word/media/random.bin", rng.randbytes(70_000)),  # stored larger than it is
        ("a", b"x"),
    ]
    for count in range(len(members) + 1):
        chosen = members[:count]
        ours = docx_zip._zip(tuple(docx_zip._deflate(name, data) for name, data in chosen))
        assert ours == _zipfile_archive(chosen)
        with zipfile.ZipFile(io.BytesIO(ours)) as archive:
            assert archive.testzip() is None
            assert [(i.filename, archive.read(i)) for i in archive.infolist()] == chosen
