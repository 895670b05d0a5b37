"""A stable text dump of a .docx body: one paragraph per line (style, numbering, text)."""

from __future__ import annotations

import io
import zipfile

from lxml import etree

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = {"w": W}


def _text(paragraph: etree._Element) -> str:
    parts = []
    for node in paragraph.iter(f"{{{W}}}t", f"{{{W}}}tab", f"{{{W}}}br", f"{{{W}}}instrText"):
        if node.tag == f"{{{W}}}t":
            parts.append(node.text or "")
        elif node.tag == f"{{{W}}}instrText":
            parts.append("{" + (node.text or "").strip() + "}")
        elif node.tag == f"{{{W}}}tab":
            parts.append("\t")
        else:
            parts.append("\n" if node.get(f"{{{W}}}type") != "page" else "<page>")
    return "".join(parts)


def dump_document_xml(docx: bytes) -> str:
    """Return one line per body paragraph: ``style [num:level] text`` (tables marked)."""
    with zipfile.ZipFile(io.BytesIO(docx)) as archive:
        root = etree.fromstring(archive.read("word/document.xml"))
    lines = []
    body = root.find("w:body", NS)
    assert body is not None
    for paragraph in body.iter(f"{{{W}}}p"):
        style = paragraph.find("w:pPr/w:pStyle", NS)
        level = paragraph.find("w:pPr/w:numPr/w:ilvl", NS)
        num = paragraph.find("w:pPr/w:numPr/w:numId", NS)
        in_table = any(a.tag == f"{{{W}}}tc" for a in paragraph.iterancestors())
        name = style.get(f"{{{W}}}val") if style is not None else "Normal"
        parts = [("  " if in_table else "") + str(name)]
        if num is not None:
            ilvl = level.get(f"{{{W}}}val") if level is not None else 0
            parts.append(f"[num {num.get(f'{{{W}}}val')} lvl {ilvl}]")
        parts.append(_text(paragraph))
        lines.append(" ".join(parts).rstrip())
    return "\n".join(lines) + "\n"
