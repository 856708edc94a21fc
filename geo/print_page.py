"""The printed page around a static map: paper sizes, fitting a map to a box, header and footer text,
and saving as PNG (300 dpi), SVG or PDF with title, disclosure and attribution metadata (matplotlib)."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import matplotlib
from matplotlib.figure import Figure

from geo.attribution import disclosure_text
from geo.schema import SYNTHETIC_LABEL, AtlasError

PAPER_INCHES: dict[str, tuple[float, float]] = {"a4": (8.27, 11.69), "a3": (11.69, 16.54)}  # portrait w x h
ORIENTATIONS = ("portrait", "landscape")
FORMATS = ("png", "svg", "pdf")
PNG_DPI = 300
# Titles, subtitles and footers quote area, category and dataset names from user files: matplotlib would
# read "$...$" in them as mathtext (drawn as a formula, or an error that stops the export), so never parse it.
LITERAL = {"parse_math": False}


def page_size(paper: str = "a4", orientation: str = "landscape") -> tuple[float, float]:
    """Figure size in inches for A4/A3, portrait or landscape."""
    paper, orientation = paper.lower(), orientation.lower()
    if paper not in PAPER_INCHES:
        raise AtlasError(f"unknown paper size {paper!r}; choose one of {', '.join(PAPER_INCHES)}")
    if orientation not in ORIENTATIONS:
        raise AtlasError(f"unknown orientation {orientation!r}; choose portrait or landscape")
    w, h = PAPER_INCHES[paper]
    return (w, h) if orientation == "portrait" else (h, w)


def fit_rect(fig: Figure, shapes: gpd.GeoDataFrame, box: tuple[float, float, float, float],
             centre: bool = True) -> tuple[float, float, float, float]:
    """The largest rect inside ``box`` (figure fractions) with the areas' shape, hung from the box's top."""
    x0, y0, w, h = box
    minx, miny, maxx, maxy = shapes.total_bounds
    pad = 0.03 * max(maxx - minx, maxy - miny, 1.0)  # as plot_measure pads
    aspect = (maxx - minx + 2 * pad) / max(maxy - miny + 2 * pad, 1.0)
    fw, fh = fig.get_size_inches()
    mw = min(w, h * fh * aspect / fw)
    mh = mw * fw / aspect / fh
    return (x0 + (w - mw) / 2 if centre else x0, y0 + h - mh, mw, mh)


def page_header(fig: Figure, title: str, subtitle: str) -> float:
    """Title and subtitle at the top, wrapped to the page; returns the figure fraction just below them."""
    k = text_scale(fig)
    line = 1.0 / (fig.get_figheight() * 72)  # one point as a figure fraction
    title_lines = textwrap.wrap(title, _chars(fig, 15 * k, bold=True)) or [""]
    fig.text(0.03, 0.965, "\n".join(title_lines), fontsize=15 * k, fontweight="bold", va="top", ha="left",
             linespacing=1.15, **LITERAL)
    y = 0.965 - len(title_lines) * 15 * k * 1.3 * line - 0.008
    if subtitle:
        sub_lines = textwrap.wrap(subtitle, _chars(fig, 10 * k))
        fig.text(0.03, y, "\n".join(sub_lines), fontsize=10 * k, va="top", ha="left", color="#333333", **LITERAL)
        y -= len(sub_lines) * 10 * k * 1.3 * line
    return y


def text_scale(fig: Figure) -> float:
    """Text size factor: 1 on A4, about 1.4 on A3 (text keeps its size relative to the page)."""
    return float(min(fig.get_size_inches()) / PAPER_INCHES["a4"][0])


def _chars(fig: Figure, fontsize: float, bold: bool = False) -> int:
    """About how many characters of ``fontsize`` fit across the page's text width (DejaVu Sans ~0.57 em)."""
    return int(fig.get_figwidth() * 0.94 * 72 / (fontsize * (0.66 if bold else 0.57)))


def page_footer(fig: Figure, source: str, attribution: str, publication: bool, synthetic: bool) -> dict[str, str]:
    """Disclosure mode, synthetic label, source and attribution at the foot; returns file metadata."""
    mode = disclosure_text(publication)
    k = text_scale(fig)
    status = mode + (f"   ·   {SYNTHETIC_LABEL} — not real incidents" if synthetic else "")
    fig.text(0.03, 0.092, status, fontsize=9 * k, fontweight="bold", va="top",
             color="#1a5e20" if publication else "#9b1c1c", **LITERAL)
    text = "\n".join(textwrap.wrap((source + "  " if source else "") + attribution, _chars(fig, 6.0 * k)))
    fig.text(0.03, 0.065, text, fontsize=6.0 * k, va="top", color="#444444", linespacing=1.3, **LITERAL)
    return {"Subject": status, "Description": status, "Source": source, "Copyright": attribution}


def save_figure(fig: Figure, path: str | Path, fmt: str | None = None, metadata: Mapping[str, str] | None = None) -> Path:
    """Save ``fig`` as PNG (300 dpi), SVG (text as text, searchable) or PDF, with title/subject metadata."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise AtlasError(f"cannot tell the image format of {str(path)!r}: use a .png, .svg or .pdf name, "
                         f"or --format {'|'.join(FORMATS)}")
    meta = dict(metadata or {})
    keep = {"png": ("Title", "Description", "Source", "Copyright"), "svg": ("Title", "Description", "Source"),
            "pdf": ("Title", "Subject")}[fmt]
    md = {k: meta[k] for k in keep if meta.get(k)}
    md["Creator" if fmt != "png" else "Software"] = "Hotspot Atlas"
    if fmt == "pdf" and meta.get("Copyright"):
        md["Keywords"] = meta["Copyright"]
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "hotspot-atlas"}):
        # svg.fonttype none: text stays text (searchable, selectable); hashsalt: stable ids, same map same file
        if fmt == "png":
            _save_png(fig, path, md)
        else:
            fig.savefig(path, format=fmt, metadata=md, facecolor="white")
    return path


def _save_png(fig: Figure, path: Path, metadata: Mapping[str, str]) -> None:
    """PNG at 300 dpi, reduced to a 256-colour palette: maps are flat fills, so this costs nothing visible
    and makes the file a third of the size (easier to e-mail and to put in a document)."""
    from PIL import Image, PngImagePlugin

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, facecolor="white")
    buf.seek(0)
    with Image.open(buf) as img:
        pal = img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    info = PngImagePlugin.PngInfo()
    for k, v in metadata.items():
        info.add_itxt(k, v)  # iTXt: UTF-8, so "©" and "—" survive
    pal.save(path, format="PNG", dpi=(PNG_DPI, PNG_DPI), pnginfo=info, optimize=True)
