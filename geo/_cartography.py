"""Map furniture for static maps on British National Grid axes: scale bar, north arrow, legend, halo labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Polygon, Rectangle

# Nice scale-bar lengths in km: 1, 2, 5 x 10^n (cartographic convention: round numbers only).
_NICE = (1.0, 2.0, 5.0)
# A pale box behind labels keeps them legible over any fill. (A stroke "halo" path effect would turn
# the text into outlines, so SVG and PDF output would lose searchable, selectable text.)
LABEL_BOX = {"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.75}


@dataclass(frozen=True)
class LegendEntry:
    """One legend row: label, fill colour, optional hatch and the number of areas it covers."""

    label: str
    colour: str
    n: int | None = None
    hatch: str | None = None


def nice_length_km(width_m: float, fraction: float = 0.22) -> float:
    """A round length (1, 2 or 5 x 10^n km) no longer than ``fraction`` of the map width."""
    target = max(width_m * fraction / 1000.0, 1e-3)
    power = 10.0 ** np.floor(np.log10(target))
    best = power
    for m in _NICE:
        if m * power <= target:
            best = m * power
    return float(best)


def add_scale_bar(ax: Axes, loc: tuple[float, float] = (0.04, 0.04), segments: int = 2, fontsize: float = 7) -> float:
    """Alternating black/white scale bar in km at axes fraction ``loc``; axes must be in metres (BNG).

    Call after the axes limits are final. Returns the bar length in km.
    """
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    length_km = nice_length_km(x1 - x0)
    seg = length_km * 1000.0 / segments
    bx, by = x0 + loc[0] * (x1 - x0), y0 + loc[1] * (y1 - y0)
    h = (y1 - y0) * 0.008
    # white panel behind bar and labels, so they read over any fill
    ax.add_patch(Rectangle((bx - seg * 0.15, by - h * 1.2), seg * (segments + 0.45), h * 6.5, facecolor="white",
                           edgecolor="none", alpha=0.8, zorder=19))
    for i in range(segments):
        ax.add_patch(Rectangle((bx + i * seg, by), seg, h, facecolor="black" if i % 2 == 0 else "white",
                               edgecolor="black", linewidth=0.6, zorder=20))
    fmt = (lambda v: f"{v:g}")
    for i in range(segments + 1):
        label = fmt(length_km * i / segments) + (" km" if i == segments else "")
        ax.text(bx + i * seg, by + h * 1.6, label, ha="center", va="bottom", fontsize=fontsize, zorder=21)
    return length_km


def add_north_arrow(ax: Axes, loc: tuple[float, float] = (0.95, 0.90), size: float = 0.06, fontsize: float = 9) -> None:
    """A north arrow at axes fraction ``loc`` (BNG grid north; within ~1° of true north across the UK)."""
    x, y = loc
    w = size * 0.35
    tri = Polygon([(x, y), (x - w, y - size), (x, y - size * 0.72)], closed=True, transform=ax.transAxes,
                  facecolor="black", edgecolor="black", linewidth=0.6, zorder=20)
    tri2 = Polygon([(x, y), (x + w, y - size), (x, y - size * 0.72)], closed=True, transform=ax.transAxes,
                   facecolor="white", edgecolor="black", linewidth=0.6, zorder=20)
    ax.add_patch(tri)
    ax.add_patch(tri2)
    ax.text(x, y + 0.008, "N", transform=ax.transAxes, ha="center", va="bottom", fontsize=fontsize,
            fontweight="bold", zorder=21)


def draw_legend(ax: Axes, title: str, entries: Sequence[LegendEntry], *, loc: str = "upper left",
                fontsize: float = 8, ncol: int = 1,
                lines: Sequence[tuple[str, str, float, str]] = ()) -> None:
    """Legend of class or category swatches (with area counts) drawn on ``ax``, which is otherwise hidden.

    ``lines``: overlay line styles as (label, colour, width, linestyle), listed after the swatches.
    """
    ax.set_axis_off()
    handles: list = [
        Patch(facecolor=e.colour, edgecolor="#666666", linewidth=0.6, hatch=e.hatch,
              label=e.label + (f"  ({e.n:,} area{'s' if e.n != 1 else ''})" if e.n is not None else ""))
        for e in entries
    ]
    handles += [Line2D([], [], color=c, linewidth=w * 1.4, linestyle=ls, label=lab) for lab, c, w, ls in lines]
    leg = ax.legend(handles=handles, title=title, loc=loc, fontsize=fontsize, title_fontsize=fontsize + 1,
                    frameon=False, ncol=ncol, alignment="left", handlelength=1.6, handleheight=1.1)
    leg._legend_box.align = "left"  # long titles stay flush with the swatches


def label_areas(ax: Axes, xs: Sequence[float], ys: Sequence[float], texts: Sequence[str], fontsize: float = 6.5) -> None:
    """Area names at the given points, on a pale box so they read over any fill."""
    for x, y, t in zip(xs, ys, texts):
        ax.text(x, y, t, ha="center", va="center", fontsize=fontsize, zorder=15, bbox=LABEL_BOX)


__all__ = ["LABEL_BOX", "LegendEntry", "add_north_arrow", "add_scale_bar", "draw_legend", "label_areas", "nice_length_km"]
