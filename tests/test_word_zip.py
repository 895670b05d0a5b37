"""The .docx container (``docx_zip``): segments deflated with the end of the one before.

Each segment of the main part is deflated on its own with the last ``_WINDOW`` bytes of the
segment before it as its preset dictionary, so a kept segment is valid only after a segment
with the same end: these tests drive ``_main_member`` with ranges of made-up XML and check
that every write, whatever was cached, gives the bytes of a write with empty caches.
(``test_word_speed`` checks ``_zip`` and ``_deflate`` against zipfile; ``test_word_segments``
the segments of a real contract and ``_crc_combine``.)
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from contractgen.model import Document
from contractgen.writers import docx_zip, word
from contractgen.writers.docx_zip import _FINAL_BLOCK, _WINDOW, _Member, _Segment

HEAD = b'<?xml version="1.0"?><w:document><w:body>'
TAIL = b"<w:sectPr/></w:body></w:document>"


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    docx_zip.clear_caches()
    yield
    docx_zip.clear_caches()


@dataclass(eq=False)
class Range:
    """What ``_main_member`` needs of ``word._Range``."""

    xml: tuple[str, ...]
    segment: tuple[_Segment, _Segment] | None = None


def paragraphs(tag: str, count: int) -> tuple[str, ...]:
    """Return the XML of ``count`` paragraphs (about 130 characters each)."""
    return tuple(
        f"<w:p><w:r><w:t>{tag} {i}: {'lorem ipsum ' * 8}</w:t></w:r></w:p>" for i in range(count)
    )


def member(body: Sequence[Range | tuple[str, ...]]) -> _Member:
    return docx_zip._main_member("word/document.xml", HEAD, body, TAIL)


def text_of(body: Sequence[Range | tuple[str, ...]]) -> bytes:
    pieces = [item if isinstance(item, tuple) else item.xml for item in body]
    return HEAD + "".join("".join(p) for p in pieces).encode("utf-8") + TAIL


def inflated(deflated: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    data = inflater.decompress(deflated)
    assert inflater.eof and not inflater.unused_data
    return data


def cold(body: Sequence[Range | tuple[str, ...]]) -> _Member:
    """The member written with empty caches, from new ranges."""
    docx_zip.clear_caches()
    written = member([Range(item) if isinstance(item, tuple) else Range(item.xml) for item in body])
    docx_zip.clear_caches()
    return written


def segments() -> list[_Segment]:
    """The last member's segments: the head, the body's, the tail."""
    return [segment for segment, _ in docx_zip._LastPart.crcs]


# --------------------------------------------------------------------------- _window


def test_window_is_the_shortest_end_with_a_dictionary_worth_of_characters() -> None:
    assert docx_zip._window(()) == ()
    short = ("a" * 10, "b" * 20)
    assert docx_zip._window(short) is short  # all of them, fewer characters than a window
    pieces = ("a" * 5, "b" * _WINDOW, "c" * 3)
    assert docx_zip._window(pieces) == ("b" * _WINDOW, "c" * 3)
    assert docx_zip._window(("x", "y" * _WINDOW)) == ("y" * _WINDOW,)
    assert docx_zip._window(("x", "y" * (_WINDOW - 1), "z")) == ("y" * (_WINDOW - 1), "z")
    assert docx_zip._window(("x", "y" * (_WINDOW - 2), "z")) == ("x", "y" * (_WINDOW - 2), "z")


# --------------------------------------------------------------------------- _segment


def test_a_segment_is_deflated_with_the_last_window_of_bytes_before_it() -> None:
    before = ("é" * 100, "a" * _WINDOW, "<w:p>“quoted” — text</w:p>")  # not all ASCII
    pieces = ("<w:p>“quoted” — text</w:p>", "a" * 300, "ñ")
    segment = docx_zip._segment(before, pieces)
    data = "".join(pieces).encode("utf-8")
    zdict = "".join(before).encode("utf-8")[-_WINDOW:]
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15, zdict=zdict)
    expected = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert (segment.size, segment.crc, segment.deflated) == (len(data), zlib.crc32(data), expected)
    inflater = zlib.decompressobj(-15, zdict=zdict)
    assert inflater.decompress(segment.deflated + _FINAL_BLOCK) == data
    with pytest.raises(zlib.error):  # it refers back into its dictionary
        zlib.decompress(segment.deflated + _FINAL_BLOCK, -15)


def test_a_segment_is_kept_by_its_pieces_and_the_pieces_before_it() -> None:
    pieces = ("<w:p>hello world, hello world</w:p>",)
    first = docx_zip._segment(("<w:p>hello world</w:p>",), pieces)
    assert docx_zip._segment(("<w:p>hello world</w:p>",), pieces) is first
    other = docx_zip._segment(("<w:p>something else</w:p>",), pieces)
    assert other is not first and other.deflated != first.deflated
    alone = docx_zip._segment((), pieces)
    assert zlib.decompress(alone.deflated + _FINAL_BLOCK, -15) == pieces[0].encode()
    empty = docx_zip._segment(("<w:p>before</w:p>",), ("",))
    assert (empty.size, empty.crc) == (0, 0)


# --------------------------------------------------------------------------- _main_member


def test_the_member_is_one_deflate_stream_of_the_whole_part() -> None:
    body = [Range(paragraphs("a", 200)), (), Range(paragraphs("b", 30)), ("",), paragraphs("c", 3)]
    written = member(body)
    data = text_of(body)
    assert inflated(written.deflated) == data
    assert (written.name, written.size, written.crc) == ("word/document.xml", len(data),
                                                         zlib.crc32(data))
    assert written.deflated.endswith(_FINAL_BLOCK)
    # Empty segments add nothing; the next one has no dictionary (nothing just before it).
    assert len(segments()) == 2 + len(body) and segments()[2].size == 0
    assert member(body) == written == cold(body)


def test_a_kept_segment_is_used_only_after_a_segment_with_the_same_end() -> None:
    a, b = paragraphs("a", 200), paragraphs("b", 50)  # a is longer than a window
    assert len("".join(a)) > 2 * _WINDOW
    changed = "<w:p><w:r><w:t>changed</w:t></w:r></w:p>"
    end_changed, start_changed = (*a[:-1], changed), (changed, *a[1:])
    expected = {x: cold([x, b]) for x in (a, end_changed, start_changed)}

    range_a, range_b = Range(a), Range(b)
    assert member([range_a, range_b]) == expected[a]
    head, segment_a, segment_b, tail = segments()
    assert range_b.segment == (segment_a, segment_b)

    # A's end changed: B's XML is the same, its dictionary is not: compressed again.
    written = member([Range(end_changed), range_b])
    assert segments()[0] is head and segments()[2] is not segment_b
    assert range_b.segment is not None and range_b.segment[0] is segments()[1]
    assert inflated(written.deflated) == text_of([end_changed, b])
    assert written == expected[end_changed]

    # A's start changed, not its end: B's segment is found again by the end of A.
    written = member([Range(start_changed), range_b])
    assert segments()[1] is not segment_a and segments()[2] is segment_b
    assert written == expected[start_changed]

    # The very same ranges again: the same segments, the same bytes.
    assert member([range_a, range_b]) == expected[a]
    assert all(
        x is y for x, y in zip(segments(), [head, segment_a, segment_b, tail], strict=True)
    )
    # The same XML given as pieces (as ``_body_segments`` gives ranges it cannot keep).
    assert member([a, b]) == expected[a]
    assert all(
        x is y for x, y in zip(segments(), [head, segment_a, segment_b, tail], strict=True)
    )


def test_a_range_moved_elsewhere_is_compressed_after_its_new_neighbour() -> None:
    a, b, c = paragraphs("a", 40), paragraphs("b", 40), paragraphs("c", 40)
    ranges = [Range(a), Range(b), Range(c)]
    member(ranges)
    reordered = [ranges[0], ranges[2], ranges[1]]
    written = member(reordered)
    assert inflated(written.deflated) == text_of(reordered)
    assert written == cold(reordered)
    assert member(ranges) == cold(ranges)


def test_writes_in_any_order_equal_cold_writes() -> None:
    a, b, c = paragraphs("a", 100), paragraphs("b", 20), paragraphs("c", 70)
    changed = "<w:p>changed</w:p>"
    bodies = {
        "plain": [a, b, c],
        "a's end": [(*a[:-1], changed), b, c],
        "a's start": [(changed, *a[1:]), b, c],
        "b": [a, (changed,), c],
        "b gone": [a, c],
        "c first": [c, a, b],
    }
    expected = {name: cold([Range(x) for x in body]) for name, body in bodies.items()}
    ranges = {tuple(x): Range(x) for body in bodies.values() for x in body}  # kept, reused
    for name in [*bodies, *reversed(bodies), "b", "plain", "a's end", "plain"]:
        assert member([ranges[tuple(x)] for x in bodies[name]]) == expected[name], name
        assert member(bodies[name]) == expected[name], name


# --------------------------------------------------------------------------- caches


def test_word_clear_caches_clears_the_segments() -> None:
    from test_word_writer import make_document

    doc: Document = make_document("en-GB")
    word.clear_caches()
    word.write_docx(doc)
    assert docx_zip._segment.cache_info().currsize > 0 and docx_zip._LastPart.crcs
    word.clear_caches()
    assert docx_zip._segment.cache_info().currsize == 0 and docx_zip._LastPart.crcs == ()
