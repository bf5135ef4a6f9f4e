"""One setup cell, byte-identical in every notebook, written from one source (superpos_lib.notebook)."""

import nbformat
import pytest

from superpos_lib import notebook
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb")) + sorted((ROOT / "exercises").glob("*.ipynb"))
SOURCE = notebook.setup_cell_source(notebook.repository_url(ROOT))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_first_code_cell_is_the_setup_cell_byte_for_byte(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == SOURCE, (
        f"{path.parent.name}/{path.name}: the first code cell differs from superpos_lib.notebook's setup cell; "
        "run: python -m superpos_lib.notebook sync (extra installs belong in a second cell)")
    assert set(notebook.SETUP_TAGS) <= set(first.metadata.get("tags", []))


def test_setup_cell_installs_from_the_repository_and_nothing_is_commented_out():
    url = notebook.repository_url(ROOT)
    assert f'%pip install --quiet "superpos_lib @ git+{url}"' in SOURCE.splitlines()[4]
    assert not any(line.lstrip().startswith("# %pip") for line in SOURCE.splitlines())


def _notebook(first_source, second_source=None, executed=True):
    cells = [nbformat.v4.new_markdown_cell("# 1. Title", id="title"),
             nbformat.v4.new_code_cell(first_source, id="setup", execution_count=1 if executed else None)]
    if second_source is not None:
        cells.append(nbformat.v4.new_code_cell(second_source, id="next", execution_count=2 if executed else None))
    return nbformat.v4.new_notebook(cells=cells)


def test_sync_repairs_a_commented_out_install_and_is_idempotent():
    broken = SOURCE.replace("    %pip install", "    # %pip install")
    nb = _notebook(broken, "x = 1")
    assert notebook.sync_notebook(nb, SOURCE, executed=True)
    assert nb.cells[1].source == SOURCE and nb.cells[1].execution_count == 1
    assert [c.source for c in nb.cells[2:]] == ["x = 1"], "a replaced line must not become an extra cell"
    assert "setup" in nb.cells[1].metadata["tags"]
    before = nbformat.writes(nb)
    assert not notebook.sync_notebook(nb, SOURCE, executed=True)
    assert nbformat.writes(nb) == before


def test_sync_moves_extra_installs_into_a_second_cell_once():
    lines = SOURCE.splitlines()
    extra = ["# This chapter also needs a model.", "%pip install --quiet some-model==1.0"]
    old = "\n".join(lines[:6] + extra + lines[6:])
    for executed in (True, False):
        nb = _notebook(old, "y = 2", executed=executed)
        assert notebook.sync_notebook(nb, SOURCE, executed=executed)
        sources = [c.source for c in nb.cells if c.cell_type == "code"]
        assert sources == [SOURCE, "\n".join(extra), "y = 2"]
        moved = nb.cells[2]
        assert moved.execution_count == (1 if executed else None) and moved.outputs == []
        # a notebook written back later with the old cell again: repaired, the extras are not duplicated
        nb.cells[1].source = old
        assert notebook.sync_notebook(nb, SOURCE, executed=executed)
        assert [c.source for c in nb.cells if c.cell_type == "code"] == sources


def test_sync_check_reports_nothing_to_do_on_the_repository():
    assert notebook.sync(ROOT, write=False) == []


def test_repository_url_needs_the_config(tmp_path):
    with pytest.raises(ValueError, match="root"):
        notebook.repository_url(tmp_path)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="url"):
        notebook.setup_cell_source("git@github.com:x/y")
    with pytest.raises(ValueError, match="source"):
        notebook.sync_notebook(_notebook(SOURCE), "  ", executed=True)
    with pytest.raises(ValueError, match="nb"):
        notebook.sync_notebook({"cells": "x"}, SOURCE, executed=True)
