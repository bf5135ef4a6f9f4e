"""The course's figure style."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt

COURSE_STYLE = {
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.transparent": False,
    "savefig.format": "png",
    "figure.dpi": 90,
    "axes.grid": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
}


def use_course_style() -> None:
    """Opaque white PNG figures everywhere (inline backend included)."""
    matplotlib.rcParams.update(COURSE_STYLE)
    try:  # inside IPython: inline figures as PNG, never SVG (SVG embeds a date)
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png")
    except Exception:
        pass


def figure_to_png(fig: plt.Figure, dpi: int = 80, close: bool = True) -> bytes:
    """Render ``fig`` to PNG bytes on an opaque white background (and close it by default)."""
    from matplotlib.figure import Figure

    from .. import _validate

    _validate.instance("fig", fig, Figure, "matplotlib Figure (e.g. from plt.subplots())")
    _validate.positive_int("dpi", dpi)
    _validate.boolean("close", close)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", transparent=False, bbox_inches="tight",
                metadata={"Software": None})
    if close:
        plt.close(fig)
    return buffer.getvalue()


# One convention for every figure in the book (also stated in glossary.md):
# - sparsity on the x axis as 1/p = 1/(1 - S), log scale, sparser to the right (as in TMS);
# - importance drawn with IMPORTANCE_CMAP, bright yellow = most important.
IMPORTANCE_CMAP = "viridis"
SPARSITY_LABEL = "1/p = 1/(1 − S)   (log scale, sparser →)"


def sparsity_axis(ax: plt.Axes, which: str = "x", label: str | None = None) -> plt.Axes:
    """Put sparsity on ``ax``'s ``which`` axis the course's way: values are 1/p = 1/(1 − S),
    log scale, sparser to the right (or up). Pass 1/p values to the plot, not p."""
    from matplotlib.axes import Axes
    from matplotlib.ticker import LogLocator, NullFormatter

    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if which not in ("x", "y"):
        raise ValueError(f"which must be 'x' or 'y', got {which!r}")
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_formatter(NullFormatter())
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(label or SPARSITY_LABEL)
    return ax
