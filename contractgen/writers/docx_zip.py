"""The .docx container: zip members deflated as zipfile would, the main part in segments.

A .docx is a zip archive. ``_zip`` writes it byte for byte as ``zipfile.ZipFile.writestr``
writes into a seekable file (fixed date and attributes, no zip64), from members already
deflated (``_Member``), so that a member that did not change is not compressed again: the
skeleton's parts are deflated once (``_deflate``), when the skeleton is built.

The main part (``word/document.xml``) changes with every contract, but mostly in a few of
its ranges of blocks, so it is deflated in *segments*: the skeleton's head, one segment per
range of the body (``word._ranges``: a clause module's span or a gap between spans) and the
skeleton's tail. Each segment is compressed by a compressor of its own, ended on a byte
boundary by a sync flush (an empty stored block), and given as its preset dictionary the
last ``_WINDOW`` bytes of the segment before it (raw deflate: the stream does not name the
dictionary). Concatenated, the segments are one valid deflate stream once a final empty
block ends it: a back-reference into the dictionary reaches into the data that the
segments before decompress to, which ends with the very same bytes. So a segment can
refer back to the text just before it, as it could in one stream (the part is about 8%
larger than deflated whole, instead of 30% for segments that share nothing), and yet each
is compressed on its own. (A longer dictionary, or one reaching back over several short
segments, saves a few % more, but costs more to set up for every segment compressed,
and a segment is compressed again after edits further back.)

The bytes are a function of the part's data and its cut into segments alone: a segment is
the deflate of its data with the tail of the segment before it as its dictionary, whether
it was cached or not. A segment is kept (``_segment``) by its XML pieces and the last
pieces of the segment before it, those that hold its dictionary (``_window``); a range of
the body also keeps its segment with the segment that preceded it, taken again without a
look-up while that one precedes it again (the same segment has the same pieces, so the
same tail). An edit thus compresses again the segment it falls in and, if it falls in
that segment's tail, the one after it. The member's CRC-32 is combined from the segments'
(``_crc_combine``).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP32_LIMIT = (1 << 31) - 1


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


# --------------------------------------------------------------------------- segments

_FINAL_BLOCK = zlib.compressobj(1, zlib.DEFLATED, -15).flush()  # b"\x03\x00"
_ZEROS = bytes(1 << 16)
_SEGMENTS = 180  # deflated segments kept (a contract has 60 to 90): about two contracts
_WINDOW = 8 << 10  # bytes at the end of a segment: the next one's preset dictionary


@dataclass(frozen=True)
class _Segment:
    """A piece of the main part: its UTF-8 size and CRC-32, and its deflated data (not final,
    ending on a byte boundary)."""

    size: int
    crc: int
    deflated: bytes


@lru_cache(maxsize=_SEGMENTS)
def _segment(before: tuple[str, ...], pieces: tuple[str, ...]) -> _Segment:
    """Return a segment made of XML ``pieces``, deflated with the last ``_WINDOW`` bytes of
    the pieces ``before`` it as its dictionary: the window of the segment before it
    (``_window``). Cached: the key is cheap to hash and compare, since the pieces are
    mostly the cached XML strings of blocks.
    """
    # Encoded piece by piece: most pieces are ASCII (a copy), a few are not.
    data = b"".join([piece.encode("utf-8") for piece in pieces])
    zdict = b"".join([piece.encode("utf-8") for piece in before])[-_WINDOW:] if data else b""
    if zdict:
        compressor = zlib.compressobj(1, zlib.DEFLATED, -15, zdict=zdict)
    else:
        compressor = zlib.compressobj(1, zlib.DEFLATED, -15)
    deflated = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return _Segment(len(data), zlib.crc32(data), deflated)


def _window(pieces: tuple[str, ...]) -> tuple[str, ...]:
    """Return the last of a segment's pieces that hold at least ``_WINDOW`` characters (so
    at least as many bytes), or all of them: what the next segment's dictionary is cut
    from."""
    count = 0
    for start in range(len(pieces) - 1, -1, -1):
        count += len(pieces[start])
        if count >= _WINDOW:
            return pieces[start:]
    return pieces


@lru_cache(maxsize=4)
def _decoded(data: bytes) -> str:
    """Return a skeleton's head or tail as text: one string per skeleton, so the segment's
    key hashes and compares fast."""
    return data.decode("utf-8")


class _Deflatable(Protocol):
    """A range of the body (``word._Range``): its XML pieces, and, once deflated, the
    segment before it and its own."""

    xml: tuple[str, ...]
    segment: tuple[_Segment, _Segment] | None


class _LastPart:
    """The last main part deflated: its segments, each with the CRC of the part so far."""

    crcs: tuple[tuple[_Segment, int], ...] = ()


def _main_member(
    name: str, head: bytes, body: Sequence[_Deflatable | tuple[str, ...]], tail: bytes
) -> _Member:
    """Return the main part's member: ``head``, the body's segments and ``tail``, deflated
    segment by segment, each with the tail of the segment before it as its dictionary (a
    range keeps its segment while the same segment precedes it); the CRC-32 is combined
    from theirs (up to the first segment that differs from the last main part's, its CRCs
    so far are reused)."""
    before = _LastPart.crcs
    crcs: list[tuple[_Segment, int]] = []
    crc = size = 0
    chunks: list[bytes] = []
    last: tuple[str, ...] = ()  # the pieces of the segment before
    previous: _Segment | None = None  # and the segment
    for item in ((_decoded(head),), *body, (_decoded(tail),)):
        if isinstance(item, tuple):
            pieces = item
            segment = _segment(_window(last), pieces)
        else:
            pieces = item.xml
            kept = item.segment
            if kept is not None and kept[0] is previous:
                segment = kept[1]
            else:
                segment = _segment(_window(last), pieces)
                if previous is not None:
                    item.segment = (previous, segment)
        last, previous = pieces, segment
        index = len(crcs)
        if len(crcs) < len(before) and before[index][0] is segment and crc == (
            before[index - 1][1] if index else 0
        ):
            crc = before[index][1]
        else:
            crc = _crc_combine(crc, segment.crc, segment.size)
        crcs.append((segment, crc))
        if segment.size:
            size += segment.size
            chunks.append(segment.deflated)
    if size * 1.05 > _ZIP32_LIMIT:  # as _deflate: zipfile would switch to zip64
        raise ValueError(f"{name} is too large for a Word document")
    chunks.append(_FINAL_BLOCK)
    _LastPart.crcs = tuple(crcs)
    return _Member(name, crc, size, b"".join(chunks))


def _crc_combine(crc_a: int, crc_b: int, size_b: int) -> int:
    """Return the CRC-32 of data A followed by data B from the CRCs of A and B.

    CRC-32 is linear over GF(2): ``crc32(B, crc_a)`` is ``crc_b`` XOR the register ``crc_a``
    carried over ``size_b`` zero bytes, and ``crc32`` itself carries a register over zeros
    if it starts from the register inverted (and its result is inverted back). As fast as a
    CRC over B (zeros cost as much as data), without keeping B.
    """
    register = crc_a ^ 0xFFFFFFFF
    zeros = memoryview(_ZEROS)
    while size_b > 0:
        register = zlib.crc32(zeros[: min(size_b, len(_ZEROS))], register)
        size_b -= len(_ZEROS)
    return crc_b ^ register ^ 0xFFFFFFFF


def clear_caches() -> None:
    """Forget the deflated segments and the last main part's CRCs."""
    _segment.cache_clear()
    _LastPart.crcs = ()


# --------------------------------------------------------------------------- archive

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
