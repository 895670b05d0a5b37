"""Parse clause Markdown into a compact, immutable tree, once per distinct text.

markdown-it-py's token stream is turned into ``MdNode`` trees holding only what the
renderer reads (type, tag, attributes, text, children). Parsing is a pure function of the
text, so trees are kept in process, per top-level chunk: a text is cut where a blank line is
followed by a line that starts in the first column (a new paragraph, list item, heading or
table, which no earlier block can continue), and each chunk is parsed once. When a contract
is rendered again after a change to the deal, only the paragraphs whose text changed are
parsed again.

Between runs, the trees of the chunks parsed are kept in the user's cache folder (the
``markdown`` entry, valid for the same markdown-it-py and contractgen code): most of a
contract's text is the library's own, so a later run, even for another deal, parses only
the chunks it has not seen. ``save`` writes the entry; the CLI calls it after a render. The
entry is read lazily: its index first, then each tree when a text asks for it, so a process
holds only the trees it uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import re
import struct
import sys
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from contractgen.cache import code_stamp, entry_path, package_stamp, write_bytes

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    """The parser, made on the first text not found in the cache (markdown-it-py is
    imported then: a run whose chunks are all cached does not need it)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True, slots=True)
class MdNode:
    """One node of a parsed Markdown text."""

    type: str
    tag: str
    attrs: tuple[tuple[str, str], ...]
    content: str
    children: tuple[MdNode, ...]

    def attr(self, name: str) -> str:
        """Return an attribute's value ("" when absent)."""
        for key, value in self.attrs:
            if key == name:
                return value
        return ""


# Where a text can be cut: blank lines, then a line starting in the first column.
_CUT = re.compile(r"\n\n+(?=\S)")
# A link reference definition can be used from any other block: such texts stay whole.
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:", re.MULTILINE)


@lru_cache(maxsize=100)  # one contract has 60 to 80 texts
def parse(markdown: str) -> MdNode:
    """Return the tree of a Markdown text: its chunks' blocks, in order, under one root."""
    if "]:" in markdown and _REFERENCE_DEFINITION.search(markdown):  # the test is faster
        return _parse_chunk(markdown)
    children: list[MdNode] = []
    for chunk in _CUT.split(markdown):
        children.extend(_parse_chunk(chunk).children)
    return MdNode("root", "", (), "", tuple(children))


def clear_cache() -> None:
    """Forget every parsed text held in this process (the entry on disk stays)."""
    parse.cache_clear()
    _parse_chunk.cache_clear()
    if _Store.chunks is not None:
        _Store.chunks.close()
    _Store.chunks, _Store.fresh, _Store.kept = None, {}, 0


_CHUNKS = 700  # trees of chunks kept in the process: one contract has 450 to 600


@lru_cache(maxsize=_CHUNKS)
def _parse_chunk(markdown: str) -> MdNode:
    stored = _stored().get(markdown)
    if stored is not None:
        return _from_tuple(stored)
    record = _Store.fresh.get(markdown)
    if record is not None:  # parsed earlier in this process, and since dropped from the cache
        return _from_tuple(pickle.loads(zlib.decompress(record))[1])
    tree = MdNode("root", "", (), "", _nodes(_markdown().parse(markdown)))
    if len(_Store.fresh) < _LIMIT:
        record = None
        if _Store.kept < _RECORDS:
            record = zlib.compress(pickle.dumps((markdown, _to_tuple(tree)),
                                                protocol=pickle.HIGHEST_PROTOCOL), 1)
            _Store.kept += len(record)
        _Store.fresh[markdown] = record
    return tree


# --- the trees of earlier runs ----------------------------------------------------------

_Tuple = tuple[str, str, tuple[tuple[str, str], ...], str, tuple[Any, ...]]
_ENTRY = "markdown"
_LIMIT = 5_000  # new chunks kept per run (about 10 MB); beyond that, only those a run used
_RECORDS = 1 << 20  # bytes of fresh chunks' records kept in memory: four contracts or so
# The entry: a header (magic, then the index's offset and length), one pickled record
# (text, tree) per chunk, and the pickled index (stamp, {digest of text: (offset, length)}).
_MAGIC = b"contractgen markdown chunks 1\n"
_HEADER = struct.Struct("<QQ")


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class _Chunks:
    """The trees of an entry, read one by one as they are asked for: only the index is read
    up front, so a process holds just the trees it uses (an entry holds thousands)."""

    def __init__(self, fd: int | None = None, index: dict[bytes, tuple[int, int]] | None = None):
        self.fd = fd
        self.index = index or {}
        self.used: set[bytes] = set()

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and self.get(text) is not None

    def get(self, text: str) -> _Tuple | None:
        """Return the stored tree of ``text`` (None if there is none or it cannot be read)."""
        key = _digest(text)
        record = self.record(key)
        if record is None:
            return None
        try:
            stored_text, tree = pickle.loads(record)
        except Exception:  # a damaged record: a miss
            return None
        if stored_text != text:
            return None
        self.used.add(key)
        return cast(_Tuple, tree)

    def record(self, key: bytes) -> bytes | None:
        """Return one record's bytes, as stored."""
        place = self.index.get(key)
        if place is None or self.fd is None:
            return None
        try:
            data = _read_at(self.fd, place[1], place[0])
        except OSError:
            return None
        return data if len(data) == place[1] else None

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _read_at(fd: int, size: int, offset: int) -> bytes:
    """Read ``size`` bytes at ``offset`` without moving a file position that forked
    processes share (``os.pread``; where there is none, seek and read)."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


class _Store:
    """The entry this process reads from, and the chunks it parsed afresh.

    A fresh chunk's record (as ``save`` writes it: its text and tree, pickled; compressed
    while it is in memory) is kept from when it is parsed, up to ``_RECORDS`` bytes in all:
    about 400 bytes, where its tree takes several times that. The trees cache (``_CHUNKS``)
    holds about one contract; a chunk that dropped out of it (the other language's, when a
    lawyer switches languages and back) is read from its record, five times faster than
    parsing it again.
    """

    chunks: _Chunks | None = None
    fresh: dict[str, bytes | None] = {}  # text -> record (None past _RECORDS bytes)
    kept = 0  # bytes of the records in ``fresh``


def _stamp() -> tuple[str, ...]:
    return (code_stamp(), *package_stamp("markdown_it"))


def _stored() -> _Chunks:
    if _Store.chunks is None:
        _Store.chunks = _open_entry()
    return _Store.chunks


def _open_entry() -> _Chunks:
    """Open the entry and read its index (an empty store if it is missing, damaged or from
    other code)."""
    path = entry_path(_ENTRY, _ENTRY)
    if path is None:
        return _Chunks()
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        return _Chunks()
    try:
        head = _read_at(fd, len(_MAGIC) + _HEADER.size, 0)
        if head[:len(_MAGIC)] != _MAGIC or len(head) != len(_MAGIC) + _HEADER.size:
            raise ValueError("not an entry of this format")
        offset, size = _HEADER.unpack(head[len(_MAGIC):])
        stamp, index = pickle.loads(_read_at(fd, size, offset))
        if stamp != _stamp() or not isinstance(index, dict):
            raise ValueError("an entry of other code")
    except Exception:  # missing, truncated, corrupted or from other code: empty
        os.close(fd)
        return _Chunks()
    return _Chunks(fd, index)


def preload() -> None:
    """Read the entry's index now (a batch parent, so that forked workers share it)."""
    _stored()


def save() -> None:
    """Add the chunks parsed in this process to the cache entry (if any were new).

    The entry keeps its earlier chunks while it holds at most ``_LIMIT`` more than the
    ones this process used; past that, only the ones this process used (and the new)."""
    if not _Store.fresh:
        return
    stored = _stored()
    fresh = {_digest(text): zlib.decompress(record) if record is not None else pickle.dumps(
        (text, _to_tuple(_parse_chunk(text))), protocol=pickle.HIGHEST_PROTOCOL)
        for text, record in sorted(_Store.fresh.items())}
    keep = [key for key in stored.index if key not in fresh]
    if len(keep) + len(fresh) > _LIMIT:
        keep = [key for key in keep if key in stored.used]
    records = {key: record for key in keep
               if (record := stored.record(key)) is not None}
    records.update(fresh)
    parts, index = [], {}
    offset = len(_MAGIC) + _HEADER.size
    for key, record in records.items():
        index[key] = (offset, len(record))
        parts.append(record)
        offset += len(record)
    tail = pickle.dumps((_stamp(), index), protocol=pickle.HIGHEST_PROTOCOL)
    write_bytes(_ENTRY, _ENTRY, [_MAGIC, _HEADER.pack(offset, len(tail)), *parts, tail])
    stored.close()
    _Store.chunks, _Store.fresh, _Store.kept = None, {}, 0


def _to_tuple(node: MdNode) -> _Tuple:
    return (node.type, node.tag, node.attrs, node.content,
            tuple(_to_tuple(child) for child in node.children))


def _from_tuple(data: _Tuple) -> MdNode:
    kind, tag, attrs, content, children = data
    return MdNode(sys.intern(kind), sys.intern(tag), attrs, content,
                  tuple(_from_tuple(child) for child in children))


def _nodes(tokens: list[Token]) -> tuple[MdNode, ...]:
    """Nest a token stream as markdown-it-py's ``SyntaxTreeNode`` does: an ``x_open`` ...
    ``x_close`` pair is one ``x`` node (tag and attributes of the opening token), and an
    inline token holds its children."""
    levels: list[list[MdNode]] = [[]]
    opened: list[Token] = []
    for token in tokens:
        if token.nesting == 1:
            opened.append(token)
            levels.append([])
        elif token.nesting == -1:
            start = opened.pop()
            children = tuple(levels.pop())
            levels[-1].append(MdNode(start.type.removesuffix("_open"), start.tag,
                                     _attrs(start), "", children))
        else:
            content = token.content if token.type in ("text", "code_inline") else ""
            children = _nodes(token.children) if token.children else ()
            levels[-1].append(MdNode(token.type, token.tag, _attrs(token), content, children))
    return tuple(levels[0])


def _attrs(token: Token) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in token.attrs.items()) if token.attrs else ()
