"""Parse clause Markdown into a compact, immutable tree, once per distinct text.

markdown-it-py's token stream is turned into ``MdNode`` trees holding only what the
renderer reads (type, tag, attributes, text, children). Parsing is a pure function of the
text, so trees are kept in process: when a contract is rendered again after a change to the
deal, only the clauses whose text changed are parsed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

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


@lru_cache(maxsize=4096)
def parse(markdown: str) -> MdNode:
    """Return the tree of a Markdown text."""
    return _build(SyntaxTreeNode(_MARKDOWN.parse(markdown)))


def _build(node: SyntaxTreeNode) -> MdNode:
    children = tuple(_build(c) for c in node.children)
    if node.is_root:
        return MdNode("root", "", (), "", children)
    content = node.content if node.type in ("text", "code_inline") else ""
    attrs = tuple((str(k), str(v)) for k, v in node.attrs.items())
    return MdNode(node.type, node.tag, attrs, content, children)
