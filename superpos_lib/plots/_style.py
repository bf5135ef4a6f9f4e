"""The course's figure style."""

from __future__ import annotations

import io
import math

import matplotlib
import matplotlib.ticker
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


class _SparsityTicks(matplotlib.ticker.Formatter):
    """Plain numbers on a 1/p axis ("1", "10", "1000": one input in N has the feature; 10⁴ and up as
    powers). Decades are labelled (every second or third one when the axis is short for them); 2 and 5
    only when the axis spans little more than a decade, so labels never crowd."""

    def set_locs(self, locs):
        super().set_locs(locs)
        low, high = sorted(self.axis.get_view_interval())
        decades = math.log10(high / low) if low > 0 else math.inf
        self._decades_only = decades > 1.3
        bbox = self.axis.axes.get_window_extent()
        length = (bbox.width if self.axis.axis_name == "x" else bbox.height * 2.5) / self.axis.figure.dpi
        room = max(1, int(length / 0.42))  # inches per label, with a gap
        self._stride = 1 if not math.isfinite(decades) else max(1, math.ceil((math.floor(decades) + 1) / room))

    def __call__(self, x, pos=None):
        if x <= 0:
            return ""
        exponent = math.floor(math.log10(x) + 1e-9)
        decade = abs(x / 10**exponent - 1) < 1e-6
        if self._decades_only and (not decade or exponent % self._stride):
            return ""
        if decade and (exponent >= 4 or exponent < 0):
            return f"$10^{{{exponent}}}$"
        return f"{x:.0f}" if x >= 1 else f"{x:g}"


def sparsity_axis(ax: plt.Axes, which: str = "x", label: str | None = None) -> plt.Axes:
    """Put sparsity on ``ax``'s ``which`` axis the course's way: values are 1/p = 1/(1 − S),
    log scale, sparser to the right (or up), labelled ``SPARSITY_LABEL``. Pass 1/p values to the
    plot, not p. Ticks at 1, 2, 5, 10, ... with plain-number labels that do not collide."""
    from matplotlib.axes import Axes
    from matplotlib.ticker import LogLocator, NullFormatter

    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    if which not in ("x", "y"):
        raise ValueError(f"which must be 'x' or 'y', got {which!r}")
    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=60))
    axis.set_major_formatter(_SparsityTicks())
    axis.set_minor_locator(LogLocator(base=10, subs=(3.0, 4.0, 6.0, 7.0, 8.0, 9.0), numticks=60))
    axis.set_minor_formatter(NullFormatter())
    (ax.set_xlabel if which == "x" else ax.set_ylabel)(label or SPARSITY_LABEL)
    return ax
