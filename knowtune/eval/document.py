"""A report as a list of blocks, rendered both as Markdown and as one self-contained HTML file.

Markdown links its images as PNG files written beside it; HTML embeds them as base64, so
the .html can be mailed or opened anywhere on its own.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    """Right-align this column (numbers)."""


@dataclass
class Image:
    name: str
    """File name of the PNG beside the Markdown."""
    png: bytes
    alt: str


@dataclass
class Doc:
    title: str
    blocks: list = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def para(self, text: str) -> None:
        self.blocks.append(("p", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("ul", items))

    def table(self, header: list[str], rows: list[list], numeric: list[bool] | None = None) -> None:
        numeric = numeric or [i > 0 for i in range(len(header))]
        self.blocks.append(Table(header, [[str(c) for c in row] for row in rows], numeric))

    def image(self, name: str, png: bytes, alt: str) -> None:
        self.blocks.append(Image(name, png, alt))

    def images(self) -> list[Image]:
        return [b for b in self.blocks if isinstance(b, Image)]

    def markdown(self) -> str:
        lines = [f"# {self.title}", ""]
        for block in self.blocks:
            lines += _markdown_block(block) + [""]
        return "\n".join(lines)

    def html(self) -> str:
        body = "\n".join(_html_block(b) for b in self.blocks)
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(self.title)}</title>"
                f"<style>{CSS}</style></head>\n<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown_block(block) -> list[str]:
    if isinstance(block, Table):
        align = ["---:" if n else "---" for n in block.numeric]
        return ([f"| {' | '.join(_cell(h) for h in block.header)} |", f"|{'|'.join(align)}|"]
                + [f"| {' | '.join(_cell(c) for c in row)} |" for row in block.rows])
    if isinstance(block, Image):
        return [f"![{block.alt}]({block.name})"]
    kind, content = block
    if kind == "h2":
        return [f"## {content}"]
    if kind == "ul":
        return [f"- {item}" for item in content]
    return [content]


def _html_block(block) -> str:
    if isinstance(block, Table):
        cls = lambda n: ' class="num"' if n else ""  # noqa: E731
        head = "".join(f"<th{cls(n)}>{html.escape(h)}</th>" for h, n in zip(block.header, block.numeric))
        rows = "".join("<tr>" + "".join(f"<td{cls(n)}>{html.escape(c)}</td>" for c, n in zip(row, block.numeric))
                       + "</tr>" for row in block.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(block, Image):
        data = base64.b64encode(block.png).decode("ascii")
        return f'<figure><img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}"></figure>'
    kind, content = block
    if kind == "h2":
        return f"<h2>{html.escape(content)}</h2>"
    if kind == "ul":
        return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in content) + "</ul>"
    return f"<p>{html.escape(content)}</p>"


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #1f2933; line-height: 1.45; }
h1 { border-bottom: 2px solid #4c9be8; padding-bottom: .3em; }
h2 { margin-top: 1.8em; color: #243b53; }
table { border-collapse: collapse; margin: .8em 0; font-size: .92em; }
th, td { border: 1px solid #d9e2ec; padding: .35em .6em; vertical-align: top; }
th { background: #f0f4f8; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafbfc; }
figure { margin: 1em 0; }
img { max-width: 100%; }
"""
