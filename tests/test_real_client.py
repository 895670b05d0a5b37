"""The rendered examples as a lawyer's tools see them: schema-valid Word, LibreOffice, PDF.

LibreOffice (soffice) and poppler (pdftotext, pdfinfo) come from Debian packages that
.ci/run installs; the OOXML schemas come from ../shared. Each test skips with a reason where
its tool is missing (a user's machine).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from conftest import BAJIO, NORTHWIND, REPO
from docx_dump import dump_document_xml

from contractgen.pipeline import build, write_formats

SHARED = REPO.parent / "shared"
VALIDATOR = SHARED / "tools" / "ooxml_validate.py"
EXAMPLES = {"northwind": NORTHWIND, "bajio": BAJIO}
SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@cache
def rendered(name: str) -> dict[str, bytes]:
    return write_formats(build(EXAMPLES[name]).document, ("docx", "md"))


@cache
def pdf_text(name: str, tmp: Path) -> tuple[str, int]:
    assert SOFFICE is not None
    docx = tmp / f"{name}.docx"
    docx.write_bytes(rendered(name)["docx"])
    subprocess.run([SOFFICE, "--headless", "--convert-to", "pdf", "--outdir", str(tmp),
                    str(docx)], check=False, capture_output=True, timeout=300)
    pdf = tmp / f"{name}.pdf"
    assert pdf.exists() and pdf.stat().st_size > 0, "LibreOffice produced no PDF"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True,
                          text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    return text, pages


@pytest.fixture(scope="module")
def pdf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pdf")


@pytest.mark.parametrize("name", EXAMPLES)
def test_output_is_deterministic(name: str) -> None:
    again = write_formats(build(EXAMPLES[name]).document, ("docx", "md"))
    assert again == rendered(name)


@pytest.mark.skipif(not VALIDATOR.exists(), reason="../shared (OOXML schemas) is not present")
@pytest.mark.parametrize("name", EXAMPLES)
def test_docx_validates_against_ecma_376(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.docx"
    path.write_bytes(rendered(name)["docx"])
    result = subprocess.run([sys.executable, str(VALIDATOR), str(SHARED / "ooxml-xsd"),
                             str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b0 schema errors\b", result.stdout), result.stdout


@pytest.mark.skipif(SOFFICE is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice and poppler-utils are not installed")
@pytest.mark.parametrize("name", EXAMPLES)
def test_libreoffice_pdf_shows_the_markdown_numbers(name: str, pdf_dir: Path) -> None:
    text, pages = pdf_text(name, pdf_dir)
    flat = " ".join(text.split())
    markdown = rendered(name)["md"].decode("utf-8")
    headings = re.findall(r"^## (\d+)\\?\. (.+)$", markdown, flags=re.M)
    assert len(headings) > 30
    for number, title in headings:
        assert f"{number}. {title.replace(chr(92), '')}" in flat, (number, title)
    subclauses = re.findall(r"^(\d+\.\d+) ", markdown, flags=re.M)
    missing = [n for n in subclauses if not re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", flat)]
    assert missing == []
    assert 30 <= pages <= 250, pages


@pytest.mark.parametrize("name", EXAMPLES)
def test_word_body_snapshot(name: str, snapshot: object) -> None:
    assert dump_document_xml(rendered(name)["docx"]) == snapshot
