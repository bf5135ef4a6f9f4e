"""Student notebooks and grading. Run from the repository root::

    python -m superpos_lib.exercises build    # (re)write exercises/*.ipynb from chapters/*.ipynb
    python -m superpos_lib.exercises check    # exit 1 if exercises/ is out of date
    python -m superpos_lib.exercises grade NOTEBOOK... [--timeout SECONDS] [--csv FILE]

``builder`` turns a chapter into its student notebook (stubs, fallbacks to the reference, no
outputs); ``grader`` runs submitted notebooks and records every exercise checker's verdict.
"""

from .builder import build, has_exercises, render, stale, student_notebook, stub_source
from .cli import main
from .grader import NotebookGrade, Verdict, grade, grade_notebook, summary, write_csv

__all__ = ["build", "has_exercises", "render", "stale", "student_notebook", "stub_source", "main",
           "grade", "grade_notebook", "summary", "write_csv"]
