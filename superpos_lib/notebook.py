"""The chapters' setup cell: its one source, the function it calls, and the command that writes it.

Every chapter (``chapters/*.ipynb``) and every student notebook (``exercises/*.ipynb``) opens with the
same first code cell, :func:`setup_cell_source`. A chapter that needs more packages installs them in
a second cell. After editing a notebook, or to repair one written back with an old setup cell::

    python -m superpos_lib.notebook sync    # write the setup cell into every notebook's first code cell
    python -m superpos_lib.notebook check   # exit 1 if a notebook's setup cell differs

``sync`` changes only the source of the first code cell (through ``nbformat``, nothing is executed),
leaves notebooks that are already right untouched, and running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SETUP_TAGS = ("hide-cell", "setup")
EXTRA_SETUP_ID = "setup-extra-installs"
NOTEBOOK_DIRS = ("chapters", "exercises")

__all__ = ["setup_notebook", "repository_url", "setup_cell_source", "sync_notebook", "sync", "main"]

_TEMPLATE = """\
# Setup: installs superpos_lib on Colab (locally it is already installed), seeds everything, picks the device.
try:
    import superpos_lib
except ImportError:
    %pip install --quiet "superpos_lib @ git+{url}"
    import superpos_lib
from superpos_lib.notebook import setup_notebook
device = setup_notebook(seed=0)"""


def setup_notebook(seed: int = 0, device: str | None = None) -> "torch.device":
    """Seed every generator, apply the course's figure style, pick and print the device.

    Returns the ``torch.device`` chosen by :func:`superpos_lib.device.get_device`.
    """
    import torch

    from . import __version__
    from .device import resolve_device, seed_everything
    from .plots import use_course_style

    chosen = resolve_device(device)  # checked first: a bad device changes nothing
    seed_everything(seed)
    use_course_style()
    print(f"superpos_lib {__version__} | torch {torch.__version__} | device: {chosen} | seed: {seed}")
    return chosen


def repository_url(root: Path) -> str:
    """``repository.url`` from ``<root>/_config.yml``: the one place the repository URL is written."""
    import yaml

    if not isinstance(root, (str, Path)):
        raise ValueError(f"root must be the repository root (a str or Path), got {type(root).__name__}")
    config = Path(root) / "_config.yml"
    if not config.is_file():
        raise ValueError(f"root must be the repository root (with _config.yml); got {root}")
    url = (yaml.safe_load(config.read_text(encoding="utf-8")).get("repository") or {}).get("url")
    if not url:
        raise ValueError(f"{config} has no repository.url")
    return url


def setup_cell_source(url: str) -> str:
    """The source of the first code cell of every notebook, installing superpos_lib from ``url``."""
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or any(c in url for c in "\"'\n "):
        raise ValueError(f"url must be the repository's http(s) URL, got {url!r}")
    return _TEMPLATE.format(url=url)


def _extra_lines(old: str, new: str) -> list[str]:
    """Lines an old setup cell added to the canonical one (pure insertions, e.g. a chapter's extra
    installs); lines that replace canonical ones (such as a commented-out install) are dropped."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    extra: list[str] = []
    for op, i1, i2, _j1, _j2 in difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False).get_opcodes():
        if op == "delete":
            extra.extend(old_lines[i1:i2])
    while extra and not extra[0].strip():
        extra.pop(0)
    while extra and not extra[-1].strip():
        extra.pop()
    return extra


def sync_notebook(nb, source: str, executed: bool) -> bool:
    """Make ``nb``'s first code cell the setup cell (``source``, tagged ``SETUP_TAGS``); return whether it changed.

    Extra lines a chapter had put into its first cell move, unchanged, into a second code cell
    (created once, id ``EXTRA_SETUP_ID``). ``executed``: whether the notebook is a committed,
    executed chapter (the moved lines ran as part of the setup cell, so the new cell keeps its
    execution count) or a student notebook (no outputs, no counts).
    """
    import nbformat

    if not hasattr(nb, "cells") or not isinstance(nb.cells, list):
        raise ValueError(f"nb must be a notebook (nbformat.read(...)), got {type(nb).__name__}")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"source must be the setup cell's source (a non-empty str), got {source!r}")
    if not isinstance(executed, bool):
        raise ValueError(f"executed must be True or False, got {executed!r}")
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not code:
        raise ValueError("a notebook must have a code cell to hold the setup cell")
    first = nb.cells[code[0]]
    changed = False
    if first.source != source:
        extra = _extra_lines(first.source, source)
        following = nb.cells[code[1]] if len(code) > 1 else None
        if extra and not (following is not None and "\n".join(extra) in following.source):
            cell = nbformat.v4.new_code_cell("\n".join(extra), id=EXTRA_SETUP_ID)
            cell.metadata = nbformat.NotebookNode({"tags": ["hide-cell"]})
            cell.execution_count = first.get("execution_count") if executed else None
            nb.cells.insert(code[0] + 1, cell)
        first.source = source
        changed = True
    tags = list(first.metadata.get("tags", []))
    missing = [t for t in SETUP_TAGS if t not in tags]
    if missing:
        first.metadata["tags"] = tags + missing
        changed = True
    return changed


def _notebooks(root: Path) -> list[Path]:
    return [p for d in NOTEBOOK_DIRS for p in sorted((Path(root) / d).glob("*.ipynb"))]


def sync(root: Path = Path("."), write: bool = True) -> list[Path]:
    """Write the setup cell into every notebook under ``chapters/`` and ``exercises/``.

    Returns the notebooks that were (or, with ``write=False``, would be) changed.
    """
    import nbformat

    if not isinstance(root, (str, Path)):
        raise ValueError(f"root must be the repository root (a str or Path), got {type(root).__name__}")
    if not isinstance(write, bool):
        raise ValueError(f"write must be True or False, got {write!r}")
    root = Path(root)
    source = setup_cell_source(repository_url(root))
    changed = []
    for path in _notebooks(root):
        nb = nbformat.read(path, as_version=4)
        if sync_notebook(nb, source, executed=path.parent.name == "chapters"):
            changed.append(path)
            if write:
                nbformat.write(nb, path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m superpos_lib.notebook", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["sync", "check"])
    parser.add_argument("--root", type=Path, default=Path("."), help="repository root (default: .)")
    args = parser.parse_args(argv)
    try:
        changed = sync(args.root, write=args.command == "sync")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.command == "sync":
        for path in changed:
            print(f"wrote the setup cell into {path}")
        print(f"{len(changed)} notebook(s) changed")
        return 0
    if changed:
        print("setup cell out of date: " + ", ".join(str(p) for p in changed) + "\nrun: python -m superpos_lib.notebook sync")
        return 1
    print("every notebook has the setup cell")
    return 0


if __name__ == "__main__":
    sys.exit(main())
