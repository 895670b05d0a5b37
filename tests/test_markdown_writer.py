"""The Markdown writer: CommonMark that shows the model's numbers and text literally."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from contractgen import model as m
from contractgen.writers.markdown import block_markdown, write_markdown

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
