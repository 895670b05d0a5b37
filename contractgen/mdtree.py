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
the chunks it has not seen. ``save`` writes the entry; the CLI calls it after a render.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from contractgen.cache import code_stamp, package_stamp, read_entry, write_entry

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


@lru_cache(maxsize=200)
def parse(markdown: str) -> MdNode:
    """Return the tree of a Markdown text: its chunks' blocks, in order, under one root."""
    if _REFERENCE_DEFINITION.search(markdown):
        return _parse_chunk(markdown)
    children: list[MdNode] = []
    for chunk in _CUT.split(markdown):
        children.extend(_parse_chunk(chunk).children)
    return MdNode("root", "", (), "", tuple(children))


def clear_cache() -> None:
    """Forget every parsed text held in this process (the entry on disk stays)."""
    parse.cache_clear()
    _parse_chunk.cache_clear()
    _Store.loaded, _Store.fresh, _Store.used = None, set(), set()


@lru_cache(maxsize=1200)
def _parse_chunk(markdown: str) -> MdNode:
    stored = _stored().get(markdown)
    if stored is not None:
        _Store.used.add(markdown)
        return _from_tuple(stored)
    if len(_Store.fresh) < _LIMIT:
        _Store.fresh.add(markdown)
    return MdNode("root", "", (), "", _nodes(_markdown().parse(markdown)))


# --- the trees of earlier runs ----------------------------------------------------------

_Tuple = tuple[str, str, tuple[tuple[str, str], ...], str, tuple[Any, ...]]
_ENTRY = "markdown"
_LIMIT = 1_500  # chunks kept (a few MB); beyond that, only those this process used


class _Store:
    """What this process took from the cache folder and what it parsed afresh."""

    loaded: dict[str, _Tuple] | None = None
    fresh: set[str] = set()  # parsed in this process; their trees are taken when saving
    used: set[str] = set()


def _stamp() -> tuple[str, ...]:
    return (code_stamp(), *package_stamp("markdown_it"))


def _stored() -> dict[str, _Tuple]:
    if _Store.loaded is None:
        entry = read_entry(_ENTRY, _ENTRY)
        valid = (isinstance(entry, tuple) and len(entry) == 2 and entry[0] == _stamp()
                 and isinstance(entry[1], dict))
        _Store.loaded = entry[1] if valid else {}
    return _Store.loaded


def preload() -> None:
    """Read the cache entry now (a batch parent, so that forked workers share it)."""
    _stored()


def save() -> None:
    """Add the chunks parsed in this process to the cache entry (if any were new)."""
    if not _Store.fresh:
        return
    fresh = {text: _to_tuple(_parse_chunk(text)) for text in sorted(_Store.fresh)}
    trees = {**_stored(), **fresh}
    if len(trees) > _LIMIT:
        keep = _Store.used | fresh.keys()
        trees = {text: tree for text, tree in trees.items() if text in keep}
    write_entry(_ENTRY, _ENTRY, (_stamp(), trees))
    _Store.loaded, _Store.fresh = trees, set()


def _to_tuple(node: MdNode) -> _Tuple:
    return (node.type, node.tag, node.attrs, node.content,
            tuple(_to_tuple(child) for child in node.children))


def _from_tuple(data: _Tuple) -> MdNode:
    kind, tag, attrs, content, children = data
    return MdNode(kind, tag, attrs, content, tuple(_from_tuple(child) for child in children))


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
