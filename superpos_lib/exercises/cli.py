"""``python -m superpos_lib.exercises build | check | grade``: the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    from .grader import DEFAULT_TIMEOUT

    parser = argparse.ArgumentParser(prog="python -m superpos_lib.exercises",
                                     description="Build the student notebooks, or grade submitted ones.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("build", "write exercises/*.ipynb from chapters/*.ipynb"),
                       ("check", "exit 1 if exercises/ is out of date")):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    grade = commands.add_parser(
        "grade", help="run submitted notebooks and record every exercise's verdict",
        description="Run each notebook in a fresh kernel, in a temporary folder, under a time limit (the file "
                    "itself is never modified), and record every exercise checker's verdict. Students are "
                    "named by the folder holding their notebooks, or by the file name when all notebooks "
                    "sit in one folder.")
    grade.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    grade.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                       help=f"time limit per notebook in seconds (default: {DEFAULT_TIMEOUT})")
    grade.add_argument("--jobs", type=int, default=1, metavar="N",
                       help="notebooks graded at once, each in its own kernel (default: 1; at most the number "
                            "of CPU cores, and set OMP_NUM_THREADS=1 when N > 1)")
    grade.add_argument("--csv", type=Path, default=None, metavar="FILE",
                       help="write one row per (notebook, exercise) to FILE")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            from .builder import build

            for path in build(args.root):
                print(f"wrote {path}")
            return 0
        if args.command == "check":
            from .builder import stale

            problems = stale(args.root)
            if problems:
                print("out of date: " + ", ".join(problems) + "\nrun: python -m superpos_lib.exercises build")
                return 1
            print("exercises/ is up to date")
            return 0
        from .grader import grade, summary, write_csv

        if args.csv is not None and args.csv.resolve() in {p.resolve() for p in args.notebooks}:
            raise ValueError("--csv must not be one of the submitted notebooks")
        grades = grade(args.notebooks, timeout=args.timeout, jobs=args.jobs,
                       progress=lambda line: print(line, file=sys.stderr))
        print(summary(grades))
        if args.csv is not None:
            write_csv(grades, args.csv)
            print(f"\nwrote {args.csv}")
        return 0
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
