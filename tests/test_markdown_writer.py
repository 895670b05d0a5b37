"""The Markdown writer: CommonMark that shows the model's numbers and text literally."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from contractgen import model as m
from contractgen.writers.markdown import block_markdown, markdown_bytes, write_markdown

HOSTILE = ["*bold?*", "_u_", "[link](x)", "<b>tag</b>", "a | b", "# not a heading",
           "{{ 7*7 }}", "{% raw %}", "`code`", "&amp;", "1. not a list", "- not a bullet",
           "+ plus", "\\back\\slash", "~~strike~~", "Ñandú 東京 مرحبا", "x" * 300]


def _plain(markdown: str) -> str:
    tree = SyntaxTreeNode(MarkdownIt("commonmark").enable("table").parse(markdown))

    def text(node: SyntaxTreeNode) -> str:
        if node.type in ("text", "code_inline"):
            return node.content
        if node.type in ("softbreak", "hardbreak"):
            return "\n"
        return "".join(text(child) for child in node.children)

    return text(tree)


@pytest.mark.parametrize("value", HOSTILE)
def test_text_renders_literally(value: str) -> None:
    block = m.Paragraph((m.Text(value),))
    markdown = block_markdown(block)
    assert markdown is not None
    tree = SyntaxTreeNode(MarkdownIt("commonmark").enable("table").parse(markdown))
    assert [c.type for c in tree.children] == ["paragraph"]
    assert _plain(markdown) == value


@pytest.mark.parametrize("value", HOSTILE)
def test_table_cells_render_literally(value: str) -> None:
    table = m.Table(((m.Text("Head"),),), (((m.Text(value),),),))
    markdown = block_markdown(table)
    assert markdown is not None
    tree = SyntaxTreeNode(MarkdownIt("commonmark").enable("table").parse(markdown))
    cell = tree.children[0].children[1].children[0].children[0]
    assert _plain_node(cell) == value


def _plain_node(node: SyntaxTreeNode) -> str:
    if node.type in ("text", "code_inline"):
        return node.content
    return "".join(_plain_node(c) for c in node.children)


def test_numbers_are_text_not_list_markers() -> None:
    blocks = (m.NumberedPara("schedule", 1, "1.", (m.Text("First."),)),
              m.NumberedPara("clause", 2, "12.3", (m.Text("Second."),)),
              m.NumberedPara("clause", 3, "(a)", (m.Text("Third."),)))
    doc = m.Document(_meta(), blocks)
    markdown = write_markdown(doc)
    assert _plain(markdown).split("\n") == ["1. First.12.3 Second.(a) Third."] or \
        "ordered_list" not in str(MarkdownIt("commonmark").parse(markdown))
    assert "1\\. First." in markdown and "12.3 Second." in markdown


def test_terms_bold_refs_as_labels() -> None:
    runs = (m.Text("the "), m.Term("Services"), m.Text(" under "),
            m.Ref("x", "_cg_x", "clause ", "4.2"))
    assert block_markdown(m.Paragraph(runs)) == "the **Services** under clause 4.2"


def _meta() -> m.DocumentMeta:
    return m.DocumentMeta("T", "R", "S", "en-GB", "a4", "T — R", "Page {page} of {pages}",
                          "clause ", "Schedule")


def _simple(doc: m.Document) -> str:
    """The writer's joining rule, block by block: a blank line between blocks, one line
    break between bullets in a row; blocks without Markdown are skipped."""
    chunks: list[str] = []
    previous: m.Block | None = None
    for block in doc.blocks:
        text = block_markdown(block)
        if text is None:
            continue
        if isinstance(block, m.BulletItem) and isinstance(previous, m.BulletItem):
            chunks[-1] += "\n" + text
        else:
            chunks.append(text)
        previous = block
    return "\n\n".join(chunks) + "\n"


def _bullet(text: str) -> m.BulletItem:
    return m.BulletItem((m.Text(text),))


def _para(text: str) -> m.Paragraph:
    return m.Paragraph((m.Text(text),))


def _spanned(pieces: list[tuple[str, Sequence[m.Block]]]) -> m.Document:
    """A document of pieces; a piece with an owner is that module's span."""
    blocks: list[m.Block] = []
    spans = []
    for owner, piece in pieces:
        if owner:
            spans.append((owner, len(blocks), len(blocks) + len(piece)))
        blocks.extend(piece)
    return m.Document(_meta(), tuple(blocks), tuple(spans))


def test_modules_taken_whole_join_as_blocks_do() -> None:
    from contractgen.writers.markdown import clear_caches

    a: list[m.Block] = [_bullet("a1"), m.PageBreak(), _bullet("a2")]
    b: list[m.Block] = [_bullet("b1"), _para("b2"), _bullet("b3")]
    empty: list[m.Block] = [m.PageBreak()]
    c: list[m.Block] = [_para("c1")]
    documents = [
        _spanned([("", [_bullet("front")]), ("a", a), ("b", b), ("e", empty), ("c", c)]),
        # the same spans again, then with a changed block, a new neighbour and a new order
        _spanned([("", [_bullet("front")]), ("a", a), ("b", b), ("e", empty), ("c", c)]),
        _spanned([("", [_para("front")]), ("a", a), ("b", [*b[:2], _para("b3")]),
                  ("e", empty), ("c", c)]),
        _spanned([("c", c), ("e", empty), ("a", a), ("", [_bullet("tail")]), ("b", b)]),
        _spanned([("b", b), ("a", a)]),
        _spanned([("e", empty), ("b", b)]),
    ]
    clear_caches()
    written = [write_markdown(doc) for doc in documents]
    assert written == [_simple(doc) for doc in documents]
    assert "- a1\n- a2\n- b1\n\nb2\n\n- b3\n\nc1\n" in written[0]  # bullets run on across
    clear_caches()
    assert [write_markdown(doc) for doc in reversed(documents)] == written[::-1]
    clear_caches()
    assert [markdown_bytes(doc) for doc in documents] == [t.encode() for t in written]


def test_bytes_are_the_text_in_utf8_whatever_was_written_before() -> None:
    """Each module's UTF-8 is kept with its text: mixed with blocks outside modules,
    non-ASCII text, and asked for before or after the text, the bytes are the text's."""
    from contractgen.writers.markdown import clear_caches

    quoted = [_para("“Services” — the Supplier’s"), _bullet("ñandú")]
    plain = [_para("plain")]
    documents = [
        _spanned([("", [_para("títle")]), ("q", quoted), ("p", plain)]),
        _spanned([("", [_para("títle")]), ("q", [*quoted, _para("€ 5")]), ("p", plain)]),
        _spanned([("p", plain), ("", [_bullet("¶")]), ("q", quoted)]),
    ]
    clear_caches()
    for doc in documents:
        data = markdown_bytes(doc)
        assert data == write_markdown(doc).encode("utf-8")
        assert markdown_bytes(doc) is data  # the same blocks: the same bytes
    for doc in reversed(documents):
        text = write_markdown(doc)
        assert markdown_bytes(doc) == text.encode("utf-8")
