"""Parse clause Markdown into a compact, immutable tree, once per distinct text.

markdown-it-py's token stream is turned into ``MdNode`` trees holding only what the
renderer reads (type, tag, attributes, text, children). Parsing is a pure function of the
text, so trees are kept in process, per top-level chunk: a text is cut where a blank line is
followed by a line that starts in the first column (a new paragraph, list item, heading or
table, which no earlier block can continue), and each chunk is parsed once. When a contract
is rendered again after a change to the deal, only the paragraphs whose text changed are
parsed again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


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


@lru_cache(maxsize=4096)
def parse(markdown: str) -> MdNode:
    """Return the tree of a Markdown text: its chunks' blocks, in order, under one root."""
    if _REFERENCE_DEFINITION.search(markdown):
        return _parse_chunk(markdown)
    children: list[MdNode] = []
    for chunk in _CUT.split(markdown):
        children.extend(_parse_chunk(chunk).children)
    return MdNode("root", "", (), "", tuple(children))


def clear_cache() -> None:
    """Forget every parsed text."""
    parse.cache_clear()
    _parse_chunk.cache_clear()


@lru_cache(maxsize=16384)
def _parse_chunk(markdown: str) -> MdNode:
    return MdNode("root", "", (), "", _nodes(_MARKDOWN.parse(markdown)))


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
