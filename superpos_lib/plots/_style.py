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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white", transparent=False, bbox_inches="tight",
                metadata={"Software": None})
    if close:
        plt.close(fig)
    return buffer.getvalue()
