"""One figure style across the book, checked where it can be checked from the source.

The convention (glossary.md, how_to_use.md, superpos_lib/plots/_style.py): sparsity on an axis is
1/p = 1/(1 − S), log scale, sparser to the right, drawn by ``sparsity_axis`` with ``SPARSITY_LABEL``;
importance uses ``IMPORTANCE_CMAP``. What a test can see honestly is the code: an axis label that
names sparsity or feature probability is written by ``sparsity_axis`` and by nothing else, in the
library and in every chapter; and ``sparsity_axis`` itself does what it promises.
"""

from __future__ import annotations

import ast
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import nbformat
import pytest

from superpos_lib.plots import IMPORTANCE_CMAP, SPARSITY_LABEL, sparsity_axis
from tests.conftest import ROOT

# Words that put TMS sparsity (or its complement, feature probability) on an axis. The compressed-sensing
# sparsity rho = k/m and an SAE's L0 are other quantities and are not matched.
SPARSITY_WORDS = re.compile(r"feature probability|1\s*[-−]\s*S\b|\b1\s*/\s*p\b|\b1/\(1\s*[-−]\s*S\)")
LABEL_CALLS = {"set_xlabel", "set_ylabel", "xlabel", "ylabel"}
PLOT_MODULES = sorted(p for p in (ROOT / "superpos_lib" / "plots").glob("*.py") if p.name != "_style.py")
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _sparsity_labels(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every axis label written in ``tree`` that names sparsity / feature probability."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        parts = []
        if name in LABEL_CALLS:
            parts = node.args[:1] + [k.value for k in node.keywords if k.arg in ("xlabel", "ylabel")]
        elif name == "set":
            parts = [k.value for k in node.keywords if k.arg in ("xlabel", "ylabel")]
        for part in parts:
            found += [(node.lineno, s) for s in _strings(part) if SPARSITY_WORDS.search(s)]
    return found


def _functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")]


LIBRARY_CASES = [pytest.param(p, f, id=f"{p.stem}.{f.name}") for p in PLOT_MODULES for f in _functions(p)]


@pytest.mark.parametrize("module, function", LIBRARY_CASES)
def test_library_plots_label_sparsity_only_through_sparsity_axis(module, function):
    own = _sparsity_labels(function)
    assert own == [], (f"superpos_lib/plots/{module.name}:{own[0][0]} {function.name} labels an axis {own[0][1]!r}; "
                       "plot 1/p and call sparsity_axis(ax) instead")


def _chapter_code(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        # IPython magics are not Python: blank them out before parsing
        source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in cell.source.splitlines())
        try:
            yield index, ast.parse(source)
        except SyntaxError:
            continue


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapters_label_sparsity_only_through_sparsity_axis(path):
    bad = [(index, text) for index, tree in _chapter_code(path) for _, text in _sparsity_labels(tree)]
    assert bad == [], (f"{path.name}: cell {bad[0][0]} labels an axis {bad[0][1]!r}; plot 1/p and call "
                       "superpos_lib.plots.sparsity_axis(ax) (label SPARSITY_LABEL)")


def test_sparsity_axis_is_log_sparser_to_the_right_with_the_one_label():
    fig, (ax, ay) = plt.subplots(1, 2)
    ax.plot([1, 10, 100], [0, 1, 2])
    sparsity_axis(ax)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == SPARSITY_LABEL
    left, right = ax.get_xlim()
    assert left < right, "sparser (larger 1/p) must be to the right"
    ay.plot([0, 1, 2], [1, 10, 100])
    sparsity_axis(ay, "y")
    assert ay.get_yscale() == "log" and ay.get_ylabel() == SPARSITY_LABEL and ay.get_ylim()[0] < ay.get_ylim()[1]
    assert "1/p" in SPARSITY_LABEL and "1 − S" in SPARSITY_LABEL
    with pytest.raises(ValueError, match="which"):
        sparsity_axis(ax, "z")
    plt.close(fig)


def test_sparsity_axis_tick_labels_do_not_collide():
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot([1.0, 300.0], [0, 1])
    sparsity_axis(ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels(which="both")
             if t.get_text() and ax.get_xlim()[0] <= t.get_position()[0] <= ax.get_xlim()[1]]
    assert len(boxes) >= 2
    boxes.sort(key=lambda b: b.x0)
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), "log tick labels overlap"
    plt.close(fig)


def test_importance_colour_map_is_viridis():
    assert IMPORTANCE_CMAP == "viridis"
    cmap = plt.get_cmap(IMPORTANCE_CMAP)
    low, high = cmap(0.0), cmap(1.0)
    assert high[0] > 0.9 and high[1] > 0.8 and high[2] < 0.3, "1.0 (most important) must be bright yellow"
    assert sum(low[:3]) < sum(high[:3])
