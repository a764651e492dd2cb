"""Prose documents -> sections of paragraphs: Markdown, plain text, HTML, DOCX, PDF.

Each parser keeps headings as section titles and drops what is not prose (code blocks,
scripts, navigation). Parsers are the maintained libraries of the `docs` extras.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ...config import KnowtuneError
from .. import bounds
from .textfile import read_text

DOCUMENT_SUFFIXES = (".md", ".markdown", ".txt", ".text", ".html", ".htm", ".docx", ".pdf")


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)


@dataclass
class Document:
    path: str
    sections: list[Section]

    @property
    def paragraphs(self) -> int:
        return sum(len(s.paragraphs) for s in self.sections)


class _Sections:
    """Collects paragraphs under the latest heading."""

    def __init__(self):
        self.sections = [Section("")]

    def heading(self, text: str) -> None:
        text = _clean(text)
        if text:
            self.sections.append(Section(text))

    def paragraph(self, text: str) -> None:
        text = _clean(text)
        if text:
            self.sections[-1].paragraphs.append(text)

    def result(self) -> list[Section]:
        return [s for s in self.sections if s.paragraphs]


_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff，。、；：！？])\s+(?=[\u3400-\u9fff])")


def _clean(text: str) -> str:
    """Whitespace folded; none left between Chinese characters (line breaks inside Chinese text)."""
    return _CJK_GAP.sub("", " ".join(text.split()))


def read_document(path: str | Path) -> Document:
    path = Path(path)
    suffix = path.suffix.lower()
    reader = {".md": _markdown, ".markdown": _markdown, ".html": _html, ".htm": _html, ".docx": _docx,
              ".pdf": _pdf}.get(suffix, _plain_text)
    if not path.exists():
        raise KnowtuneError("file not found", file=str(path))
    if not path.is_file():
        raise KnowtuneError("not a file", file=str(path))
    bounds.check_file_size(path)
    sections = reader(path)
    if not sections:
        raise KnowtuneError("empty document: no text found", file=str(path))
    return Document(str(path), sections)


def _markdown(path: Path) -> list[Section]:
    from markdown_it import MarkdownIt

    out = _Sections()
    tokens = MarkdownIt("commonmark").enable("table").parse(read_text(path))
    for i, token in enumerate(tokens):
        if token.type != "inline":
            continue
        opener = tokens[i - 1].type if i else ""
        text = _inline_text(token)
        if opener == "heading_open":
            out.heading(text)
        elif opener == "paragraph_open":
            out.paragraph(text)
    return out.result()


def _inline_text(token) -> str:
    """Plain text of an inline token: emphasis and link markup dropped, image alt text kept."""
    parts = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts)


def _plain_text(path: Path) -> list[Section]:
    """Paragraphs separated by blank lines; a short line without end punctuation alone is a heading."""
    out = _Sections()
    for block in re.split(r"\n\s*\n", read_text(path)):
        block = block.strip()
        if not block:
            continue
        single_line = "\n" not in block
        if single_line and len(block) <= 80 and not re.search(r"[.!?。！？:：;；]$", block):
            out.heading(block.lstrip("#").strip())
        else:
            out.paragraph(block)
    return out.result()


def _html(path: Path) -> list[Section]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(read_text(path), "html.parser")
    for junk in soup(["script", "style", "nav", "header", "footer", "noscript", "template"]):
        junk.decompose()
    blocks = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "dd", "blockquote", "td", "th"]
    out = _Sections()
    found = False
    for el in soup.find_all(blocks):
        if el.find_parent(blocks) is not None or (el.name == "li" and el.find(["p", "ul", "ol"])):
            continue  # its text is read with the enclosing (or inner) block
        found = True
        text = el.get_text(" ", strip=True)
        if el.name[0] == "h" and el.name[1:].isdigit():
            out.heading(text)
        else:
            out.paragraph(text)
    if not found and soup.get_text(strip=True):  # bare text without block markup
        for line in soup.get_text("\n").split("\n"):
            out.paragraph(line)
    return out.result()


def _docx(path: Path) -> list[Section]:
    try:
        import docx
    except ImportError:
        raise KnowtuneError("reading .docx needs python-docx: pip install 'knowtune[docs]'", file=str(path)) from None
    bounds.check_zip(path)  # a zip bomb is refused before python-docx unpacks it
    try:
        document = docx.Document(str(path))
    except Exception as err:  # python-docx raises zip, XML and package errors
        raise KnowtuneError(f"not a readable .docx file ({type(err).__name__})", file=str(path)) from None
    out = _Sections()
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        if style.startswith("Heading") or style == "Title":
            out.heading(para.text)
        else:
            out.paragraph(para.text)
    return out.result()


def _pdf(path: Path) -> list[Section]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:
        raise KnowtuneError("reading .pdf needs pypdf: pip install 'knowtune[docs]'", file=str(path)) from None
    try:
        pages = [page.extract_text() or "" for page in PdfReader(str(path)).pages]
    except (PdfReadError, ValueError, KeyError, OSError) as err:
        raise KnowtuneError(f"not a readable PDF ({type(err).__name__})", file=str(path)) from None
    out = _Sections()
    for page in pages:
        page = re.sub(r"-\n(?=[a-z])", "", page)  # words hyphenated across lines
        for block in re.split(r"\n\s*\n", page):
            out.paragraph(block)
    return out.result()
