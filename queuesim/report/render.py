"""The document model of a report (sections of paragraphs, tables and figures) and its rendering to HTML and Markdown.

:meth:`Report.save` renders the same blocks through two Jinja templates: ``report.html``
(autoescaped, figures embedded as PNG data URIs, a content security policy that forbids anything
but inline styles and data images) and ``report.md`` (figures written beside it under ``figures/``).
Text in blocks is plain: the templates escape it. Spans between backticks are shown as code.
"""

from __future__ import annotations

import base64
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from markupsafe import Markup, escape
from matplotlib.figure import Figure

from queuesim.outputs import atomic_write
from queuesim.report.plots import DPI
from queuesim.version import __version__

__all__ = [
    "REPORT_HTML", "REPORT_MD", "FIGURE_DIR", "Tone", "Cell", "FigureBlock", "Block", "p", "note",
    "bullets", "table", "Section", "Report", "png_bytes",
]

REPORT_HTML, REPORT_MD, FIGURE_DIR = "report.html", "report.md", "figures"

PNG_COLORS = 128  # palette size of embedded PNGs: plots have few colours, so this keeps them sharp and small

Tone = Literal["", "ok", "bad", "warn", "muted"]



@dataclass(frozen=True)
class Cell:
    """A table cell: its text and an optional tone (``ok``, ``bad``, ``warn``, ``muted``)."""

    text: str
    tone: Tone = ""



@dataclass(frozen=True)
class FigureBlock:
    """A figure: its PNG bytes, a title, a caption and the file stem it gets beside report.md."""

    stem: str
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        """``data:image/png;base64,…``: the figure inside the HTML file."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    @property
    def file(self) -> str:
        """Path of the PNG relative to report.md."""
        return f"{FIGURE_DIR}/{self.stem}.png"



@dataclass(frozen=True)
class Block:
    """One block of a section.

    ``kind`` is ``p`` (``text``), ``list`` (``items``), ``table`` (``columns``, ``rows`` of str or
    :class:`Cell`, ``caption``, ``align`` per column: ``l`` or ``r``), ``figure`` (``figure``),
    ``note`` (``text``, shown as an aside) or ``code`` (``text``, preformatted).
    """

    kind: Literal["p", "list", "table", "figure", "note", "code"]
    text: str = ""
    items: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Cell, ...], ...] = ()
    align: str = ""
    caption: str = ""
    figure: FigureBlock | None = None



def p(text: str) -> Block:
    """A paragraph."""
    return Block("p", text=text)



def note(text: str) -> Block:
    """An aside (a section that does not apply, a caveat)."""
    return Block("note", text=text)



def bullets(items: Iterable[str]) -> Block:
    """A bulleted list."""
    return Block("list", items=tuple(items))



def table(columns: Sequence[str], rows: Iterable[Sequence[str | Cell]], caption: str = "",
          align: str | None = None) -> Block:
    """A table; ``align`` is one letter per column (``l``/``r``), default first left, others right."""
    cells = tuple(tuple(c if isinstance(c, Cell) else Cell(str(c)) for c in row) for row in rows)
    return Block("table", columns=tuple(columns), rows=cells, caption=caption,
                 align=align or "l" + "r" * (len(columns) - 1))



@dataclass(frozen=True)
class Section:
    """A titled part of the report; ``id`` is its HTML anchor."""

    id: str
    title: str
    blocks: tuple[Block, ...]



@dataclass
class Report:
    """A report ready to render: header, verdict and sections.

    Attributes
    ----------
    title : str
        The scenario name (shown escaped).
    kind : {'run', 'sweep'}
    meta : list of (label, text)
        One line under the title: source, seed, replications, version, generated.
    verdict : (tone, headline, details)
        The answer first: SLO met or not, or the recommendation.
    sections : list of Section
    """

    title: str
    kind: str
    meta: list[tuple[str, str]]
    verdict: tuple[Tone, str, list[str]]
    sections: list[Section]
    version: str = __version__

    @property
    def figures(self) -> list[FigureBlock]:
        """Every figure in document order."""
        return [b.figure for s in self.sections for b in s.blocks if b.kind == "figure" and b.figure]

    def html(self) -> str:
        """The self-contained HTML page."""
        return str(_environment(html=True).get_template("report.html.j2").render(report=self))

    def markdown(self) -> str:
        """The Markdown twin (figures referenced under ``figures/``)."""
        return str(_environment(html=False).get_template("report.md.j2").render(report=self))

    def save(self, out_dir: str | os.PathLike[str]) -> list[Path]:
        """Write ``report.html``, ``report.md`` and ``figures/*.png`` into ``out_dir``; return the paths.

        Each file is written aside and renamed into place, so a reader never opens a half-written one.
        """
        out = Path(out_dir)
        written = [atomic_write(out / fig.file, fig.png) for fig in self.figures]
        written.insert(0, atomic_write(out / REPORT_MD, self.markdown()))
        written.insert(0, atomic_write(out / REPORT_HTML, self.html()))
        return written



_CODE = re.compile(r"`([^`]+)`")

_MD_SPECIAL = re.compile(r"([\\*_\[\]<>#|~])")



def _inline_html(text: Any) -> Markup:
    """Escape ``text`` for HTML, then show spans between backticks as ``<code>``."""
    escaped = str(escape(str(text)))
    return Markup(_CODE.sub(lambda m: f"<code>{m[1]}</code>", escaped))



def _inline_md(text: Any, cell: bool = False) -> str:
    """Escape ``text`` for Markdown (code spans kept); in a table cell also pipes and newlines."""
    out = []
    for i, part in enumerate(_CODE.split(str(text))):
        if i % 2:  # inside a code span: only pipes matter (GFM tables)
            out.append("`" + (part.replace("|", "\\|") if cell else part) + "`")
        else:
            out.append(_MD_SPECIAL.sub(r"\\\1", part).replace("&", "&amp;"))
    joined = "".join(out)
    return joined.replace("\n", " ") if cell else joined



def _fence(text: str, lang: str = "") -> str:
    """A Markdown code fence longer than any run of backticks inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    bar = "`" * max(3, longest + 1)
    return f"{bar}{lang}\n{text}\n{bar}"



def _environment(html: bool) -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("queuesim.report", "templates"), autoescape=html,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["inline"] = _inline_html if html else _inline_md
    env.filters["mdcell"] = lambda t: _inline_md(t, cell=True)
    env.filters["fence"] = _fence
    return env



def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """A figure as a palette PNG: a fraction of the size of matplotlib's RGBA output, same look."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return compact_png(buf.getvalue())



def compact_png(data: bytes) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        small = im.convert("RGB").quantize(colors=PNG_COLORS, method=Image.Quantize.MEDIANCUT,
                                           dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue()
