"""Figures for the course (matplotlib). One module per topic; the names are re-exported here.

All figures are PNG with an opaque white background, so they stay readable in the book's
dark mode; call :func:`use_course_style` once (the chapters' setup cell does).
"""

from .._reexport import reexport_submodules
from ._style import IMPORTANCE_CMAP, SPARSITY_LABEL, figure_to_png, sparsity_axis, use_course_style

__all__ = ["IMPORTANCE_CMAP", "SPARSITY_LABEL", "figure_to_png", "sparsity_axis", "use_course_style", *reexport_submodules(__name__, __path__, globals())]
