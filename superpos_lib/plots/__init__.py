"""Figures for the course (matplotlib). One module per topic; the names are re-exported here.

All figures are PNG with an opaque white background, so they stay readable in the book's
dark mode; call :func:`use_course_style` once (the chapters' setup cell does).
"""

import importlib
import pkgutil

from ._style import figure_to_png, use_course_style

__all__ = ["figure_to_png", "use_course_style"]

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        _mod = importlib.import_module(f"{__name__}.{_module.name}")
        for _name in getattr(_mod, "__all__", []):
            globals()[_name] = getattr(_mod, _name)
            __all__.append(_name)
