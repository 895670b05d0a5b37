"""The Word writer's main part: bookmark ids from names, segments deflated one by one.

A bookmark's ``w:id`` comes from its name (``word._bookmark_id``), so a block's XML does not
depend on the bookmarks above it; two names with the same id in one document are told apart
in document order (``word._assign_ids``). The body is written range by range (each clause
module's span, each gap between spans), a range reused whole when its blocks and the state it
is entered in are the same, and each range is deflated on its own (``docx_zip``), with the
end of the range before it as its preset dictionary: the main part's deflate stream is the
segments, each ending on a byte boundary, and a final empty block.

Every cached write must give the bytes of a write in a fresh process (``clear_caches``).
"""

from __future__ import annotations

import io
import random
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from test_word_speed import uncached
from test_word_writer import make_document

from contractgen import pipeline
from contractgen.model import (
    Block,
    BulletItem,
    Document,
    NumberedHeading,
    NumberedPara,
    PageBreak,
    Paragraph,
    SignatureBlock,
    Table,
    Text,
)
from contractgen.pipeline import build
from contractgen.writers import docx_zip, word
from contractgen.writers.word import write_docx

REPO = Path(__file__).resolve().parents[1]
NORTHWIND = REPO / "examples" / "northwind-bpo.json"
BOOKMARK = re.compile(r'<w:bookmark(Start|End) w:id="(\d+)"(?: w:name="([^"]*)")?/>')


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    """Each test starts, and leaves, the writer as a new process has it."""
    word.clear_caches()
    yield
    word.clear_caches()


@pytest.fixture(scope="module")
def contract() -> Document:
    """The English example: about 1,000 blocks in some 80 spans."""
    document = build(NORTHWIND, "en").document
    assert len(document.spans) > 40
    return document


def main_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("word/document.xml").decode("utf-8")


def bookmarks(xml: str) -> list[tuple[str, int, str | None]]:
    """Return (kind, id, name) for each bookmark start and end, in document order."""
    return [(kind, int(number), name) for kind, number, name in BOOKMARK.findall(xml)]


def fresh_write(doc: Document) -> bytes:
    """Write ``doc`` as a new process would."""
    word.clear_caches()
    return write_docx(doc)


# --------------------------------------------------------------------------- edits


def with_blocks(doc: Document, blocks: list[Block], spans: list[tuple[str, int, int]]) -> Document:
    return replace(doc, blocks=tuple(blocks), spans=tuple(spans))


def edited(doc: Document, index: int, block: Block) -> Document:
    """Replace the block at ``index`` (the spans stay)."""
    blocks = list(doc.blocks)
    blocks[index] = block
    return with_blocks(doc, blocks, list(doc.spans))


def inserted(doc: Document, index: int, block: Block) -> Document:
    """Insert a block before ``index``, inside the span that holds ``index - 1`` and
    ``index`` if there is one."""
    spans = []
    for owner, start, end in doc.spans:
        if start >= index:
            start, end = start + 1, end + 1
        elif end > index:
            end += 1
        spans.append((owner, start, end))
    return with_blocks(doc, [*doc.blocks[:index], block, *doc.blocks[index:]], spans)


def deleted(doc: Document, index: int) -> Document:
    spans = []
    for owner, start, end in doc.spans:
        if start > index:
            start, end = start - 1, end - 1
        elif end > index:
            end -= 1
        if start < end:
            spans.append((owner, start, end))
    return with_blocks(doc, [*doc.blocks[:index], *doc.blocks[index + 1 :]], spans)


def span_of(doc: Document, test: Callable[[Block], bool], nth: int = 0) -> tuple[int, int]:
    """Return (span number, block index) of the ``nth`` block inside a span passing ``test``
    that is not its span's first block."""
    found = [
        (number, index)
        for number, (_, start, end) in enumerate(doc.spans)
        for index in range(start + 1, end)
        if test(doc.blocks[index])
    ]
    return found[nth]


def is_plain_paragraph(block: Block) -> bool:
    return isinstance(block, Paragraph) and not any(
        isinstance(run, word.Ref) for run in block.runs
    )


def variants(doc: Document) -> dict[str, Document]:
    """Documents that share most blocks (and spans) with ``doc``, changed in the ways that
    change a range's XML or the state the next range is entered in."""
    _, paragraph = span_of(doc, is_plain_paragraph, 3)
    _, later = span_of(doc, is_plain_paragraph, 40)
    first_span = doc.spans[0][1]
    schedule = next(
        i
        for i, b in enumerate(doc.blocks)
        if isinstance(b, NumberedHeading) and b.scheme == "schedule"
    )
    table = next(i for i, b in enumerate(doc.blocks) if isinstance(b, Table))
    after_bullet = next(
        i
        for _, start, end in doc.spans
        for i in range(start + 1, end)
        if isinstance(doc.blocks[i - 1], BulletItem) and isinstance(doc.blocks[i], NumberedPara)
    )
    new = Paragraph((Text("A new paragraph."),))
    spans = list(doc.spans)
    return {
        "paragraph edited": edited(doc, paragraph, new),
        # written after blocks taken as they were, the last of them a bullet (spacing)
        "paragraph after a bullet edited": edited(doc, after_bullet, new),
        "two paragraphs edited": edited(edited(doc, paragraph, new), later, new),
        "paragraph inserted": inserted(doc, paragraph, new),
        "paragraph deleted": deleted(doc, paragraph),
        # the next block gets a page break before it: its range is entered in another state
        "page break before a span": inserted(doc, first_span, PageBreak()),
        # the paragraph after the table is spaced from it
        "table before a span": inserted(doc, first_span, doc.blocks[table]),
        # schedule lists renumber, and a schedule bookmark disappears
        "schedule heading deleted": deleted(doc, schedule),
        "other paper": replace(
            doc, meta=replace(doc.meta, paper="a4" if doc.meta.paper == "letter" else "letter")
        ),
        # every schedule list's num id moves up by one
        "schedule list inserted": inserted(
            doc, schedule, NumberedPara("schedule", 1, "1", (Text("First."),), list_instance=99)
        ),
        "spans reordered": with_blocks(
            doc,
            [
                *doc.blocks[: spans[1][1]],
                *doc.blocks[spans[2][1] : spans[2][2]],
                *doc.blocks[spans[1][1] : spans[1][2]],
                *doc.blocks[spans[2][2] :],
            ],
            [
                spans[0],
                (spans[2][0], spans[1][1], spans[1][1] + spans[2][2] - spans[2][1]),
                (spans[1][0], spans[1][1] + spans[2][2] - spans[2][1], spans[2][2]),
                *spans[3:],
            ],
        ),
        "a module with two spans": with_blocks(
            doc, list(doc.blocks), [(spans[0][0], *span[1:]) for span in spans]
        ),
        "spans overlapping": with_blocks(
            doc, list(doc.blocks), [(o, max(s - 2, 0), e) for o, s, e in spans]
        ),
        "no spans": with_blocks(doc, list(doc.blocks), []),
        "same blocks, other objects": with_blocks(
            doc, [replace(b) if isinstance(b, NumberedPara) else b for b in doc.blocks], spans
        ),
    }


# --------------------------------------------------------------------------- bookmark ids


def test_bookmark_ids_come_from_names(contract: Document) -> None:
    marks = bookmarks(main_xml(write_docx(contract)))
    starts = [(number, name) for kind, number, name in marks if kind == "Start"]
    assert len(starts) > 50
    assert all(number == zlib.crc32(str(name).encode()) & 0x7FFFFFFF for number, name in starts)
    assert len({number for number, _ in starts}) == len(starts)
    ends = sorted(number for kind, number, _ in marks if kind == "End")
    assert ends == sorted(number for number, _ in starts)


def test_a_bookmark_added_above_changes_no_other_block(contract: Document) -> None:
    before = main_xml(write_docx(contract))
    first = contract.spans[0][1]
    heading = NumberedHeading("clause", "0", "0.", (Text("New"),), "cl_new")
    after = main_xml(write_docx(inserted(contract, first, heading)))
    start = after.index('w:name="cl_new"')
    paragraph_start = after.rindex("<w:p>", 0, start)
    paragraph_end = after.index("</w:p>", start) + len("</w:p>")
    assert after[:paragraph_start] + after[paragraph_end:] == before


def test_colliding_bookmark_ids_are_told_apart_in_document_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    doc = make_document("en-GB")
    names = [
        "cl_definitions",
        "cl_definitions_1",
        "cl_services",
        "cl_services_1",
        "cl_services_1_a",
        "cl_services_2",
        "cl_service_levels",
        "cl_service_levels_1",
        "sch_services",
        "sch1_1_1",
        "sch_service_levels",
    ]
    ids = {name: 100 + i for i, name in enumerate(names)}
    ids.update(cl_definitions=7, cl_definitions_1=8, cl_services=7)  # cl_services collides
    monkeypatch.setattr(word, "_bookmark_id", ids.__getitem__)
    colliding = write_docx(doc)
    marks = bookmarks(main_xml(colliding))
    given = {name: number for kind, number, name in marks if kind == "Start"}
    assert set(given) == set(names)
    # The first keeps its id; the later one gets the next id no bookmark of the document has.
    assert (given["cl_definitions"], given["cl_definitions_1"], given["cl_services"]) == (7, 8, 9)
    assert len(set(given.values())) == len(names)
    # Each end closes its own start: the same ids, in the same nesting as without a collision.
    assert [number for kind, number, _ in marks] == [
        given[name] if name else number for _, number, name in marks
    ]
    assert write_docx(doc) == colliding  # warm, and (collisions keep no range) again
    # The document is the one written had the name's own id been 9.
    ids["cl_services"] = 9
    assert fresh_write(doc) == colliding
    ids["cl_services"] = 7
    assert fresh_write(doc) == colliding


def test_assign_ids_keeps_the_first_and_moves_only_later_colliders() -> None:
    top = 0x7FFFFFFF
    assert word._assign_ids([5, 9, 5, 6, 5]) == [5, 9, 7, 6, 8]
    assert word._assign_ids([top, top, 0]) == [top, 1, 0]  # upwards, wrapping at 2**31
    assert word._assign_ids([3, 1, 2]) == [3, 1, 2]
    assert word._assign_ids([]) == []


# --------------------------------------------------------------------------- segments


def main_texts(doc: Document) -> tuple[list[Any], list[bytes]]:
    """Return the body's segments as ``_body_segments`` gives them, and the UTF-8 text of
    each segment of the main part (the skeleton's head and tail around the body's)."""
    nums, schedule_bookmarks = word._schedules(doc)
    skeleton = word._skeleton(doc.meta, len(nums))
    body = word._body_segments(doc, nums, schedule_bookmarks, skeleton.style_ids)
    pieces = [item if isinstance(item, tuple) else item.xml for item in body]
    texts = [
        skeleton.main_head,
        *("".join(piece).encode("utf-8") for piece in pieces),
        skeleton.main_tail,
    ]
    return body, texts


def deflated_with_dictionaries(texts: list[bytes]) -> bytes:
    """Deflate each text on its own, with the end of the text before it as its dictionary
    and a sync flush; end the stream with a final empty block (zlib alone, as specified)."""
    chunks = []
    before = b""
    for text in texts:
        zdict = before[-docx_zip._WINDOW :]
        compressor = (
            zlib.compressobj(1, zlib.DEFLATED, -15, zdict=zdict)
            if zdict
            else zlib.compressobj(1, zlib.DEFLATED, -15)
        )
        if text:
            chunks.append(compressor.compress(text) + compressor.flush(zlib.Z_SYNC_FLUSH))
        before = text
    return b"".join(chunks) + zlib.compressobj(1, zlib.DEFLATED, -15).flush()


def test_each_segment_is_deflated_with_the_end_of_the_one_before(contract: Document) -> None:
    body, texts = main_texts(contract)
    skeleton = word._skeleton(contract.meta, len(word._schedules(contract)[0]))
    member = docx_zip._main_member(
        skeleton.main_name, skeleton.main_head, body, skeleton.main_tail
    )
    expected = b"".join(texts)
    assert (member.size, member.crc) == (len(expected), zlib.crc32(expected))
    assert member.deflated.endswith(b"\x03\x00") and docx_zip._FINAL_BLOCK == b"\x03\x00"
    # One valid deflate stream: it inflates to the exact XML, and nothing is left over.
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(member.deflated) == expected
    assert inflater.eof and not inflater.unused_data
    # Byte for byte, the segments deflated one by one with the tail of the one before.
    assert member.deflated == deflated_with_dictionaries(texts)
    assert len(body) == len(word._ranges(contract)) > 40
    assert docx_zip._WINDOW == 8192


def test_segments_refer_back_into_their_dictionaries(contract: Document) -> None:
    """Each segment inflates to its text given the end of the text before it; most need it
    (they refer back into it), so alone they do not inflate."""
    _, texts = main_texts(contract)
    standalone = 0
    before = b""
    for text in texts:
        window = docx_zip._window((before.decode("utf-8"),))
        segment = docx_zip._segment(window, (text.decode("utf-8"),))
        assert (segment.size, segment.crc) == (len(text), zlib.crc32(text))
        zdict = before[-docx_zip._WINDOW :]
        inflater = zlib.decompressobj(-15, zdict=zdict) if zdict else zlib.decompressobj(-15)
        assert inflater.decompress(segment.deflated + docx_zip._FINAL_BLOCK) == text
        try:
            standalone += zlib.decompress(segment.deflated + docx_zip._FINAL_BLOCK, -15) == text
        except zlib.error:  # "invalid distance too far back": a reference into the dictionary
            pass
        before = text
    assert standalone < len(texts) // 4


def test_the_dictionaries_make_the_part_almost_as_small_as_one_stream(
    contract: Document,
) -> None:
    """Within 10% of the part deflated whole (as zipfile would), where segments that share
    nothing are 30% larger."""
    body, texts = main_texts(contract)
    skeleton = word._skeleton(contract.meta, len(word._schedules(contract)[0]))
    member = docx_zip._main_member(
        skeleton.main_name, skeleton.main_head, body, skeleton.main_tail
    )
    whole = docx_zip._deflate(member.name, b"".join(texts)).deflated
    alone = sum(len(docx_zip._deflate(member.name, text).deflated) for text in texts)
    assert len(member.deflated) < 1.10 * len(whole) < 1.25 * len(whole) < alone


def test_the_docx_reads_back_and_its_crcs_check(contract: Document) -> None:
    for doc in (contract, *list(variants(contract).values())[:3]):
        data = write_docx(doc)
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.testzip() is None
            info = archive.getinfo("word/document.xml")
            main = archive.read(info)
            assert (info.file_size, info.CRC) == (len(main), zlib.crc32(main))
            assert main.startswith(b"<?xml") and main.endswith(b"</w:document>")


def test_crc_combine_equals_the_crc_of_the_concatenation() -> None:
    rng = random.Random(5)
    for size_a, size_b in [(0, 0), (0, 7), (5, 0), (1, 1), (3000, 65_535), (10, 65_536),
                           (70_000, 200_001)]:
        a, b = rng.randbytes(size_a), rng.randbytes(size_b)
        assert docx_zip._crc_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


# --------------------------------------------------------------------------- reuse


def test_the_same_document_gives_the_same_bytes(contract: Document) -> None:
    first = write_docx(contract)
    assert write_docx(contract) == first
    for other in variants(contract).values():
        write_docx(other)
    assert write_docx(contract) == first
    assert fresh_write(contract) == first


def test_warm_writes_equal_fresh_and_uncached_writes(contract: Document) -> None:
    documents = {"contract": contract, **variants(contract)}
    expected = {name: fresh_write(doc) for name, doc in documents.items()}
    word.clear_caches()
    names = list(documents)
    for order in (names, names[::-1], random.Random(11).sample(names, len(names))):
        for name in order:
            assert write_docx(documents[name]) == expected[name], name
    for name in ("paragraph inserted", "page break before a span", "schedule heading deleted"):
        assert uncached(documents[name]) == expected[name], name


def test_each_variant_written_right_after_the_contract(contract: Document) -> None:
    for name, doc in variants(contract).items():
        expected = fresh_write(doc)
        write_docx(contract)
        assert write_docx(doc) == expected, name
        write_docx(contract)
        write_docx(doc)
        assert write_docx(contract) == fresh_write(contract), name


def xml_after(doc: Document, number: int, index: int) -> int:
    """Return how many characters of XML its span (``number``) has after block ``index``."""
    write_docx(doc)
    owner, start, _ = doc.spans[number]
    written = word._LastDocument.written.ranges[0][f"span {owner}"]
    position = sum(done is not None for done in written.done[: index - start + 1])
    return sum(map(len, written.xml[position:]))


def far_from_the_end(doc: Document) -> tuple[int, int]:
    """Return (span number, block index) of a plain paragraph with more than a dictionary's
    worth of its span's XML after it."""
    return next(
        (number, index)
        for number, index in (span_of(doc, is_plain_paragraph, n) for n in range(3, 200))
        if xml_after(doc, number, index) > docx_zip._WINDOW
    )


def last_of_its_span(doc: Document) -> tuple[int, int]:
    """Return (span number, block index) of a numbered paragraph without cross-references
    that ends its span, with the next span right after it."""
    return next(
        (number, end - 1)
        for number, ((_, _, end), (_, start, _)) in enumerate(
            zip(doc.spans, doc.spans[1:], strict=False)
        )
        if end == start
        and isinstance(doc.blocks[end - 1], NumberedPara)
        and not any(isinstance(run, word.Ref) for run in doc.blocks[end - 1].runs)
    )


def segments_changed(doc: Document, new: Document) -> list[int]:
    """Write ``doc`` then ``new``; return the numbers of the main part's segments that are
    not the very same objects (0 is the head; 1 + k is range k of the body)."""
    write_docx(doc)
    before = [segment for segment, _ in docx_zip._LastPart.crcs]
    write_docx(new)
    after = [segment for segment, _ in docx_zip._LastPart.crcs]
    return [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a is not b]


def test_an_edit_at_the_end_of_a_range_compresses_the_next_range_again(
    contract: Document,
) -> None:
    """The next range's XML is the same, but its dictionary (the end of this one) is not."""
    number, index = last_of_its_span(contract)
    block = contract.blocks[index]
    assert isinstance(block, NumberedPara)
    new = edited(contract, index, replace(block, runs=(Text("An edited paragraph."),)))
    keys = [key for key, _, _ in word._ranges(contract)]
    at = 1 + keys.index(f"span {contract.spans[number][0]}")
    assert keys[at] == f"span {contract.spans[number + 1][0]}"  # no gap between them
    assert segments_changed(contract, new) == [at, at + 1]
    warm = write_docx(new)
    assert warm == fresh_write(new) == uncached(new)
    assert main_xml(warm).count("An edited paragraph.") == 1
    # Back to the contract: both segments as they were, found again in the cache.
    assert segments_changed(new, contract) == [at, at + 1]
    assert write_docx(contract) == fresh_write(contract)


def test_an_edit_far_from_the_end_of_a_range_keeps_the_next_segment(
    contract: Document,
) -> None:
    """The next range's dictionary did not change: its segment is reused (its range kept
    it with the segment before, which changed: found again by the end of that one)."""
    number, index = far_from_the_end(contract)
    new = edited(contract, index, Paragraph((Text("An edited paragraph."),)))
    keys = [key for key, _, _ in word._ranges(contract)]
    at = 1 + keys.index(f"span {contract.spans[number][0]}")
    assert segments_changed(contract, new) == [at]
    assert write_docx(new) == fresh_write(new)


def test_an_edited_paragraph_rewrites_one_block_and_one_segment(
    contract: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    number, index = far_from_the_end(contract)
    before = write_docx(contract)
    segments_before = [segment for segment, _ in docx_zip._LastPart.crcs]
    written: list[Block] = []
    real = word._block_parts

    def counting(block: Block, *args: Any) -> Any:
        written.append(block)
        return real(block, *args)

    monkeypatch.setattr(word, "_block_parts", counting)
    new = Paragraph((Text("An edited paragraph."),))
    after = write_docx(edited(contract, index, new))
    assert written == [new]
    segments_after = [segment for segment, _ in docx_zip._LastPart.crcs]
    # Segment 0 is the main part's head; segment 1 + k is range k of the body.
    keys = [key for key, _, _ in word._ranges(contract)]
    changed = [i for i, (a, b) in enumerate(zip(segments_before, segments_after, strict=True))
               if a is not b]
    assert changed == [1 + keys.index(f"span {contract.spans[number][0]}")]
    old_xml, new_xml = main_xml(before), main_xml(after)
    old_paragraph, new_paragraph = differing_paragraphs(old_xml, new_xml)
    assert "An edited paragraph." in new_paragraph
    assert runs_xml(contract.blocks[index]) in old_paragraph


def differing_paragraphs(old: str, new: str) -> tuple[str, str]:
    """Return the one paragraph of each text where they differ (failing if they differ
    beyond one paragraph)."""
    start = next(i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b)
    end = next(i for i, (a, b) in enumerate(zip(old[::-1], new[::-1], strict=False)) if a != b)
    start = old.rindex("<w:p>", 0, start)
    old_end = old.index("</w:p>", len(old) - end) + len("</w:p>")
    new_end = new.index("</w:p>", len(new) - end) + len("</w:p>")
    assert old[:start] == new[:start] and old[old_end:] == new[new_end:]
    old_paragraph, new_paragraph = old[start:old_end], new[start:new_end]
    assert old_paragraph.count("<w:p>") == new_paragraph.count("<w:p>") == 1
    return old_paragraph, new_paragraph


def runs_xml(block: Block) -> str:
    assert isinstance(block, Paragraph)
    return word._plain_runs_xml(block.runs)


def test_the_paragraph_above_the_signatures_keeps_with_them(contract: Document) -> None:
    """Also when it is the last block of a span taken whole from the last document."""
    blocks = contract.blocks
    signatures = next(i for i, b in enumerate(blocks) if isinstance(b, SignatureBlock))
    end = max(e for _, _, e in contract.spans if e <= signatures)  # the span above them
    assert isinstance(blocks[end - 1], (Paragraph, NumberedPara))
    cut = signatures - end
    doc = with_blocks(
        contract,
        [*blocks[:end], *blocks[signatures:]],
        [(o, s, e) if e <= end else (o, s - cut, e - cut) for o, s, e in contract.spans],
    )
    write_docx(contract)
    for data in (write_docx(doc), write_docx(doc), fresh_write(doc)):
        xml = main_xml(data)
        table = xml.index('<w:tbl><w:tblPr><w:tblW w:type="auto" w:w="0"/>')  # signatures
        above = xml[xml.rindex("<w:p>", 0, table) : table]
        assert "<w:keepNext/>" in above
        assert xml.count("<w:keepNext/>") == main_xml(fresh_write(contract)).count(
            "<w:keepNext/>"
        )


def test_the_caches_stay_bounded(contract: Document) -> None:
    documents = list(variants(contract).values())
    for _ in range(3):
        for doc in documents:
            write_docx(doc)
    assert len(word._LastDocument.written.ranges) == word._GENERATIONS
    assert docx_zip._segment.cache_info().currsize <= docx_zip._SEGMENTS
    assert word._block_xml.cache_info().currsize <= 2500


# --------------------------------------------------------------------------- determinism


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("examples/northwind-bpo.json", "en"), ("examples/bajio-nomina.json", "en")),
        (("examples/northwind-bpo.json", "en"), ("examples/northwind-bpo.json", "es")),
        (("tests/data/deals/minimal-admin.json", "es"), ("examples/bajio-nomina.json", "es")),
    ],
)
def test_a_contract_written_after_others_equals_one_written_first(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    """Deal A, then B, then A again, with every cache of the process warm: A's bytes are
    those of A written by a fresh process (every cache cleared)."""
    a, b = (build(REPO / path, language).document for path, language in (first, second))
    written = [write_docx(a), write_docx(b), write_docx(a)]
    assert written[0] == written[2]
    pipeline.clear_caches()
    cold_a = write_docx(build(REPO / first[0], first[1]).document)
    pipeline.clear_caches()
    cold_b = write_docx(build(REPO / second[0], second[1]).document)
    assert written == [cold_a, cold_b, cold_a]
